"""The aihwkit path: same device constants, same DAC, same statistics as the built-in model.

aihwkit is imported for real (it is installed in CI; see docs/captures.md); without it
(or torch) the module is skipped with the install command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

INSTALL = "aihwkit and torch are optional: install them with `make deps-aihwkit`"
pytest.importorskip("torch", reason=INSTALL)
pytest.importorskip("aihwkit", reason=INSTALL)

from aihwkit.inference import PCMLikeNoiseModel  # noqa: E402

from model.analog import aihwkit_adapter as A  # noqa: E402
from model.analog import crossbar as X  # noqa: E402
from tests.test_capture import assert_regenerates  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def test_constants_match_aihwkit():
    nm = PCMLikeNoiseModel()
    assert tuple(nm.prog_coeff) == X.PROG_COEFF
    assert nm.prog_coeff_g_max_reference == X.PROG_COEFF_G_MAX_REF
    assert nm.t_0 == X.CrossbarConfig().t0 and nm.t_read == X.CrossbarConfig().t_read
    assert nm.g_max == X.CrossbarConfig().g_max


def test_rpu_config_disables_aihwkit_output_processing():
    rpu = A.rpu_config(X.CrossbarConfig(dac_bits=6))
    f = rpu.forward
    assert f.out_res < 0 and f.out_noise == 0 and f.out_bound < 0 and f.inp_noise == 0
    assert f.inp_res == pytest.approx(1 / 62) and rpu.drift_compensation is None


def test_ideal_layer_is_dac_quantised_mac(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(16, 8))
    # Inputs off the DAC's rounding ties (aihwkit rounds ties to even, the built-in away).
    x = (rng.integers(-127, 128, size=(40, 16)) + rng.uniform(-0.4, 0.4, size=(40, 16))) / 127
    cfg = X.CrossbarConfig.ideal(rows=16)
    chip = A.program(cfg, w, seed=seed)
    np.testing.assert_allclose(chip.weights, w, rtol=0, atol=1e-5)
    got = chip.read(x)
    want = X.dac(x, cfg.dac_bits) @ w  # float32 matmul in torch
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(w).sum())


def test_drift_statistics_agree_with_builtin(seed):
    """Drifted column gain and residual noise agree between aihwkit and the built-in model."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 32))
    x = rng.uniform(-1, 1, size=(400, 64))
    cfg = X.CrossbarConfig(t_inference=3600.0)
    ref = x @ w

    def gain_and_noise(mac):
        g = (mac * ref).sum(0) / (ref * ref).sum(0)
        return g.mean(), (mac - g * ref).std() / ref.std()

    g_a, n_a = gain_and_noise(A.program(cfg, w, seed=seed).read(x))
    # (an rng stream independent of the one that drew w and x)
    g_b, n_b = gain_and_noise(X.program(cfg, w, np.random.default_rng([seed, 1])).read(x))
    print(f"aihwkit gain {g_a:.4f} noise {n_a:.4f}; builtin gain {g_b:.4f} noise {n_b:.4f}")
    assert 0.6 < g_a < 0.95, "drift at 1 h lowers the gain"
    assert g_a == pytest.approx(g_b, abs=0.02)
    assert n_a == pytest.approx(n_b, rel=0.25)


def test_seeded(seed):
    w = np.random.default_rng(seed).normal(size=(8, 4))
    x = np.random.default_rng(seed + 1).uniform(-1, 1, size=(5, 8))
    cfg = X.CrossbarConfig(rows=8)
    a = A.program(cfg, w, seed=seed).read(x)
    b = A.program(cfg, w, seed=seed).read(x)
    c = A.program(cfg, w, seed=seed + 1).read(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_aihwkit_capture_regenerates(tmp_path):
    assert_regenerates(REPO / "captures" / "aihwkit_digits.npz", atol=1e-6, tmp_dir=tmp_path)


def test_versions_recorded():
    v = A.versions()
    assert v["aihwkit"] == "1.1.0" and v["torch"].startswith("2.")
