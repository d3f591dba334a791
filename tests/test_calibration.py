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


def test_shape_errors_name_the_cause():
    cfg = NMPUConfig(columns=8, lanes=8, phases=2, phase_shifts=(0, 1))
    with pytest.raises(ValueError, match=r"codes must have shape \(vectors, 2, 8\)"):
        C.calibrate(cfg, np.zeros((4, 8), int), np.zeros((4, 8)), out_scale=1.0, bias=0.0)
    cfg = NMPUConfig(columns=8, lanes=8, in_signed=False)
    with pytest.raises(ValueError, match=r"outside the NMPU's unsigned 8-bit range"):
        C.calibrate(cfg, np.full((4, 8), -3), np.zeros((4, 8)), out_scale=1.0, bias=0.0)


def test_all_clipped_and_dead_columns_are_reported_not_fatal(seed):
    """One weak column never stops the calibration: it is reported."""
    w, b, x_cal, _ = _layer(seed)
    cfg = NMPUConfig(columns=16, lanes=4)
    res = X.simulate(X.CrossbarConfig.ideal(), w, x_cal, seed=seed)
    v = res.analog.copy()
    v[:, 3] = 5.0  # always above full scale: every code on the top rail
    v[:, 7] = 0.001  # a dead column: the codes never change
    cal = C.calibrate(cfg, adc(v), res.reference, out_scale=res.out_scale, bias=b)
    assert cal.clipped == (3,) and set(cal.weak) == {3, 7}
    assert cal.gain[3] == cal.gain[7] == 0 and cal.gain[0] > 0.9
    report = "\n".join(cal.report())
    assert "column(s) 3: every calibration sample on an ADC rail" in report, report
    assert "weak column(s) 3, 7" in report, report


def test_weak_column_is_saturated_and_reported(seed):
    """A column with a gain above the scale format's range (issue 10's 'scale[7] = 2.27')."""
    rng = np.random.default_rng(seed)
    w, b, x_cal, _ = _layer(seed)
    mac = x_cal @ w
    out_scale = X.choose_out_scale(mac, 99.9, 0.8)
    g = np.ones(16)
    g[5] = 0.42  # a weak column: its codes span about 0.4 of the others'
    v = (mac / out_scale) * g + rng.normal(scale=0.2 / 128, size=mac.shape)
    cfg = NMPUConfig(columns=16, lanes=4)
    with pytest.raises(
        ValueError, match=r"scale\[5\] = 2\.\d+ does not fit UQ\(1,7\).*integer bit"
    ):
        C.calibrate(cfg, adc(v), mac, out_scale=out_scale, bias=b)
    cal = C.calibrate(cfg, adc(v), mac, out_scale=out_scale, bias=b, saturate=True)
    assert cal.saturated == {"scale": (5,)} and cal.scale[5] == 255
    assert "saturated scale at its format's limit in column(s) 5" in cal.report()


def test_bn_scale_that_does_not_fit_names_out_frac_and_the_fix(seed):
    """Widening scale_fmt moves out_frac; the error says so and which out_lsb_cut fits."""
    w, b, x_cal, _ = _layer(seed)
    res = X.simulate(X.CrossbarConfig.ideal(), w, x_cal, seed=seed)
    cfg = NMPUConfig(columns=16, lanes=4, scale_fmt="UQ(2,6)")
    kw = {"out_scale": res.out_scale, "bias": b, "act_lsb": 3e-3}
    with pytest.raises(ValueError, match=r"bn_scale\[\d+\].*out_frac = -1.*out_lsb_cut \d+") as e:
        C.calibrate(cfg, adc(res.analog), res.reference, **kw)
    cut = int(e.value.args[0].split("out_lsb_cut ")[1].split()[0])
    fixed = NMPUConfig(columns=16, lanes=4, scale_fmt="UQ(2,6)", out_lsb_cut=cut)
    C.calibrate(fixed, adc(res.analog), res.reference, **kw)  # the suggested setting fits


