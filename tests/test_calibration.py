"""Calibration: NMPU parameters derived from a simulated chip, quantised into their formats."""

from __future__ import annotations

import numpy as np
import pytest

from model.analog import crossbar as X
from model.flow import calibration as C
from model.golden.fixed import QFormat
from model.nmpu import NMPUConfig, nmpu
from model.sar import SARConfig, ideal_codes, to_signed


def adc(v) -> np.ndarray:
    """Ideal 8-bit SAR conversion as the NMPU's signed codes (DESIGN 4.5)."""
    cfg = SARConfig(columns=np.shape(v)[-1])
    return to_signed(cfg, ideal_codes(cfg, v))


def test_quantise_rounds_and_names_the_field():
    fmt = QFormat(1, 7, signed=False)
    np.testing.assert_array_equal(C.quantise([1.0, 0.5 / 128, 1.98], fmt, "scale"), [128, 1, 253])
    with pytest.raises(ValueError, match=r"scale\[1\] = 2 does not fit UQ\(1,7\)"):
        C.quantise([1.0, 2.0], fmt, "scale")
    with pytest.raises(ValueError, match=r"offset\[0\] = -0.01 does not fit UQ\(1,7\)"):
        C.quantise([-0.01], fmt, "offset")
    np.testing.assert_array_equal(C.quantise([2.5, -1], fmt, "s", saturate=True), [255, 0])
    with pytest.raises(ValueError, match=r"bn_scale\[0\] = nan is not finite"):
        C.quantise([np.nan], fmt, "bn_scale")


def _layer(seed, columns=16, rows=64):
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.2, size=(rows, columns))
    b = rng.normal(scale=0.2, size=columns)
    x_cal = rng.uniform(-1, 1, size=(2000, rows))
    x = rng.uniform(-1, 1, size=(300, rows))
    return w, b, x_cal, x


def test_ideal_chip_gives_unit_scale_and_half_lsb_offset(seed):
    w, b, x_cal, _ = _layer(seed)
    cfg = NMPUConfig(columns=16, lanes=4)
    res = X.simulate(X.CrossbarConfig.ideal(), w, x_cal, seed=seed)
    codes = adc(res.analog)
    cal = C.calibrate(cfg, codes, res.reference, out_scale=res.out_scale, bias=b)
    # The floor quantiser's bias is +0.5 LSB; the DAC error is far below 1/128 of gain.
    np.testing.assert_array_equal(cal.scale, 128)
    np.testing.assert_array_equal(cal.offset, 1)
    np.testing.assert_allclose(cal.gain, 1.0, atol=2e-3)


def test_recovers_known_column_gain_and_offset(seed):
    """A synthetic chip with per-column gain g and offset o (in LSB): scale -> 1/g."""
    rng = np.random.default_rng(seed)
    w, b, x_cal, _ = _layer(seed)
    columns = w.shape[1]
    mac = x_cal @ w
    out_scale = X.choose_out_scale(mac, 99.9, 0.6)
    g = rng.uniform(0.7, 1.2, columns)
    o = rng.uniform(-5, 5, columns)
    v = (mac / out_scale) * g + o / 128 + rng.normal(scale=0.3 / 128, size=mac.shape)
    cfg = NMPUConfig(columns=columns, lanes=4)
    cal = C.calibrate(cfg, adc(v), mac, out_scale=out_scale, bias=b)
    np.testing.assert_allclose(cal.gain, 1 / g, rtol=5e-3)
    np.testing.assert_allclose(cal.offset_lsb, (0.5 - o) / g, atol=0.1)
    np.testing.assert_allclose(cal.scale / 128, 1 / g, atol=1 / 128)


def test_bn_folding_equations(seed):
    w, b, x_cal, _ = _layer(seed)
    gamma = np.random.default_rng(seed).uniform(0.5, 1.5, w.shape[1])
    cfg = NMPUConfig(columns=16, lanes=4)
    res = X.simulate(X.CrossbarConfig.ideal(), w, x_cal, seed=seed)
    codes = adc(res.analog)
    cal = C.calibrate(
        cfg, codes, res.reference, out_scale=res.out_scale, bias=b, bn_gain=gamma, act_lsb=0.05
    )
    q = res.out_scale / 128
    unit = 0.05 * 2.0**cfg.out_frac
    np.testing.assert_array_equal(cal.bn_scale, np.round(gamma * q / unit * 4096).astype(int))
    np.testing.assert_array_equal(cal.bn_offset, np.round(b / unit * 64).astype(int))
    assert cal.act_lsb == 0.05 and cal.out_scale == res.out_scale


