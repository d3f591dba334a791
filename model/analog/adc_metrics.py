"""Static and dynamic characterisation of the SAR ADC model, vectorised over columns.

Units: ``N = 2**out_width`` codes, 1 LSB = ``2 / N`` of the normalised full
scale; the held input in LSB is ``x = (clip(v, -1, 1) + 1) / 2 * N`` in
``[0, N]``, and the ideal transition into code ``k`` is at ``x = k``.

Static (noise off: :func:`noise_free`, the same capacitor and offset draw)
* :func:`transfer_function` -- codes of every column over a dense input ramp.
* :func:`code_density` / :func:`dnl_inl` -- DNL and INL by the code-density
  (histogram) method with a uniform ramp input (IEEE 1241 style). DNL uses the
  *endpoint* normalisation: the end codes (the lowest and highest code
  reached, normally 0 and ``N - 1``), whose widths are unbounded, are
  excluded, and the average width of the inner codes defines 1 LSB. What is
  excluded is returned (``return_range=True``), never narrowed silently. INL
  is given at the code transitions: ``inl[k]`` is the deviation of the lower
  edge of code ``k`` from the straight line through the first and last
  transitions, i.e. the running sum of the DNL of the inner codes below ``k``.
* :func:`static_linearity` -- all of the above for one front end with its
  comparator noise switched off, plus missing codes (codes that never appear
  over a dense ramp that also overdrives both ends, so end codes an unscaled
  CDAC cannot reach count), transition levels, and offset and gain error
  (endpoint and best fit, LSB).

Dynamic (noise on)
* :func:`spectrum_metrics` -- SNDR, SNR, SFDR, THD (harmonics 2..H aliased
  into the first Nyquist zone) and ENOB from a coherently sampled sine (prime
  number of cycles in a power-of-two record, no window): one-sided power
  spectrum with DC and the Nyquist bin counted once, ``ENOB = (SNDR - 1.76) /
  6.02`` without amplitude correction. Codes are reconstructed at the code
  centre; DC is excluded from noise and distortion.
* :func:`sinad` / :func:`enob` -- the SNDR and ENOB of the above.
* :func:`noise_error_rms` -- input-referred error power the comparator noise
  adds over the noise-free conversion of the same instance.

Approximate conversion
* :func:`early_stop_error` -- ``mean`` and ``max |code_k - code_full|`` per
  ``active_steps`` over a dense uniform ramp (the bias of the rounded-up
  midpoint fill, see ``docs/sar.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.analog.sar_frontend import AnalogFrontEnd
from model.golden.sar import SARConfig, sar_convert


def ramp(points: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """``points`` inputs evenly spaced over ``[lo, hi)`` (uniform code-density input)."""
    return lo + (hi - lo) * np.arange(points) / points


def noise_free(fe: AnalogFrontEnd) -> AnalogFrontEnd:
    """The same front end (same capacitor and offset arrays, same seed) with noise 0."""
    params = {**fe.params, "noise": 0.0} if fe.params else {}
    return AnalogFrontEnd(
        fe.weights, fe.offset, noise=0.0, seed=fe.seed, out_width=fe.out_width, params=params
    )


def transfer_function(
    cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 64, pad_codes: int = 4, active_steps=None
):
    """Codes of every column over a uniform ramp, ``per_code`` points per ideal code.

    The ramp steps by exactly ``2 / (2**out_width * per_code)`` (a power of two
    when ``per_code`` is, so every point is exact) from ``pad_codes`` LSB below
    -1 to ``pad_codes`` LSB above +1, so an ideal converter gets exactly
    ``per_code`` hits on every inner code. Returns ``(v [points], codes
    [points, columns])``.
    """
    n = 1 << cfg.out_width
    idx = np.arange(-pad_codes * per_code, (n + pad_codes) * per_code)
    v = -1.0 + idx * (2.0 / (n * per_code))
    codes, _ = sar_convert(cfg, fe, np.repeat(v[:, None], cfg.columns, axis=1), active_steps)
    return v, codes


def code_density(codes, out_width: int) -> np.ndarray:
    """Histogram of codes [samples, columns] -> counts [columns, 2**out_width]."""
    codes = np.asarray(codes, dtype=np.int64)
    n = 1 << out_width
    cols = codes.shape[1]
    flat = codes + n * np.arange(cols)[None, :]
    return np.bincount(flat.ravel(), minlength=n * cols).reshape(cols, n)


def analysed_range(hist, min_hits: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``(first, last)`` [columns]: the end codes :func:`dnl_inl` uses for each column.

    The lowest and highest code with more than ``min_hits`` times the median
    count (``min_hits=0``: any hit). Codes ``<= first`` and ``>= last`` are
    outside the DNL; with noise on, ``min_hits > 0`` keeps codes reached only
    by comparator noise out of the ends.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[1]
    hits = hist > min_hits * np.median(hist, axis=1, keepdims=True)
    first = np.argmax(hits, axis=1)
    last = n - 1 - np.argmax(hits[:, ::-1], axis=1)
    return first, last


def dnl_inl(hist, min_hits: float = 0.25, return_range: bool = False):
    """Endpoint DNL and INL (LSB) from a code-density histogram [columns, N].

    The end codes of each column (:func:`analysed_range`; normally 0 and N-1)
    are excluded: their widths are unbounded, and when offset and gain push
    the clipped full scale below the last code, the clipped ramp piles up in
    the highest reached code. Returns ``dnl [columns, N]`` (NaN outside the
    inner codes; a missing inner code has DNL -1) and ``inl [columns, N]``:
    ``inl[:, k]`` is the INL of the transition into code k, 0 at the first and
    last inner transitions, NaN outside. With ``return_range=True`` also
    ``first, last`` [columns], the end codes (everything at or outside them is
    not analysed: report it).
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[1]
    first, last = analysed_range(hist, min_hits)
    first, last = first[:, None], last[:, None]
    k = np.arange(n)[None, :]
    inner = (k > first) & (k < last)
    avg = (hist * inner).sum(axis=1, keepdims=True) / np.maximum(
        inner.sum(axis=1, keepdims=True), 1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        dnl = np.where(inner, hist / avg - 1.0, np.nan)
    run = np.cumsum(np.where(inner, dnl, 0.0), axis=1)
    inl = np.full(hist.shape, np.nan)
    inl[:, 1:] = run[:, :-1]
    inl = np.where((k > first) & (k <= last), inl, np.nan)
    if return_range:
        return dnl, inl, first[:, 0], last[:, 0]
    return dnl, inl


def dnl_inl_of(cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 64, active_steps=None):
    """DNL/INL of every column from a ramp over exactly [-1, 1) (no clipped points).

    Uses ``fe`` as given (with its noise, if any); :func:`static_linearity` is
    the noise-free measurement.
    """
    _, codes = transfer_function(cfg, fe, per_code, pad_codes=0, active_steps=active_steps)
    return dnl_inl(code_density(codes, cfg.out_width))


def transition_levels(hist, per_code: int) -> np.ndarray:
    """Transition levels ``T [columns, N]`` in LSB of input from a histogram of a ramp over
    exactly ``[-1, 1)`` with ``per_code`` points per LSB (monotonic transfer assumed).

    ``T[:, k]`` is the input ``x`` at which the code changes from below ``k`` to
    ``k`` or above: the ramp's start plus the hits of all lower codes, with a
    resolution of ``1 / per_code`` LSB (ideal: ``T[k] = k``). NaN where it is
    not observed: ``k <= first`` (at or below the ramp start, ``x = 0``) and
    ``k > last`` (above ``x = N``), with ``first``/``last`` the lowest and
    highest code hit.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[1]
    cum = np.zeros_like(hist)
    cum[:, 1:] = np.cumsum(hist, axis=1)[:, :-1]
    first, last = analysed_range(hist, 0.0)
    k = np.arange(n)[None, :]
    ok = (k > first[:, None]) & (k <= last[:, None])
    return np.where(ok, cum / per_code, np.nan)


def offset_gain(t: np.ndarray, out_width: int) -> dict[str, np.ndarray]:
    """Offset and gain error (LSB) per column from transition levels [columns, N].

    Definitions (input-referred, LSB; a straight line ``T[k] = a + b k``
    through the observed transitions):

    * ``offset`` = ``1 - (a + b)``: how far the first transition (ideal at
      ``x = 1``) comes early, i.e. how much the codes are shifted *up*; an
      otherwise ideal column with comparator offset ``o`` has offset ``o``.
    * ``gain`` = ``(b - 1) * (N - 2)``: the error of the span from the first
      to the last transition (ideal ``N - 2`` LSB); positive = the converter
      needs more input than ideal for the same codes (gain below 1). CDAC
      weights all ``(1 + g)`` times nominal give ``g * (N - 2)``.

    ``endpoint``: the line through the lowest and highest observed transition
    (extrapolated to ``k = 1`` and ``N - 1`` when an end code is missing);
    ``fit``: least squares over all observed transitions.
    """
    t = np.asarray(t, dtype=np.float64)
    n = 1 << out_width
    k = np.arange(n, dtype=np.float64)
    ok = np.isfinite(t)
    cols = t.shape[0]
    out = {
        f"{w}_{m}": np.full(cols, np.nan) for w in ("offset", "gain") for m in ("endpoint", "fit")
    }
    for c in range(cols):
        kk, tt = k[ok[c]], t[c, ok[c]]
        if kk.size < 2:
            continue
        b_e = (tt[-1] - tt[0]) / (kk[-1] - kk[0])
        a_e = tt[0] - b_e * kk[0]
        b_f, a_f = np.polyfit(kk, tt, 1)
        for m, a, b in (("endpoint", a_e, b_e), ("fit", a_f, b_f)):
            out[f"offset_{m}"][c] = 1.0 - (a + b)
            out[f"gain_{m}"][c] = (b - 1.0) * (n - 2)
    return out


@dataclass(frozen=True)
class StaticLinearity:
    """Noise-free static figures of every column (see :func:`static_linearity`).

    Arrays are per column. ``hist`` counts the ramp over exactly ``[-1, 1)``
    (the DNL input); ``hist_padded`` the ramp that overdrives both ends by
    ``pad_codes`` LSB (the missing-code input). ``first``/``last`` are the end
    codes excluded from the DNL, ``excluded[c]`` every code the DNL does not
    analyse for column ``c`` (the ends and anything outside them),
    ``missing[c]`` the codes column ``c`` never outputs, end codes included.
    """

    per_code: int
    pad_codes: int
    hist: np.ndarray
    hist_padded: np.ndarray
    dnl: np.ndarray
    inl: np.ndarray
    first: np.ndarray
    last: np.ndarray
    excluded: list
    missing: list
    transitions: np.ndarray
    offset_endpoint: np.ndarray
    gain_endpoint: np.ndarray
    offset_fit: np.ndarray
    gain_fit: np.ndarray

    def per_column(self) -> list[dict]:
        """JSON-able figures of every column."""
        rows = []
        for c in range(self.hist.shape[0]):
            d, i = self.dnl[c], self.inl[c]
            rows.append(
                {
                    "column": c,
                    "missing_codes": [int(x) for x in self.missing[c]],
                    "n_missing": len(self.missing[c]),
                    "dnl_excluded_codes": [int(x) for x in self.excluded[c]],
                    "max_abs_dnl": nanmax_abs(d),
                    "max_abs_inl": nanmax_abs(i),
                    "offset_endpoint_lsb": float(self.offset_endpoint[c]),
                    "gain_endpoint_lsb": float(self.gain_endpoint[c]),
                    "offset_fit_lsb": float(self.offset_fit[c]),
                    "gain_fit_lsb": float(self.gain_fit[c]),
                }
            )
        return rows

    def summary(self, full_code: int) -> dict:
        """JSON-able summary over the columns."""
        return {
            **missing_code_summary(self.missing, full_code),
            "max_abs_dnl": nanmax_abs(self.dnl),
            "max_abs_inl": nanmax_abs(self.inl),
            "offset_endpoint_lsb": column_stats(self.offset_endpoint),
            "gain_endpoint_lsb": column_stats(self.gain_endpoint),
            "offset_fit_lsb": column_stats(self.offset_fit),
            "gain_fit_lsb": column_stats(self.gain_fit),
        }


def column_stats(a) -> dict:
    """Mean, standard deviation, minimum and maximum of a per-column figure (JSON-able)."""
    a = np.asarray(a, dtype=np.float64)
    return {"mean": float(np.mean(a)), "std": float(np.std(a)),
            "min": float(np.min(a)), "max": float(np.max(a))}  # fmt: skip


def missing_code_summary(missing, full_code: int) -> dict:
    """How many codes are missing and where, over the columns (``missing``: per column, the
    missing codes); shared by the ramp and the exact reports."""
    n_miss = np.array([len(m) for m in missing])

    def has(pred):
        return int(sum(any(pred(x) for x in m) for m in missing))

    return {
        "columns": len(missing),
        "total_missing_codes": int(n_miss.sum()),
        "columns_with_missing_codes": int((n_miss > 0).sum()),
        "columns_missing_code_0": has(lambda x: x == 0),
        "columns_missing_full_code": has(lambda x: x == full_code),
        "columns_missing_inner_codes": has(lambda x: 0 < x < full_code),
        "max_missing_per_column": int(n_miss.max()) if n_miss.size else 0,
    }


def nanmax_abs(a) -> float:
    """Largest finite magnitude of ``a`` (NaN if there is none)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return float(np.nanmax(a)) if np.isfinite(a).any() else float("nan")


def static_linearity(
    cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 64, pad_codes: int = 4, active_steps=None
) -> StaticLinearity:
    """Noise-free static linearity of every column of ``fe`` (its noise is switched off).

    One dense ramp, ``per_code`` points per LSB (resolution ``1/per_code``
    LSB: a code narrower than that can read as missing), overdriving both
    ends by ``pad_codes`` LSB. Missing codes: codes with no hit anywhere on
    it (end codes included: with unscaled CDAC weights, code ``N - 1`` needs
    ``sum(w_act) - offset <= N``). DNL/INL: the unclipped part, endpoint
    normalisation, every code with a hit counts as reached (``min_hits=0``);
    inner missing codes have DNL -1. Transitions, offset and gain:
    :func:`transition_levels`, :func:`offset_gain`.
    """
    quiet = noise_free(fe)
    v, codes = transfer_function(cfg, quiet, per_code, pad_codes, active_steps)
    n = 1 << cfg.out_width
    hist_padded = code_density(codes, cfg.out_width)
    inside = (v >= -1.0) & (v < 1.0)
    hist = code_density(codes[inside], cfg.out_width)
    dnl, inl, first, last = dnl_inl(hist, min_hits=0.0, return_range=True)
    k = np.arange(n)
    excluded = [k[(k <= f) | (k >= la)] for f, la in zip(first, last, strict=True)]
    missing = [np.flatnonzero(h == 0) for h in hist_padded]
    t = transition_levels(hist, per_code)
    og = offset_gain(t, cfg.out_width)
    return StaticLinearity(
        per_code=per_code,
        pad_codes=pad_codes,
        hist=hist,
        hist_padded=hist_padded,
        dnl=dnl,
        inl=inl,
        first=first,
        last=last,
        excluded=excluded,
        missing=missing,
        transitions=t,
        **og,
    )


# -- dynamic -------------------------------------------------------------------
def sine_input(samples: int, cycles: int, amplitude: float, columns: int) -> np.ndarray:
    """Coherent sine ``amplitude * sin(2 pi cycles n / samples)`` for every column."""
    n = np.arange(samples)
    s = amplitude * np.sin(2 * np.pi * cycles * n / samples)
    return np.repeat(s[:, None], columns, axis=1)


def power_spectrum(codes) -> np.ndarray:
    """One-sided mean-square power per bin [samples//2 + 1, columns] of codes reconstructed
    at the code centre, in LSB**2: ``|X_k|**2 / M**2``, doubled for ``0 < k < M/2`` (DC and,
    for even ``M``, the Nyquist bin appear once in the two-sided spectrum). Sums to the
    mean square of the record (Parseval)."""
    y = np.asarray(codes, dtype=np.float64) + 0.5
    m = y.shape[0]
    p = np.abs(np.fft.rfft(y, axis=0)) ** 2 / m**2
    p[1 : (m + 1) // 2] *= 2.0
    return p


def harmonic_bins(cycles: int, samples: int, harmonics: int = 10) -> list[int]:
    """Bins of harmonics 2..``harmonics`` of a tone in bin ``cycles``, aliased into
    ``[0, samples/2]``; harmonics landing on DC or on the tone are dropped, duplicates once."""
    out = []
    for h in range(2, harmonics + 1):
        b = (h * cycles) % samples
        b = min(b, samples - b)
        if b not in (0, cycles) and b not in out:
            out.append(b)
    return out


def spectrum_metrics(codes, cycles: int, out_width: int, harmonics: int = 10) -> dict:
    """SNDR, SNR, SFDR, THD, ENOB per column of codes [samples, columns] of a coherent sine.

    Returns arrays [columns]: ``sndr``, ``snr`` (harmonics excluded), ``sfdr``
    (dBc: tone over the largest other non-DC bin), ``thd`` (dBc, harmonics
    2..``harmonics`` aliased), ``enob`` = ``(sndr - 1.76) / 6.02``,
    ``signal_dbfs``; and ``power`` [bins, columns] (LSB**2, one-sided),
    ``dbfs`` (relative to a full-scale sine, ``(N/2)**2 / 2``), ``bins``
    (harmonic bins), ``spur_bin`` [columns].
    """
    p = power_spectrum(codes)
    hb = harmonic_bins(cycles, np.asarray(codes).shape[0], harmonics)
    p_sig = p[cycles]
    p_nd = p[1:].sum(axis=0) - p_sig
    p_h = p[hb].sum(axis=0) if hb else np.zeros_like(p_sig)
    others = p.copy()
    others[[0, cycles]] = -np.inf
    spur = np.argmax(others, axis=0)
    p_spur = np.take_along_axis(p, spur[None, :], axis=0)[0]
    fs = (2.0 ** (out_width - 1)) ** 2 / 2
    with np.errstate(divide="ignore"):
        sndr = 10 * np.log10(p_sig / p_nd)
        out = {
            "sndr": sndr,
            "snr": 10 * np.log10(p_sig / (p_nd - p_h)),
            "sfdr": 10 * np.log10(p_sig / p_spur),
            "thd": 10 * np.log10(p_h / p_sig),
            "enob": enob_from_sinad(sndr),
            "signal_dbfs": 10 * np.log10(p_sig / fs),
            "power": p,
            "dbfs": 10 * np.log10(np.maximum(p, 1e-30) / fs),
            "bins": hb,
            "spur_bin": spur,
        }
    return out


def sinad(codes, cycles: int) -> np.ndarray:
    """SINAD (= SNDR) in dB per column of codes [samples, columns] of a coherent sine."""
    p = power_spectrum(codes)
    p_sig = p[cycles]
    with np.errstate(divide="ignore"):
        return 10 * np.log10(p_sig / (p[1:].sum(axis=0) - p_sig))


def enob_from_sinad(s) -> np.ndarray:
    """``(SINAD - 1.76) / 6.02``."""
    return (np.asarray(s) - 1.76) / 6.02


def sine_codes(
    cfg: SARConfig,
    fe: AnalogFrontEnd,
    active_steps=None,
    samples: int = 4096,
    cycles: int = 127,
    amplitude: float = 0.99,
) -> np.ndarray:
    """Codes [samples, columns] of the coherent sine test."""
    v = sine_input(samples, cycles, amplitude, cfg.columns)
    return sar_convert(cfg, fe, v, active_steps)[0]


def enob(
    cfg: SARConfig,
    fe: AnalogFrontEnd,
    active_steps=None,
    samples: int = 4096,
    cycles: int = 127,
    amplitude: float = 0.99,
) -> np.ndarray:
    """ENOB of every column from a sine test (amplitude as a fraction of full scale)."""
    codes = sine_codes(cfg, fe, active_steps, samples, cycles, amplitude)
    return enob_from_sinad(sinad(codes, cycles))


def noise_error_rms(cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 16) -> np.ndarray:
    """Input-referred rms error (LSB) the comparator noise adds, per column.

    Over a ramp on exactly ``[-1, 1)``: ``sqrt(P_noisy - P_quiet)`` with ``P``
    the mean square of ``code + 0.5 - x`` (its mean removed), for ``fe`` and
    for :func:`noise_free` of it. A noise that adds to the held input once per
    conversion would give its own sigma; independent noise per decision gives
    less (decisions far from the threshold are not upset).
    """
    n = 1 << cfg.out_width
    v, noisy = transfer_function(cfg, fe, per_code, pad_codes=0)
    _, quiet = transfer_function(cfg, noise_free(fe), per_code, pad_codes=0)
    x = (v + 1.0) / 2.0 * n

    def power(c):
        e = c + 0.5 - x[:, None]
        return (e - e.mean(axis=0)).var(axis=0) + 0.0

    return np.sqrt(np.maximum(power(noisy) - power(quiet), 0.0))


# -- approximate conversion ----------------------------------------------------
def early_stop_error(cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 16) -> dict:
    """Error of ``active_steps = k`` against the full conversion, every ``k`` and column.

    Over a uniform ramp on exactly ``[-1, 1)`` (``per_code`` points per LSB),
    both conversions with the same decisions' noise draws. Returns ``mean``
    and ``max_abs`` [steps, columns] of ``code_k - code_full`` (row ``k - 1``)
    and ``bound`` [steps], ``ceil(S_k / 2)``.
    """
    n = 1 << cfg.out_width
    v = np.repeat(ramp(n * per_code)[:, None], cfg.columns, axis=1)
    full, _ = sar_convert(cfg, fe, v)
    mean = np.zeros((cfg.steps, cfg.columns))
    worst = np.zeros((cfg.steps, cfg.columns), dtype=np.int64)
    for k in range(1, cfg.steps + 1):
        d = sar_convert(cfg, fe, v, k)[0] - full
        mean[k - 1] = d.mean(axis=0)
        worst[k - 1] = np.abs(d).max(axis=0)
    bound = np.array([-(-cfg.skipped_sum(k) // 2) for k in range(1, cfg.steps + 1)])
    return {"mean": mean, "max_abs": worst, "bound": bound}