def _sliced_chip(seed, bits=4, columns=16, rows=64, vectors=1500):
    """Unsigned ``bits``-bit inputs bit-sliced into phases through a chip with column gain
    and offset errors; returns per-phase analog values and ideal MACs, and the layer."""
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.2, size=(rows, columns))
    b = rng.normal(scale=0.5, size=columns)
    xi = rng.integers(0, 1 << bits, size=(vectors, rows))
    slices = np.stack([(xi >> k) & 1 for k in range(bits)], axis=1).astype(float)
    mac = slices @ w  # [vectors, phases, columns]
    out_scale = X.choose_out_scale(mac, 99.9, 0.8)
    g = rng.uniform(0.8, 1.15, columns)
    o = rng.uniform(-3, 3, columns)
    v = mac / out_scale * g + o / 128 + rng.normal(scale=0.3 / 128, size=mac.shape)
    return v, mac, out_scale, g, w, b, xi


@pytest.mark.parametrize("signed", [True, False])
def test_bit_sliced_phases(seed, signed):
    """4 phases with shifts 0..3: the NMPU output tracks the layer on the whole input."""
    v, mac, out_scale, g, w, b, xi = _sliced_chip(seed)
    kw = {} if signed else {"in_signed": False, "offset_fmt": "Q(9,1)"}
    cfg = NMPUConfig(columns=16, lanes=4, phases=4, phase_shifts=(0, 1, 2, 3), **kw)
    sar = SARConfig(columns=16)
    codes = ideal_codes(sar, v)
    codes = to_signed(sar, codes) if signed else codes
    a = 1 / 15  # the layer sees x = xi / 15
    n = 1000  # calibration vectors; the rest are scored
    cal = C.calibrate(cfg, codes[:n], mac[:n], out_scale=out_scale, bias=b, bn_gain=a)
    np.testing.assert_allclose(cal.gain, 1 / g, rtol=0.01)
    if not signed:
        assert np.all(cal.offset < -200), "unsigned codes: the offset carries -128 codes"
    out = nmpu(cfg, codes[n:], **cal.params())
    ref = C.reference_outputs(cfg, cal, mac[n:], bias=b, bn_gain=a)
    np.testing.assert_allclose(C.layer_mac(cfg, mac), xi @ w, atol=1e-9)
    lin = (ref > 3) & (ref < cfg.out_range[1] - 3)
    err = (out - ref)[lin]
    # The error this chip must show: its comparator noise (0.3 code) and ADC quantisation
    # (1/12 code^2) in each phase, weighted 4**k by the shifts, through each column's
    # output LSBs per code, plus the output rounding. Fit, parameter quantisation and the
    # intermediate rounding add the rest: 1.26x at most over 40 seeds.
    per_code = a * out_scale / 128 / cal.act_lsb / g  # output LSBs per phase-0 code
    var = per_code**2 * sum(4**k for k in range(4)) * (0.3**2 + 1 / 12) + 1 / 12
    expected = np.sqrt(np.mean(np.broadcast_to(var, lin.shape)[lin]))
    rms = np.sqrt(np.mean(err**2))
    print(f"bit-sliced: mean err {err.mean():.3f}, rms {rms:.3f} LSB (noise model {expected:.3f})")
    assert lin.mean() > 0.2
    assert rms < 1.5 * expected and abs(err.mean()) < 0.5 * expected
    assert cal.mid_saturation == 0