def test_parameter_that_does_not_fit_is_a_clear_error(seed):
    w, b, x_cal, _ = _layer(seed)
    cfg = NMPUConfig(columns=16, lanes=4)
    res = X.simulate(X.CrossbarConfig.ideal(), w, x_cal, seed=seed)
    codes = adc(res.analog)
    with pytest.raises(ValueError, match=r"calibration: bn_scale\[0\] = .* does not fit Q\(4,12\)"):
        C.calibrate(cfg, codes, res.reference, out_scale=res.out_scale, bias=b, act_lsb=1e-4)
    big = np.full(16, 1e3)
    with pytest.raises(
        ValueError, match=r"calibration: bn_offset\[0\] = .* does not fit Q\(10,6\)"
    ):
        C.calibrate(cfg, codes, res.reference, out_scale=res.out_scale, bias=big, act_lsb=0.05)


def test_rejects_unsupported_configs(seed):
    codes = np.zeros((4, 8), dtype=np.int64)
    ref = np.zeros((4, 8))
    for kw, msg in [
        ({"phases": 2}, "phases = 1 only"),
        ({"bn": False}, "bn must be True"),
        ({"in_signed": False}, "signed ADC codes"),
    ]:
        cfg = NMPUConfig(columns=8, lanes=8, **kw)
        with pytest.raises(ValueError, match=msg):
            C.calibrate(cfg, codes, ref, out_scale=1.0, bias=np.zeros(8))


def test_all_clipped_column_is_an_error():
    codes = np.full((10, 2), 127)
    codes[:, 0] = np.arange(10)
    with pytest.raises(ValueError, match="column 1 is clipped at an ADC rail"):
        C.fit_correction(codes, np.zeros((10, 2)), 8)


def test_dead_column_gets_zero_gain_and_mean_offset():
    codes = np.stack([np.arange(10), np.full(10, 3)], axis=1)
    target = np.stack([np.arange(10) * 2.0, np.full(10, 0.5)], axis=1)
    gain, offset, n = C.fit_correction(codes, target, 8)
    assert gain[1] == 0 and offset[1] == pytest.approx(0.5)
    assert gain[0] == pytest.approx(2.0) and offset[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(n, [10, 10])


@pytest.mark.parametrize("noisy", [False, True])
def test_end_to_end_nmpu_matches_float_layer(noisy, seed):
    """Calibrated golden NMPU output tracks the float layer output within a few LSB."""
    w, b, x_cal, x = _layer(seed)
    cfg = NMPUConfig(columns=16, lanes=4)
    xcfg = X.CrossbarConfig() if noisy else X.CrossbarConfig.ideal()
    chip = X.program(xcfg, w, np.random.default_rng([seed, 1]))  # independent of _layer's
    out_scale = X.choose_out_scale(x_cal @ w, xcfg.out_percentile, xcfg.out_headroom)
    cal_codes = adc(chip.read(x_cal) / out_scale)
    cal = C.calibrate(cfg, cal_codes, x_cal @ w, out_scale=out_scale, bias=b)
    codes = adc(chip.read(x) / out_scale)
    out = nmpu(cfg, codes[:, None, :], **cal.params())
    ref = C.reference_outputs(cfg, cal, x @ w, bias=b)
    assert ref.min() >= 0
    err = np.abs(out - np.minimum(ref, cfg.out_range[1]))
    lsb_per_code = (out_scale / 128) / cal.act_lsb  # output LSBs per ADC code
    if noisy:
        # The uncalibrated chip is off by the drift (~20 %); calibrated error is mostly noise.
        # In the linear region (no ReLU, no saturation) calibration removes the bias.
        lin = (ref > 5) & (ref < cfg.out_range[1] - 5)
        uncal = (chip.read(x) + b) / cal.act_lsb - ref
        bias_cal = np.mean((out - ref)[lin])
        bias_uncal = np.mean(uncal[lin])
        print(f"mean error: calibrated {bias_cal:.3f} LSB, uncalibrated {bias_uncal:.3f} LSB")
        assert bias_uncal < -2.0, "drift lowers the uncalibrated output"
        assert abs(bias_cal) < 0.1 * abs(bias_uncal)
        assert err.mean() < np.abs(uncal).mean()
    else:
        # ADC quantisation (+-0.5 code after the half-LSB correction) + rounding.
        assert err.max() <= 0.5 * lsb_per_code + 1.0 + 0.05 * lsb_per_code
