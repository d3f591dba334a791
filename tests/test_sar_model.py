"""Independent checks of the SAR ADC models (model.golden.sar, model.analog.sar_frontend).

Expected values are derived here from first principles (the ideal quantiser,
bit patterns of codes, the predicted DNL of a known capacitor error), never
copied from the model's own output.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.analog.adc_metrics import code_density, dnl_inl, dnl_inl_of, enob, transfer_function
from model.analog.counter_noise import NOISE_REACH, counter_normal
from model.sar import AnalogFrontEnd, SARConfig, sar_convert, to_signed
from tb.stimulus.catalogue import REDUNDANT_10


def expected_ideal(v, out_width):
    """The ideal quantiser of DESIGN 4.5, written out independently of the model."""
    n = 2**out_width
    x = (np.clip(v, -1.0, 1.0) + 1.0) / 2.0 * n
    return np.clip(np.floor(x), 0, n - 1).astype(np.int64)


def dense_inputs(out_width):
    n = 2**out_width
    ramp = np.linspace(-1.1, 1.1, 2**16 + 1)
    edges = -1.0 + 2.0 * np.arange(n + 1) / n  # every code edge exactly
    below = np.nextafter(edges, -np.inf)
    return np.concatenate([ramp, edges, below])


@pytest.mark.parametrize(
    "cfg",
    [
        SARConfig(columns=1),
        SARConfig(columns=1, steps=10, weights=REDUNDANT_10),
        SARConfig(columns=1, steps=6, out_width=6),
    ],
    ids=["binary8", "redundant10", "binary6"],
)
def test_ideal_front_end_is_ideal_quantiser(cfg):
    v = dense_inputs(cfg.out_width)
    codes, decisions = sar_convert(cfg, AnalogFrontEnd.ideal(cfg), v[:, None])
    exp = expected_ideal(v, cfg.out_width)
    bad = np.flatnonzero(codes[:, 0] != exp)
    assert bad.size == 0, f"v={v[bad[:3]]}: expected {exp[bad[:3]]}, got {codes[bad[:3], 0]}"
    # The code edges themselves: v exactly on edge j gives j (tie -> 1), just below gives j - 1.
    n = 2**cfg.out_width
    edge_codes, _ = sar_convert(
        cfg, AnalogFrontEnd.ideal(cfg), (-1.0 + 2.0 * np.arange(n) / n)[:, None]
    )
    np.testing.assert_array_equal(edge_codes[:, 0], np.arange(n))
    if cfg.weights == tuple(2 ** (cfg.out_width - 1 - i) for i in range(cfg.steps)):
        # Binary: the decisions are the code's bits, MSB first.
        bits = (exp[:, None] >> (cfg.out_width - 1 - np.arange(cfg.steps))) & 1
        np.testing.assert_array_equal(decisions[:, 0, :], bits)


def test_clipping_and_nan():
    cfg = SARConfig(columns=2)
    fe = AnalogFrontEnd.ideal(cfg)
    codes, _ = sar_convert(cfg, fe, np.array([[-5.0, 5.0], [-1.0, 1.0]]))
    np.testing.assert_array_equal(codes, [[0, 255], [0, 255]])
    with pytest.raises(ValueError, match="NaN"):
        sar_convert(cfg, fe, np.array([[np.nan, 0.0]]))


weight_sets = st.sampled_from(
    [(128, 64, 32, 16, 8, 4, 2, 1), REDUNDANT_10, (100, 60, 40, 24, 14, 8, 5, 3, 2, 1, 1)]
)


@settings(max_examples=60, deadline=None)
@given(
    weights=weight_sets,
    mismatch=st.floats(0, 0.2),
    offset=st.floats(0, 3),
    noise=st.floats(0, 2),
    fe_seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_approximate_error_bounded_by_skipped_weights(
    weights, mismatch, offset, noise, fe_seed, data
):
    cfg = SARConfig(columns=8, steps=len(weights), weights=weights)
    fe = AnalogFrontEnd.sample(cfg, mismatch=mismatch, offset=offset, noise=noise, seed=fe_seed)
    k = data.draw(st.integers(1, cfg.steps), label="active_steps")
    v = np.array(data.draw(st.lists(st.floats(-1.2, 1.2), min_size=8, max_size=8)))[None, :]
    full, _ = sar_convert(cfg, fe, v)
    approx, dec = sar_convert(cfg, fe, v, k)
    bound = (sum(weights[k:]) + 1) // 2  # ceil(S_k / 2): the fill is the rounded-up midpoint
    assert np.all(np.abs(approx - full) <= bound), f"k={k}: {approx} vs {full}, bound {bound}"
    assert np.all(dec[..., k:] == 0), "skipped steps must report decision 0"


def test_approximate_binary_is_coarse_quantiser_with_midpoint():
    """Binary weights, k steps: the k MSBs of the ideal code, then the next bit set."""
    cfg = SARConfig(columns=1)
    v = np.linspace(-1, 1, 4097)[:-1, None]
    exact = expected_ideal(v[:, 0], 8)
    for k in range(1, 9):
        codes, _ = sar_convert(cfg, AnalogFrontEnd.ideal(cfg), v, k)
        coarse = (exact >> (8 - k)) << (8 - k)
        mid = (1 << (7 - k)) if k < 8 else 0
        np.testing.assert_array_equal(codes[:, 0], coarse + mid, err_msg=f"active_steps={k}")


def test_ideal_dnl_inl_are_zero():
    for cfg in (SARConfig(columns=3), SARConfig(columns=2, steps=10, weights=REDUNDANT_10)):
        dnl, inl = dnl_inl_of(cfg, AnalogFrontEnd.ideal(cfg))
        assert np.nanmax(np.abs(dnl)) == 0.0
        assert np.nanmax(np.abs(inl)) == 0.0


@pytest.mark.parametrize("delta", [0.5, -0.25, 0.75])
def test_msb_mismatch_gives_midscale_dnl_spike(delta):
    """Only the MSB capacitor off by delta LSB: code 127 is 1 + delta wide, all others 1."""
    cfg = SARConfig(columns=2)
    w = np.tile(np.array(cfg.weights, float), (2, 1))
    w[1, 0] += delta  # column 1 only; column 0 stays ideal
    fe = AnalogFrontEnd(w, np.zeros(2), out_width=8)
    _, codes = transfer_function(cfg, fe, per_code=64)
    dnl, inl = dnl_inl(code_density(codes, 8))
    lsb = (254 + delta) / 254  # endpoint LSB: inner codes 1..254 span 254 + delta
    exp = np.full(256, 1 / lsb - 1)
    exp[127] = (1 + delta) / lsb - 1
    np.testing.assert_allclose(dnl[1, 1:-1], exp[1:-1], atol=1 / 64)
    assert np.argmax(np.abs(dnl[1, 1:-1])) + 1 == 127
    assert np.nanmax(np.abs(dnl[0])) == 0.0
    # INL: the step of the spike shows up from code 128 on.
    assert abs(inl[1, 128] - inl[1, 127] - exp[127]) < 1 / 32


class ForcedWrongFirst(AnalogFrontEnd):
    """Test double: the comparator says 'below' at step 0 whatever the input."""

    def compare(self, v, trial_states, step, vector_index):
        b = super().compare(v, trial_states, step, vector_index)
        return np.zeros_like(b) if step == 0 else b


def _forced(cfg):
    ideal = AnalogFrontEnd.ideal(cfg)
    return ForcedWrongFirst(ideal.weights, ideal.offset, out_width=cfg.out_width)


def test_redundancy_recovers_from_wrong_first_decision():
    # x = 130 LSB: step 0 should say 1 (x >= 128 resp. 112) but is forced to 0.
    v = np.array([[-1 + 2 * 130.5 / 256]])
    binary = SARConfig(columns=1)
    redundant = SARConfig(columns=1, steps=10, weights=REDUNDANT_10)
    code_b, _ = sar_convert(binary, _forced(binary), v)
    code_r, dec_r = sar_convert(redundant, _forced(redundant), v)
    assert dec_r[0, 0, 0] == 0
    assert code_r[0, 0] == 130, f"redundant: expected 130, got {code_r[0, 0]}"
    assert code_b[0, 0] == 127, f"binary cannot recover: expected 127, got {code_b[0, 0]}"
    # Recovery holds over the whole redundancy window of step 0: x < 1 + sum(later) = 147.
    xs = np.arange(112, 147) + 0.5
    codes, _ = sar_convert(redundant, _forced(redundant), (-1 + 2 * xs / 256)[:, None])
    np.testing.assert_array_equal(codes[:, 0], np.floor(xs).astype(int))


def test_noise_draws_independent_of_batching(seed):
    cfg = SARConfig(columns=5)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=1.0, noise=0.8, seed=seed)
    v = np.random.default_rng(seed).uniform(-1, 1, (40, 5))
    ks = np.random.default_rng(seed + 1).integers(1, 9, 40)
    whole = sar_convert(cfg, fe, v, ks)
    pieces = [
        sar_convert(cfg, fe, v[i : i + 7], ks[i : i + 7], first_index=i) for i in range(0, 40, 7)
    ]
    np.testing.assert_array_equal(whole[0], np.concatenate([p[0] for p in pieces]))
    np.testing.assert_array_equal(whole[1], np.concatenate([p[1] for p in pieces]))
    # One vector at a time through compare, the way the closed-loop testbench calls it.
    n = 13
    kept = np.zeros(5, np.int64)
    for i in range(cfg.steps):
        kept |= fe.compare(v[n], kept | (1 << i), i, n).astype(np.int64) << i
    full_dec = sar_convert(cfg, fe, v)[1]
    np.testing.assert_array_equal((full_dec[n].astype(np.int64) << np.arange(8)).sum(-1), kept)
    # The noise really is noise: unit variance, and it changes the codes.
    z = counter_normal(seed, np.arange(20000), 3, 7)
    assert abs(z.std() - 1) < 0.03 and abs(z.mean()) < 0.03
    quiet = AnalogFrontEnd(fe.weights, fe.offset, noise=0.0, seed=seed, out_width=8)
    assert (sar_convert(cfg, quiet, v)[1] != sar_convert(cfg, fe, v)[1]).any()


@pytest.mark.parametrize("noise", [1e-9, 0.05, 0.3, 2.0])
def test_compare_draws_only_where_noise_can_flip_and_matches_every_draw(noise, seed):
    """compare skips the draws of decisions further than NOISE_REACH sigma from the
    threshold; the decisions equal the plain formula with a draw for every decision,
    near ties included. NOISE_REACH bounds |counter_normal| (53-bit uniforms)."""
    assert np.sqrt(-2 * np.log(2.0**-53)) < NOISE_REACH
    cfg = SARConfig(columns=64)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.03, offset=1.0, noise=noise, seed=seed)
    rng = np.random.default_rng(seed)
    vi = np.arange(300) + 7
    for step in range(cfg.steps):
        states = rng.integers(1, 256, (300, 64))
        level = fe.dac_level(states)
        # inputs at, just around and far from each column's threshold
        x = level - fe.offset + rng.choice([0, 1e-12, -1e-12, 0.5, -3, 40], (300, 64)) * noise
        v = np.clip(x / 256 * 2 - 1, -1, 1)
        lhs = fe.held_input(v) + fe.offset
        lhs = lhs + noise * counter_normal(fe.seed, vi[:, None], step, np.arange(64))
        want = (lhs >= level).astype(np.uint8)
        np.testing.assert_array_equal(fe.compare(v, states, step, vi), want, err_msg=f"{step=}")


def test_mismatch_sigma_scales_with_inverse_sqrt_weight(seed):
    cfg = SARConfig(columns=4096)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.1, seed=seed)
    w = np.array(cfg.weights, float)
    rel = (fe.weights - w) / w
    np.testing.assert_allclose(rel.std(axis=0), 0.1 / np.sqrt(w), rtol=0.06)
    off = AnalogFrontEnd.sample(cfg, offset=2.0, seed=seed).offset
    assert abs(off.std() - 2.0) < 0.1


def test_enob_of_ideal_converter_follows_active_steps():
    cfg = SARConfig(columns=1)
    fe = AnalogFrontEnd.ideal(cfg)
    for k in range(2, 9):
        # Ideal k-bit quantiser, sine at 0.99 FS: 6.02 k + 1.76 + 20 log10(0.99) dB.
        e = enob(cfg, fe, k)[0]
        assert abs(e - (k + 20 * np.log10(0.99) / 6.02)) < 0.1, f"k={k}: ENOB {e}"


def test_enob_degrades_with_noise(seed):
    cfg = SARConfig(columns=4)
    clean = enob(cfg, AnalogFrontEnd.ideal(cfg))
    noisy = enob(cfg, AnalogFrontEnd.sample(cfg, noise=1.0, seed=seed))
    # Not log2(sqrt(13)) = 1.85 (a 1 LSB noise added once to the input): with independent
    # noise per decision only decisions near their threshold are upset. The expected loss from
    # the exact per-sample code distribution (tests/test_adc_metrics.py,
    # expected_sine_figures) is 1.659 bit; 4096 samples scatter it by about 0.02.
    assert np.all(np.abs(clean - noisy - 1.659) < 0.06), f"{clean} -> {noisy}"


def test_signed_view():
    cfg = SARConfig(columns=1)
    codes = np.arange(256)
    s = to_signed(cfg, codes)
    assert s[0] == -128 and s[128] == 0 and s[255] == 127
    np.testing.assert_array_equal(s & 0xFF, codes ^ 0x80)  # MSB inverted


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"weights": (128, 64, 32, 16, 8, 4, 2, 0)}, "weights"),
        ({"weights": (128, 64, 32, 16, 8, 4, 2, -1)}, "weights"),
        ({"weights": (128, 64, 32, 16, 8, 4, 2)}, "weights"),
        ({"weights": (128, 64, 32, 16, 8, 4, 2, 0.5)}, "weights"),
        ({"weights": (128, 64, 32, 16, 8, 4, 1, 1)}, "cover the output range"),
        ({"weights": (140, 60, 32, 16, 8, 4, 2, 1)}, r"weights\[0\].*missing codes"),
        ({"steps": 40, "weights": (1,) * 40}, "steps"),
        ({"steps": 0, "weights": ()}, "steps"),
        ({"columns": 0}, "columns"),
        ({"out_width": 0}, "out_width"),
        ({"steps": 10}, "weights"),
        ({"columns": 8192}, "columns"),
        ({"columns": 16.0}, "columns"),
        ({"early_stop_fill": "nearest"}, "early_stop_fill"),
        ({"early_stop_fill": None}, "early_stop_fill"),
    ],
)
def test_config_validation_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SARConfig(**kwargs)


def test_config_dict_round_trip():
    for cfg in (
        SARConfig(),
        SARConfig(columns=16, steps=10, weights=REDUNDANT_10),
        SARConfig(columns=3, early_stop_fill="interval_midpoint"),
    ):
        d = json.loads(json.dumps(cfg.to_dict()))
        assert SARConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="bogus"):
        SARConfig.from_dict({**SARConfig().to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="active_steps"):
        sar_convert(SARConfig(columns=1), AnalogFrontEnd.ideal(SARConfig(columns=1)), [[0.0]], 9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"active_steps": 2.7}, "active_steps must be integers"),
        ({"active_steps": True}, "active_steps must be integers"),
        ({"active_steps": "3"}, "active_steps must be integers"),
        ({"active_steps": [3, 4]}, "one per vector"),
        ({"active_steps": 9}, r"active_steps must be in \[1, 8\]"),
        ({"first_index": 1.5}, "first_index must be an integer"),
    ],
)
def test_conversion_inputs_are_checked_not_truncated(kwargs, message):
    cfg = SARConfig(columns=2)
    with pytest.raises(ValueError, match=message):
        sar_convert(cfg, AnalogFrontEnd.ideal(cfg), np.zeros((3, 2)), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"noise": "0.3"}, "noise must be >= 0"),
        ({"mismatch": float("nan")}, "mismatch must be >= 0"),
    ],
)
def test_front_end_settings_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AnalogFrontEnd.sample(SARConfig(columns=2), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": 1 << 63}, r"seed must be an integer below 2\*\*63"),
        ({"seed": 1 << 64}, r"seed must be an integer below 2\*\*63"),
        ({"mismatch": 0.51}, r"mismatch must be at most 0.5"),
        ({"gain": 1.0}, r"gain must be at most 0.5"),
        ({"offset": 257.0}, r"offset must be at most 256 "),
        ({"noise": 1e9}, r"noise must be at most 256 "),
        ({"compression": 86.0}, r"compression must be at most 85.3"),
        ({"noise": float("inf")}, "noise must be >= 0 and finite"),
    ],
)
def test_front_end_settings_have_documented_ranges(kwargs, message):
    """Seeds below 2**63 (the noise hash reads the seed as an int64), relative sigmas at
    most 0.5, offset and noise at most the full scale, compression that leaves every
    column at least 2 LSB of swing (out_width 8)."""
    with pytest.raises(ValueError, match=message):
        AnalogFrontEnd.sample(SARConfig(columns=2), **kwargs)


def test_front_end_range_bounds_are_valid_and_convert():
    cfg = SARConfig(columns=4)
    top = {"mismatch": 0.5, "offset": 256.0, "noise": 256.0, "gain": 0.5,
           "compression": 256 / 3, "seed": (1 << 63) - 1}  # fmt: skip
    fe = AnalogFrontEnd.sample(cfg, **top)
    codes, _ = sar_convert(cfg, fe, np.linspace(-1, 1, 8)[:, None].repeat(4, axis=1))
    assert codes.shape == (8, 4)
    assert AnalogFrontEnd.settings_problem(cfg, top) is None
    assert AnalogFrontEnd.settings_problem(cfg, {**top, "seed": 1 << 63})[0] == "seed"
    assert AnalogFrontEnd.settings_problem(cfg, {"colour": 1}) == ("colour", "unknown setting")
