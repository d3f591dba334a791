"""Independent checks of the ADC characterisation (model/analog/adc_metrics.py and the
report of model/flow/adc_report.py).

Oracles: exact intervals of a noise-free binary SAR (brute force over every code),
integer re-implementations of the SAR search (exact rationals), synthetic spectra with
known tones, and the per-sample code distribution of a noisy binary SAR computed from
the Gaussian CDF (no sampling).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from scipy.special import ndtr

from model.analog.adc_exact import exact_static
from model.analog.adc_metrics import (
    dnl_inl,
    dnl_inl_of,
    early_stop_error,
    enob,
    harmonic_bins,
    noise_free,
    sinad,
    sine_codes,
    spectrum_metrics,
    static_linearity,
)
from model.sar import AnalogFrontEnd, SARConfig, sar_convert
from tb.stimulus.catalogue import REDUNDANT_10

BINARY = SARConfig(columns=1)
RED10 = SARConfig(columns=1, steps=10, weights=REDUNDANT_10)


def front_end(weights, offset, out_width=8):
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return AnalogFrontEnd(w, np.atleast_1d(np.asarray(offset, dtype=np.float64)), out_width=8)


# -- static linearity: missing codes, exclusions, offset and gain ---------------
def exact_code_intervals(weights, offset, out_width):
    """Noise-free binary SAR: input interval ``[lo, hi)`` (LSB) of every code, per column.

    Code c comes out iff every decision matches its bits: at step i the threshold is
    ``D_i = sum of w[j] over the bits j <= i of c's prefix with bit i set``; bit 1 needs
    ``x >= D_i - offset``, bit 0 needs ``x < D_i - offset``.
    """
    n = 1 << out_width
    c = np.arange(n)
    bits = (c[:, None] >> (out_width - 1 - np.arange(out_width))) & 1  # [codes, steps]
    lo = np.full((weights.shape[0], n), -np.inf)
    hi = np.full((weights.shape[0], n), np.inf)
    for i in range(out_width):
        prefix = bits.copy()
        prefix[:, i] = 1
        prefix[:, i + 1 :] = 0
        d = prefix @ weights.T - offset[None, :]  # [codes, columns]
        lo = np.where(bits[:, i][None, :] == 1, np.maximum(lo, d.T), lo)
        hi = np.where(bits[:, i][None, :] == 0, np.minimum(hi, d.T), hi)
    return lo, hi


def test_missing_codes_and_widths_match_exact_intervals(seed):
    """Mismatched binary instance: every code's histogram width within one ramp step of the
    exact interval width; missing codes (end codes included) are exactly the empty intervals
    (bar intervals narrower than the ramp step)."""
    cfg = SARConfig(columns=48)
    per_code = 64
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=1.0, noise=0.7, seed=seed)
    st = static_linearity(cfg, fe, per_code=per_code)
    lo, hi = exact_code_intervals(fe.weights, fe.offset, 8)
    n = 256
    # Histogram over x in [0, N): exact hit count = grid points j/per_code in [lo, hi).
    a = np.clip(np.ceil(lo * per_code), 0, n * per_code)
    b = np.clip(np.ceil(hi * per_code), 0, n * per_code)
    exact_hits = np.maximum(b - a, 0)
    assert np.abs(st.hist - exact_hits).max() <= 1
    # Reachable over the whole (clipped) input range x in [0, N].
    lo0 = np.maximum(lo, 0.0)
    reachable = (lo0 < hi) & (lo0 <= n)
    width = np.minimum(hi, n) - lo0
    found_any = False
    for c in range(cfg.columns):
        exact_missing = set(np.flatnonzero(~reachable[c]))
        got = set(st.missing[c].tolist())
        assert exact_missing <= got, f"column {c}: {exact_missing} not all in {got}"
        for code in got - exact_missing:  # only codes too narrow for the ramp to hit
            assert width[c, code] < 1 / per_code, (c, code, width[c, code])
        found_any |= bool(exact_missing)
    assert found_any, "this instance should have missing codes (mismatch 0.08, offset 1)"
    # DNL -1 exactly at the inner missing codes; DNL NaN at the excluded end codes.
    for c in range(cfg.columns):
        for code in st.missing[c]:
            if st.first[c] < code < st.last[c]:
                assert st.dnl[c, code] == -1.0
        assert np.isnan(st.dnl[c, st.excluded[c]]).all()
        assert np.isfinite(st.dnl[c, st.first[c] + 1 : st.last[c]]).all()


@pytest.mark.parametrize(
    "msb_delta, offset, missing, first, last",
    [
        (0.0, 1.5, [0], 1, 255),  # codes shifted up: x=0 already gives code 1
        (0.0, -1.5, [255], 0, 254),  # code 255 needs x >= 256.5 > N
        (-1.5, 0.0, [127], 0, 255),  # MSB 126.5: code 127 needs 127 <= x < 126.5
        (0.0, 0.0, [], 0, 255),
    ],
)
def test_missing_codes_known_cases(msb_delta, offset, missing, first, last):
    w = np.array(BINARY.weights, float)
    w[0] += msb_delta
    st = static_linearity(BINARY, front_end(w, offset), per_code=64)
    assert st.missing[0].tolist() == missing
    assert (st.first[0], st.last[0]) == (first, last)
    excluded = st.excluded[0].tolist()
    assert excluded == sorted({*range(0, first + 1), *range(last, 256)})
    s = st.summary(255)
    assert s["total_missing_codes"] == len(missing)
    assert s["columns_missing_code_0"] == (0 in missing)
    assert s["columns_missing_full_code"] == (255 in missing)
    assert s["columns_missing_inner_codes"] == any(0 < m < 255 for m in missing)
    if 127 in missing:
        assert st.dnl[0, 127] == -1.0


def test_dnl_inl_reports_the_range_it_analyses():
    """dnl_inl(return_range=True) names the end codes it leaves out."""
    hist = np.full((2, 16), 8.0)
    hist[1, :2] = 0  # column 1 never reaches codes 0 and 1
    hist[1, 15] = 1  # ... and reaches 15 only rarely (noise): below min_hits
    dnl, inl, first, last = dnl_inl(hist, return_range=True)
    assert first.tolist() == [0, 2] and last.tolist() == [15, 14]
    assert np.isnan(dnl[1, :3]).all() and np.isnan(dnl[1, 14:]).all()
    assert np.isfinite(dnl[1, 3:14]).all()


@pytest.mark.parametrize("offset", [0.7, -0.45, 1.6, -1.3])
def test_offset_error_is_the_comparator_offset(offset):
    """Ideal weights plus comparator offset o: every transition at k - o, so offset = o and
    gain = 0 (to the ramp resolution), also when an end code is missing."""
    st = static_linearity(BINARY, front_end(BINARY.weights, offset), per_code=64)
    for m in ("endpoint", "fit"):
        assert abs(getattr(st, f"offset_{m}")[0] - offset) <= 1 / 32
        assert abs(getattr(st, f"gain_{m}")[0]) <= 1 / 32


@pytest.mark.parametrize("g", [0.004, -0.003])
def test_gain_error_of_scaled_weights(g):
    """All weights (1 + g) times nominal: T[k] = (1 + g) k, gain error g (N - 2) LSB, offset
    -g (the line at k=1 is 1 + g); g > 0 also loses code 255 (sum of weights > N)."""
    w = np.array(BINARY.weights, float) * (1 + g)
    st = static_linearity(BINARY, front_end(w, 0.0), per_code=64)
    for m in ("endpoint", "fit"):
        assert abs(getattr(st, f"gain_{m}")[0] - g * 254) <= 1 / 32
        assert abs(getattr(st, f"offset_{m}")[0] + g) <= 1 / 32
    assert (255 in st.missing[0]) == (255 * (1 + g) > 256)


def test_static_figures_are_noise_free_and_same_draw(seed):
    """noise_free() keeps the capacitor/offset draw; sample(noise=0, same seed) gives the same
    draw; static_linearity of the noisy front end equals that of the quiet one; noise matters."""
    cfg = SARConfig(columns=16)
    kw = {"mismatch": 0.05, "offset": 0.8, "seed": seed}
    noisy = AnalogFrontEnd.sample(cfg, noise=0.6, **kw)
    quiet = AnalogFrontEnd.sample(cfg, noise=0.0, **kw)
    np.testing.assert_array_equal(quiet.weights, noisy.weights)
    np.testing.assert_array_equal(quiet.offset, noisy.offset)
    nf = noise_free(noisy)
    assert nf.noise == 0.0 and nf.params["noise"] == 0.0
    np.testing.assert_array_equal(nf.weights, noisy.weights)
    a = static_linearity(cfg, noisy, per_code=16)
    b = static_linearity(cfg, quiet, per_code=16)
    np.testing.assert_array_equal(a.hist_padded, b.hist_padded)
    np.testing.assert_array_equal(a.dnl, b.dnl)
    dnl_on, _ = dnl_inl_of(cfg, noisy, per_code=16)
    assert not np.allclose(np.nan_to_num(dnl_on), np.nan_to_num(a.dnl))


# -- spectrum -------------------------------------------------------------------
M, J = 4096, 127


def test_nyquist_bin_counted_once():
    """Tone A at bin J plus C (-1)^n at Nyquist: signal power A^2/2, Nyquist tone C^2."""
    n = np.arange(M)
    a, c = 40.0, 0.5
    y = (a * np.sin(2 * np.pi * J * n / M) + c * (-1.0) ** n)[:, None] - 0.5
    want = 10 * np.log10(a**2 / 2 / c**2)
    assert abs(sinad(y, J)[0] - want) < 1e-9
    m = spectrum_metrics(y, J, 8)
    assert abs(m["sndr"][0] - want) < 1e-9 and abs(m["sfdr"][0] - want) < 1e-9
    assert m["spur_bin"][0] == M // 2


def test_sfdr_thd_snr_of_known_tones(seed):
    """Fundamental A, 3rd harmonic B (aliased: 3 J > M/2 for this J), 2nd harmonic C and a
    non-harmonic spur E: THD = (B^2 + C^2) / A^2, SFDR = A / max(B, C, E), SNR excludes B, C."""
    j = 1499  # 3 * 1499 = 4497 -> bin 401 after folding
    assert {401, M - 2 * j} <= set(harmonic_bins(j, M, 10))  # 2nd: 2998 -> 1098
    n = np.arange(M)
    a, b, c, e = 100.0, 0.3, 0.2, 0.4
    y = (
        a * np.sin(2 * np.pi * j * n / M)
        + b * np.sin(2 * np.pi * 3 * j * n / M + 0.3)
        + c * np.cos(2 * np.pi * 2 * j * n / M)
        + e * np.sin(2 * np.pi * 1000 * n / M)
    )
    m = spectrum_metrics(y[:, None] - 0.5, j, 8)
    assert abs(m["thd"][0] - 10 * np.log10((b**2 + c**2) / a**2)) < 1e-9
    assert abs(m["sfdr"][0] - 20 * np.log10(a / e)) < 1e-9
    assert abs(m["snr"][0] - 20 * np.log10(a / e)) < 1e-9
    assert abs(m["sndr"][0] - 10 * np.log10(a**2 / (b**2 + c**2 + e**2))) < 1e-9
    rng = np.random.default_rng(seed)
    sigma = 0.5
    x = y + sigma * rng.standard_normal(M)
    noisy = spectrum_metrics(x[:, None], j, 8)

    # Oracle from the noise actually drawn, without an FFT: the one-sided power of bin k is
    # the mean square of the record's projection on cos/sin at k (direct sums), and the
    # noise-and-distortion power is the record's AC power minus the tone's (Parseval).
    def tone_power(k):
        phase = 2 * np.pi * k * n / M
        return 2 * (np.mean(x * np.cos(phase)) ** 2 + np.mean(x * np.sin(phase)) ** 2)

    p_nd = np.mean((x - x.mean()) ** 2) - tone_power(j)
    p_h = sum(tone_power(k) for k in harmonic_bins(j, M, 10))
    assert abs(noisy["snr"][0] - 10 * np.log10(tone_power(j) / (p_nd - p_h))) < 1e-9
    # And the estimate is near its expectation: the noise power of M samples has relative
    # sigma sqrt(2 / M) (2.2 %, 0.096 dB); 6 sigma bounds a chance failure below 1e-8.
    snr = 10 * np.log10(a**2 / 2 / (sigma**2 + e**2 / 2))
    assert abs(noisy["snr"][0] - snr) < 6 * 10 * np.log10(1 + np.sqrt(2 / M))


def expected_sine_figures(weights, out_width, sigma, samples=M, cycles=J, amplitude=0.99):
    """Expected SNDR (dB) of a binary-search SAR with ideal weights and independent Gaussian
    comparator noise sigma per decision, from the exact code distribution of every sine
    sample: P(b_i = 1 | x, prefix) = Phi((x - D_i) / sigma). The mean code m_n is fitted with
    a sine (least squares at the known frequency); noise and distortion = the mean square of
    the fit residual plus the mean code variance."""
    n_codes = 1 << out_width
    t = np.arange(samples)
    x = (amplitude * np.sin(2 * np.pi * cycles * t / samples) + 1) / 2 * n_codes
    prob = np.ones((samples, 1))
    value = np.zeros(1)
    for w in weights:
        thr = value + w  # the trial DAC level of every prefix
        if sigma:
            p1 = ndtr((x[:, None] - thr[None, :]) / sigma)
        else:
            p1 = (x[:, None] >= thr[None, :]).astype(float)
        prob = np.concatenate([prob * (1 - p1), prob * p1], axis=1)
        value = np.concatenate([value, thr])
    y = np.minimum(value, n_codes - 1) + 0.5
    mean = prob @ y
    var = prob @ y**2 - mean**2
    basis = np.stack(
        [np.sin(2 * np.pi * cycles * t / samples), np.cos(2 * np.pi * cycles * t / samples),
         np.ones(samples)], axis=1,
    )  # fmt: skip
    coef, *_ = np.linalg.lstsq(basis, mean, rcond=None)
    resid = mean - basis @ coef
    p_sig = (coef[0] ** 2 + coef[1] ** 2) / 2
    return 10 * np.log10(p_sig / (np.mean(resid**2) + np.mean(var)))


def test_ideal_enob_equals_time_domain_sine_fit():
    """Noise-free ideal 8-bit: the FFT SNDR equals a least-squares sine fit of the codes
    (Parseval), 8.009 bits; the q^2/12 textbook value 8 + log2(0.99) = 7.986 is within 0.03."""
    e = enob(BINARY, AnalogFrontEnd.ideal(BINARY))[0]
    want = (expected_sine_figures(BINARY.weights, 8, 0.0) - 1.76) / 6.02
    assert abs(e - want) < 1e-9
    assert abs(e - 8.009) < 5e-4
    assert abs(e - (8 + np.log2(0.99))) < 0.03


def test_enob_penalty_of_comparator_noise(seed):
    """1 LSB rms per decision: the expected ENOB loss from the exact code distribution is
    about 1.65 bit, not the 1.85 of a noise added once to the input (log2 sqrt(13)): a
    decision far from its threshold is not upset. Measured on 4 columns within 0.06 bit."""
    cfg = SARConfig(columns=4)
    clean = enob(cfg, AnalogFrontEnd.ideal(cfg))
    noisy = enob(cfg, AnalogFrontEnd.sample(cfg, noise=1.0, seed=seed))
    exp_clean = (expected_sine_figures(cfg.weights, 8, 0.0) - 1.76) / 6.02
    exp_noisy = (expected_sine_figures(cfg.weights, 8, 1.0) - 1.76) / 6.02
    penalty = exp_clean - exp_noisy
    assert 1.55 < penalty < 1.75, penalty  # and clearly not the once-per-conversion 1.85
    assert np.all(np.abs(clean - noisy - penalty) < 0.06), f"{clean - noisy} vs {penalty}"
    # A noise 3x smaller costs much less (expected, independently recomputed).
    quieter = enob(cfg, AnalogFrontEnd.sample(cfg, noise=0.3, seed=seed))
    exp_q = (expected_sine_figures(cfg.weights, 8, 0.3) - 1.76) / 6.02
    assert np.all(np.abs(quieter - exp_q) < 0.04), f"{quieter} vs {exp_q}"


# -- approximate conversion: bias and bound -------------------------------------
def integer_sar_bias(weights, out_width, k):
    """Exact mean(code_k - code_full) over a uniform input, ideal front end, as a Fraction.

    For x in [c, c + 1) the ideal comparator decides x >= D iff c >= D (D integer), so the
    partial sum after k steps is an integer search on c; code_full = c (ideal quantiser);
    code_k = min(partial + ceil(S_k / 2), N - 1).
    """
    n = 1 << out_width
    s_k = sum(weights[k:])
    total = 0
    for c in range(n):
        p = 0
        for w in weights[:k]:
            if c >= p + w:
                p += w
        total += min(p + (s_k + 1) // 2, n - 1) - c
    return Fraction(total, n)


def test_early_stop_bias_binary_is_half_lsb():
    """Binary: code_k - code_full = 2**(M-1-k) - (c mod 2**(M-k)); c uniform -> +1/2 LSB
    for every k < M (the midpoint fill rounds up), 0 for k = M."""
    r = early_stop_error(BINARY, AnalogFrontEnd.ideal(BINARY), per_code=16)
    for k in range(1, 9):
        want = Fraction(1, 2) if k < 8 else Fraction(0)
        assert integer_sar_bias(BINARY.weights, 8, k) == want
        assert Fraction(r["mean"][k - 1, 0]) == want, (k, r["mean"][k - 1, 0])


def test_early_stop_bias_redundant_matches_integer_search():
    """REDUNDANT_10: the exact rational bias of every k (8.5, 8.5, 6.25, 4.375, 2.3125,
    1.703125, 0.8515625, 0.5, 0.99609375, 0 LSB) equals the measured mean over the ramp."""
    r = early_stop_error(RED10, AnalogFrontEnd.ideal(RED10), per_code=16)
    want = [integer_sar_bias(REDUNDANT_10, 8, k) for k in range(1, 11)]
    assert want[0] == Fraction(17, 2) and want[-1] == 0
    for k in range(1, 11):
        assert Fraction(r["mean"][k - 1, 0]) == want[k - 1], (k, r["mean"][k - 1, 0])


def dense_grid(out_width, per_code=64):
    n = 1 << out_width
    v = -1.0 + 2.0 * np.arange(-2 * per_code, (n + 2) * per_code) / (n * per_code)
    edges = -1.0 + 2.0 * np.arange(n + 1) / n
    return np.concatenate([v, np.nextafter(edges, -np.inf)])


@pytest.mark.parametrize("cfg", [BINARY, RED10], ids=["binary8", "redundant10"])
@pytest.mark.parametrize("kind", ["ideal", "mismatched"])
def test_early_stop_error_within_ceil_half_skipped(cfg, kind, seed):
    """|code_k - code_full| <= ceil(S_k / 2) for every k, every input of a dense grid (64
    points per LSB, every code edge and just below it, 2 LSB overdrive), 16 columns; on the
    ideal front end the bound is reached (x = 0: partial sum 0, code_k = fill)."""
    cfg16 = SARConfig(columns=16, steps=cfg.steps, weights=cfg.weights)
    if kind == "ideal":
        fe = AnalogFrontEnd.ideal(cfg16)
    else:
        fe = AnalogFrontEnd.sample(cfg16, mismatch=0.1, offset=1.5, noise=0.5, seed=seed)
    v = np.repeat(dense_grid(8)[:, None], 16, axis=1)
    full, _ = sar_convert(cfg16, fe, v)
    for k in range(1, cfg.steps + 1):
        s_k = sum(cfg.weights[k:])
        bound = (s_k + 1) // 2
        err = np.abs(sar_convert(cfg16, fe, v, k)[0] - full)
        assert err.max() <= bound, f"k={k}: {err.max()} > ceil({s_k}/2)"
        if kind == "ideal":
            assert err.max() == bound, f"k={k}: bound {bound} not reached ({err.max()})"


# -- the report -----------------------------------------------------------------
def test_report_json_and_plots(build_dir, seed):
    from model.flow.adc_report import write_report

    out = build_dir / "reports"
    settings = {"columns": 8, "mismatch": 0.08, "offset": 1.0, "noise": 0.3, "per_code": 16}
    returned, lines = write_report(out, seed=seed % 1000, **settings)
    rep = json.loads((out / "adc_report.json").read_text())
    assert rep["static"]["summary"] == returned["static"]["summary"]
    assert lines[0].startswith("SAR instance: mismatch=0.08") and len(lines) == 9 + 8 + 1 + 8
    # what the plots draw: tests/test_adc_exact.py (figure objects, not file sizes)
    for name in ("histogram", "transfer_error", "dnl", "inl", "spectrum", "enob", "summary"):
        assert (out / f"sar_{name}.png").is_file()
    per_col = rep["static"]["per_column"]
    assert len(per_col) == 8
    cfg = SARConfig(columns=8)
    quiet = AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=1.0, seed=seed % 1000)
    ex = exact_static(cfg, quiet)
    assert [r["missing_codes"] for r in per_col] == [m.tolist() for m in ex.missing]
    st = static_linearity(cfg, quiet, per_code=16)  # the ramp, kept beside for comparison
    assert [r["ramp"]["missing_codes"] for r in per_col] == [m.tolist() for m in st.missing]
    assert all(r["monotonic"] for r in per_col)  # binary weights
    s = rep["static"]["summary"]
    assert s["total_missing_codes"] == sum(len(r["missing_codes"]) for r in per_col)
    assert rep["front_end"]["noise"] == 0.3 and "noise off" in rep["conditions"]["static"]
    assert {"sndr", "snr", "sfdr", "thd", "enob"} <= set(rep["dynamic"]["summary"])
    early = rep["early_stop"]
    assert [e["bound_ceil_half_skipped"] for e in early] == [64, 32, 16, 8, 4, 2, 1, 0]
    assert all(e["max_abs_error_lsb"] <= e["bound_ceil_half_skipped"] for e in early)
    assert [e["ideal_mean_error_lsb"] for e in early] == [0.5] * 7 + [0.0]
    # Binary weights: both early-stop fills give the same codes, so the same figures.
    fills = rep["early_stop_fills"]
    assert set(fills) == {"half_skipped", "interval_midpoint"}
    assert fills["half_skipped"] == fills["interval_midpoint"]
    assert [r["mean_error_lsb"] for r in fills["half_skipped"]] == [
        e["mean_error_lsb"]["mean"] for e in early
    ]
    codes = sine_codes(cfg, AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=1.0, noise=0.3,
                                                  seed=seed % 1000))  # fmt: skip
    np.testing.assert_allclose(
        [r["enob"] for r in rep["dynamic"]["per_column"]],
        spectrum_metrics(codes, J, 8)["enob"],
    )


# -- the report's command line (tools.adc_report) ------------------------------------
class Reported(Exception):
    """The stand-in for ``write_report`` was reached: the options passed every check."""


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--mismatch", "-1"], "argument --mismatch: must be a finite number >= 0, not '-1'"),
        (["--mismatch", "0.9"], "--mismatch must be at most 0.5 (relative sigma"),
        (["--mismatch", "nan"], "argument --mismatch: must be a finite number"),
        (["--offset", "inf"], "argument --offset: must be a finite number"),
        (["--offset", "300"], "--offset must be at most 256 (LSB: the full scale of 8 bits)"),
        (["--noise", "1e999"], "argument --noise: must be a finite number"),
        (["--noise", "abc"], "argument --noise: must be a finite number"),
        (["--columns", "0"], "argument --columns: must be an integer in [1, 4096], not '0'"),
        (["--columns", "-1"], "argument --columns: must be an integer in [1, 4096]"),
        (["--columns", str(10**30)], "argument --columns: must be an integer in [1, 4096]"),
        (["--seed", "-1"], "argument --seed: must be an integer in [0, 9223372036854775807]"),
        (["--seed", str(2**63)], "argument --seed: must be an integer in [0, 92233720368"),
        (["--steps", "0"], "argument --steps: must be an integer in [1, 32]"),
        (["--steps", "9"], "SARConfig.weights must be given when steps (9) != out_width (8)"),
        (["--weights", "a,b"], "argument --weights: must be integers separated by commas"),
        (["--weights", ""], "argument --weights: must be integers separated by commas"),
        (["--weights", "0,0,0,0,0,0,0,0"], "SARConfig.weights must be positive integers"),
        (["--per-code", "0"], "argument --per-code: must be an integer in [1, 131072]"),
        (["--per-code", "-1"], "argument --per-code: must be an integer in [1, 131072]"),
        (["--columns", "4096", "--per-code", "64"], "--columns 4096 x --per-code 64 = 262144"),
    ],
)
def test_report_options_are_one_line_before_any_work(argv, says, tmp_path, capsys, monkeypatch):
    """Every option with a hostile value: one line naming it, exit 2, nothing measured or
    written. Before: a ``ValueError`` traceback for a front-end term out of range (its range
    is the front end's own, ``settings_problem``), a ``ZeroDivisionError`` for ``--per-code
    0``, and ``--per-code -1`` measured and wrote a report from an empty ramp."""
    from tools.adc_report import main as adc_report_main

    def no_work(*args, **kwargs):
        raise Reported

    monkeypatch.setattr("tools.adc_report.write_report", no_work)
    out = tmp_path / "reports"
    try:
        status = adc_report_main(["--out", str(out), *argv])
    except SystemExit as exc:  # argparse: the value did not parse or is out of its range
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert says in err, err
    assert not out.exists()


def test_report_defaults_and_limits_pass(tmp_path, monkeypatch):
    """The defaults and the largest accepted values reach the report (nothing refused that
    the front end and ``SARConfig`` accept)."""
    from tools.adc_report import main as adc_report_main

    calls = []
    monkeypatch.setattr(
        "tools.adc_report.write_report", lambda out, **kw: (calls.append(kw), ([], ["x"]))[1]
    )
    out = str(tmp_path / "r")
    assert adc_report_main(["--out", out]) == 0
    argv = ["--mismatch", "0.5", "--offset", "256", "--noise", "0", "--seed", str(2**63 - 1)]
    assert adc_report_main(["--out", out, "--columns", "4096", "--per-code", "32", *argv]) == 0
    weights = "128,64,32,16,8,4,2,1,1"
    assert adc_report_main(["--out", out, "--steps", "9", "--weights", weights]) == 0
    assert [c["columns"] for c in calls] == [64, 4096, 64] and calls[2]["weights"][-1] == 1