def test_positive_negative_passes_and_bn_false(seed):
    """Signed inputs as a positive and a negative pass (signs +1, -1), without batch-norm."""
    rng = np.random.default_rng(seed)
    w, b, x_cal, _ = _layer(seed)
    passes = np.stack([np.maximum(x_cal, 0), np.maximum(-x_cal, 0)], axis=1)
    mac = passes @ w
    out_scale = X.choose_out_scale(mac, 99.9, 0.8)
    v = mac / out_scale + rng.normal(scale=0.3 / 128, size=mac.shape)
    kw = {"columns": 16, "lanes": 4, "phases": 2, "phase_signs": (1, -1), "bn": False}
    cfg = NMPUConfig(**kw)  # the default out_lsb_cut 12 suits bn = True only
    cal = C.calibrate(cfg, adc(v), mac, out_scale=out_scale, bias=0.0, saturate=True)
    assert "lower out_lsb_cut" in cal.report()[-1], cal.report()
    cfg = NMPUConfig(**kw, out_lsb_cut=0, out_round_bits=3)  # output LSB = one code LSB
    codes = adc(v)
    with pytest.raises(ValueError, match=r"bn = False folds the bias.*= 0; use bn = True"):
        C.calibrate(cfg, codes, mac, out_scale=out_scale, bias=b)
    cal = C.calibrate(cfg, codes, mac, out_scale=out_scale, bias=0.0, saturate=True)
    assert not cal.bn_scale.any() and not cal.bn_offset.any()
    out = nmpu(cfg, codes, **cal.params())
    ref = C.reference_outputs(cfg, cal, mac, bias=0.0)
    np.testing.assert_allclose(C.layer_mac(cfg, mac), x_cal @ w, atol=1e-9)
    lin = (ref > 3) & (ref < cfg.out_range[1] - 3)
    err = (out - ref)[lin]
    print(f"pos/neg bn=False: mean err {err.mean():.3f}, rms {np.sqrt(np.mean(err**2)):.3f} LSB")
    assert lin.mean() > 0.2 and abs(err.mean()) < 0.3 and np.sqrt(np.mean(err**2)) < 1.5


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
        # The ideal chip's own error (its DAC quantises the inputs: up to ~0.3 code here,
        # computed from the drawn inputs) + ADC quantisation (+-0.5 code after the
        # half-LSB correction) + rounding and parameter quantisation.
        dac = np.abs(chip.read(x) - x @ w) / cal.act_lsb
        budget = dac + 0.5 * lsb_per_code + 1.0 + 0.05 * lsb_per_code
        assert (err <= budget).all(), np.max(err - budget)


def test_overflowing_values_are_value_errors_not_arithmetic_ones(seed):
    """A parameter that overflows float64 (a reference MAC far beyond the codes' full scale)
    is a ValueError naming it, never an OverflowError from the error message's own hint."""
    fmt = QFormat(4, 12)
    with pytest.raises(ValueError, match=r"bn_scale\[1\] = inf is not finite"):
        C.quantise(
            [1.0, np.inf],
            fmt,
            "bn_scale",
            hint=C._fit_hint("bn_scale", [1, np.inf], fmt, NMPUConfig(columns=2, lanes=1)),
        )
    assert "more integer bit" in C._fit_hint(
        "bn_offset", [1e308, 1.7e308], fmt, NMPUConfig(columns=2, lanes=1)
    )
    cfg = NMPUConfig(columns=4, lanes=4)
    rng = np.random.default_rng(seed)
    ref = rng.uniform(-4, 4, size=(50, 4))
    codes = np.clip(np.floor(ref / (4 / 128)), -128, 127).astype(np.int64)
    with pytest.raises(ValueError, match=r"calibration: .*reference MAC.*not finite"):
        C.calibrate(cfg, codes, np.where(ref > 3, np.inf, ref), out_scale=4.0, bias=0.0)
    with pytest.raises(ValueError, match=r"calibration: out_scale must be positive and finite"):
        C.calibrate(cfg, codes, ref, out_scale=float("inf"), bias=0.0)
    with pytest.raises(ValueError, match=r"act_percentile must be in \(0, 100\]"):
        C.calibrate(cfg, codes, ref, out_scale=4.0, bias=0.0, act_percentile=200)
