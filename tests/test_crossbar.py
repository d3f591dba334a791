"""Built-in crossbar simulator: analytic properties of the mapping, DAC and PCM statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.analog import crossbar as X

# -- config --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("rows", 0),
        ("rows", 1.5),
        ("dac_bits", 1),
        ("dac_bits", 17),
        ("g_max", 0.0),
        ("t_inference", -1.0),
        ("t0", 0.0),
        ("t_read", 0.0),
        ("prog_noise_scale", -0.1),
        ("drift_scale", float("nan")),
        ("read_noise_scale", "1"),
        ("out_percentile", 0.0),
        ("out_percentile", 101.0),
        ("out_headroom", 1.5),
    ],
)
def test_config_rejects_bad_value_naming_it(name, value):
    with pytest.raises(ValueError, match=rf"CrossbarConfig\.{name}\b"):
        X.CrossbarConfig(**{name: value})


def test_config_dict_round_trip_and_unknown_key():
    cfg = X.CrossbarConfig(rows=16, t_inference=86400.0, dac_bits=6, drift_scale=0.5)
    assert X.CrossbarConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown parameter.*'bogus'"):
        X.CrossbarConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    assert X.CrossbarConfig.ideal().noise_free and not cfg.noise_free


# -- mapping and DAC -----------------------------------------------------------------


def test_mapping_is_exact_differential_pair(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 32))
    g_pos, g_neg, w_per_g = X.map_weights(w, 25.0)
    np.testing.assert_allclose((g_pos - g_neg) * w_per_g, w, rtol=0, atol=1e-15)
    assert np.all((g_pos == 0) | (g_neg == 0)), "one device of each pair is at 0"
    assert max(g_pos.max(), g_neg.max()) == pytest.approx(25.0, rel=1e-15)
    assert g_pos.min() >= 0 and g_neg.min() >= 0


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dac_levels_clipping_and_error_bound(bits, seed):
    n = (1 << (bits - 1)) - 1
    x = np.random.default_rng(seed).uniform(-1.3, 1.3, size=10_000)
    q = X.dac(x, bits)
    k = q * n
    np.testing.assert_allclose(k, np.round(k), atol=1e-9, err_msg="not on a DAC level")
    assert np.abs(k).max() <= n + 1e-9
    inside = np.abs(x) <= 1
    assert np.abs(q[inside] - x[inside]).max() <= 0.5 / n + 1e-12
    np.testing.assert_array_equal(q[x > 1], 1.0)
    np.testing.assert_array_equal(q[x < -1], -1.0)
    # Ties round away from zero, symmetrically.
    np.testing.assert_array_equal(X.dac([0.5 / n, -0.5 / n], bits), [1 / n, -1 / n])


def test_zero_noise_reproduces_float_mac_up_to_dac(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 24))
    x = rng.uniform(-1, 1, size=(200, 64))
    cfg = X.CrossbarConfig.ideal(dac_bits=8)
    res = X.simulate(cfg, w, x, seed=seed)
    mac = res.analog * res.out_scale
    # Exactly the MAC of the DAC-quantised inputs (float rounding only) ...
    np.testing.assert_allclose(mac, X.dac(x, 8) @ w, rtol=0, atol=1e-10)
    # ... and within the DAC's worst-case error of the float MAC.
    bound = 0.5 / 127 * np.abs(w).sum(axis=0)
    assert np.all(np.abs(mac - x @ w) <= bound + 1e-10)
    np.testing.assert_array_equal(res.reference, x @ w)
    np.testing.assert_array_equal(res.chip.g_read, res.chip.g_target)


def test_out_scale_puts_percentile_at_headroom(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 16))
    x = rng.uniform(-1, 1, size=(500, 64))
    cfg = X.CrossbarConfig.ideal(out_percentile=99.0, out_headroom=0.75)
    res = X.simulate(cfg, w, x, seed=seed)
    assert np.percentile(np.abs(res.reference / res.out_scale), 99.0) == pytest.approx(0.75)
    # Normalised values are not clipped here (the ADC clips).
    assert np.abs(res.analog).max() > 0.75


def test_seeded_reproducible(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 8))
    cfg = X.CrossbarConfig()
    a = X.program(cfg, w, np.random.default_rng(seed))
    b = X.program(cfg, w, np.random.default_rng(seed))
    c = X.program(cfg, w, np.random.default_rng(seed + 1))
    np.testing.assert_array_equal(a.g_read, b.g_read)
    assert not np.array_equal(a.g_read, c.g_read)


# -- published PCM statistics -----------------------------------------------------------


def _chip_at(g_rel: float, cfg: X.CrossbarConfig, seed: int, n: int = 64 * 1000):
    """A chip whose positive devices all target ``g_rel * g_max`` (plus one max weight)."""
    w = np.full((cfg.rows, n // cfg.rows), g_rel)
    w[0, 0] = 1.0  # the largest weight maps to g_max
    return X.program(cfg, w, np.random.default_rng(seed)), w


@pytest.mark.parametrize("g_rel", [0.3, 0.6, 1.0])
def test_programming_noise_std_matches_polynomial(g_rel, seed):
    cfg = X.CrossbarConfig(t_inference=0.0, drift_scale=0.0, read_noise_scale=0.0)
    chip, w = _chip_at(g_rel, cfg, seed)
    mask = w == g_rel
    g_t = g_rel * cfg.g_max
    dev = chip.g_prog[0][mask] - g_t
    c0, c1, c2 = X.PROG_COEFF
    expected = c0 + c1 * g_rel + c2 * g_rel**2  # uS at g_max = 25 uS
    assert X.prog_noise_std(g_t, cfg.g_max) == pytest.approx(expected)
    n = dev.size
    # Sample std has relative standard error 1/sqrt(2n); allow 5 of them.
    assert dev.std() == pytest.approx(expected, rel=5 / math.sqrt(2 * n))
    assert abs(dev.mean()) < 5 * expected / math.sqrt(n)


def test_programming_noise_scales_with_g_max():
    assert X.prog_noise_std(50.0, 50.0) == pytest.approx(2 * X.prog_noise_std(25.0, 25.0))


@pytest.mark.parametrize("g_rel", [0.02, 0.2, 1.0])
def test_drift_nu_statistics_and_mean_conductance(g_rel, seed):
    t = 3600.0
    cfg = X.CrossbarConfig(t_inference=t, prog_noise_scale=0.0, read_noise_scale=0.0)
    chip, w = _chip_at(g_rel, cfg, seed)
    mask = w == g_rel
    mu, sig = X.drift_nu_stats(g_rel * cfg.g_max, cfg.g_max)
    # Published fit, clipped: mu = clip(-0.0155 ln g + 0.0244, 0.049, 0.1), ...
    assert mu == pytest.approx(np.clip(-0.0155 * math.log(g_rel) + 0.0244, 0.049, 0.1))
    assert sig == pytest.approx(np.clip(-0.0125 * math.log(g_rel) - 0.0059, 0.008, 0.045))
    nu = chip.nu[0][mask]
    n = nu.size
    if mu > 5 * sig:  # |N(mu, sig)| is then N(mu, sig) to within 3e-7
        assert nu.mean() == pytest.approx(mu, abs=5 * sig / math.sqrt(n))
        assert nu.std() == pytest.approx(sig, rel=5 / math.sqrt(2 * n))
        # E[G(t)] / G_T = E[exp(-nu L)] = exp(-mu L + sig^2 L^2 / 2), L = ln((t + t0) / t0)
        big_l = math.log((t + cfg.t0) / cfg.t0)
        expected = math.exp(-mu * big_l + 0.5 * (sig * big_l) ** 2)
        ratio = chip.g_read[0][mask] / (g_rel * cfg.g_max)
        assert ratio.mean() == pytest.approx(expected, abs=5 * ratio.std() / math.sqrt(n))
    assert np.all(chip.g_read[0][mask] < g_rel * cfg.g_max), "drift only lowers G"
    assert np.all(nu >= 0)


def test_drift_off_at_time_zero(seed):
    cfg = X.CrossbarConfig(t_inference=0.0)
    chip, _ = _chip_at(0.5, cfg, seed, n=64 * 10)
    np.testing.assert_array_equal(chip.g_read, chip.g_prog)


@pytest.mark.parametrize("g_rel", [0.1, 0.5, 1.0])
def test_read_noise_relative_std(g_rel, seed):
    t = 86400.0
    cfg = X.CrossbarConfig(t_inference=t, prog_noise_scale=0.0, drift_scale=0.0)
    chip, w = _chip_at(g_rel, cfg, seed)
    mask = w == g_rel
    rel = chip.g_read[0][mask] / (g_rel * cfg.g_max) - 1
    q_s = min(0.0088 / g_rel**0.65, 0.2)
    expected = q_s * math.sqrt(math.log((t + cfg.t0 + cfg.t_read) / (2 * cfg.t_read)))
    got = X.read_noise_rel_std(g_rel * cfg.g_max, cfg.g_max, t + cfg.t0, cfg.t_read)
    assert got == pytest.approx(expected)
    assert rel.std() == pytest.approx(expected, rel=5 / math.sqrt(2 * rel.size))


def test_read_input_shape_checked(seed):
    chip = X.program(X.CrossbarConfig(rows=8), np.ones((8, 2)), np.random.default_rng(seed))
    with pytest.raises(ValueError, match=r"inputs must have shape \(vectors, 8\)"):
        chip.read(np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"weights must have shape \(8, columns\)"):
        X.program(X.CrossbarConfig(rows=8), np.ones((7, 2)), np.random.default_rng(seed))
