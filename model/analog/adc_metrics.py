"""Static and dynamic characterisation of the SAR ADC model, vectorised over columns.

* :func:`transfer_function` -- codes of every column over a dense input ramp.
* :func:`code_density` / :func:`dnl_inl` -- DNL and INL by the code-density
  (histogram) method with a uniform ramp input (IEEE 1241 style). DNL uses the
  *endpoint* normalisation: the two end codes (normally 0 and
  ``2**out_width - 1``; the lowest and highest code reached), whose widths are
  unbounded, are excluded, and the average width of the inner codes defines
  1 LSB. INL is given at the code transitions: ``inl[k]`` is the deviation of
  the lower edge of code ``k`` from the straight line through the first and
  last transitions, i.e. the running sum of the DNL of the inner codes below
  ``k`` (so ``inl[1] = inl[N-1] = 0`` when every code is reached).
* :func:`sine_test` / :func:`enob` -- SINAD and ENOB from a coherently sampled
  sine (prime number of cycles in a power-of-two record, no window):
  ``ENOB = (SINAD - 1.76) / 6.02``. Codes are reconstructed at the code
  centre; the DC bin is excluded from noise and distortion.
"""

from __future__ import annotations

import numpy as np

from model.analog.sar_frontend import AnalogFrontEnd
from model.golden.sar import SARConfig, sar_convert


def ramp(points: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """``points`` inputs evenly spaced over ``[lo, hi)`` (uniform code-density input)."""
    return lo + (hi - lo) * np.arange(points) / points


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


def dnl_inl(hist, min_hits: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Endpoint DNL and INL (LSB) from a code-density histogram [columns, N].

    The end codes of each column -- its lowest and highest code with more than
    ``min_hits`` times the median count (so codes reached only by comparator
    noise do not count), normally 0 and N-1 -- are excluded: their widths are unbounded, and when
    offset and gain push the clipped full scale below the last code, the
    clipped ramp piles up in the highest reached code. Returns ``dnl [columns,
    N]`` (NaN outside the inner codes; a missing inner code has DNL -1) and
    ``inl [columns, N]``: ``inl[:, k]`` is the INL of the transition into code
    k, 0 at the first and last inner transitions, NaN outside.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[1]
    hits = hist > min_hits * np.median(hist, axis=1, keepdims=True)
    first = np.argmax(hits, axis=1)[:, None]
    last = (n - 1 - np.argmax(hits[:, ::-1], axis=1))[:, None]
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
    return dnl, inl


def dnl_inl_of(cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 64, active_steps=None):
    """DNL/INL of every column from a ramp over exactly [-1, 1) (no clipped points)."""
    _, codes = transfer_function(cfg, fe, per_code, pad_codes=0, active_steps=active_steps)
    return dnl_inl(code_density(codes, cfg.out_width))


def sine_input(samples: int, cycles: int, amplitude: float, columns: int) -> np.ndarray:
    """Coherent sine ``amplitude * sin(2 pi cycles n / samples)`` for every column."""
    n = np.arange(samples)
    s = amplitude * np.sin(2 * np.pi * cycles * n / samples)
    return np.repeat(s[:, None], columns, axis=1)


def sinad(codes, cycles: int) -> np.ndarray:
    """SINAD in dB per column of codes [samples, columns] of a coherent sine."""
    y = np.asarray(codes, dtype=np.float64) + 0.5
    y = y - y.mean(axis=0, keepdims=True)
    spec = np.abs(np.fft.rfft(y, axis=0)) ** 2
    p_sig = spec[cycles]
    p_nd = spec[1:].sum(axis=0) - p_sig
    with np.errstate(divide="ignore"):
        return 10 * np.log10(p_sig / p_nd)


def enob_from_sinad(s) -> np.ndarray:
    """``(SINAD - 1.76) / 6.02``."""
    return (np.asarray(s) - 1.76) / 6.02


def enob(
    cfg: SARConfig,
    fe: AnalogFrontEnd,
    active_steps=None,
    samples: int = 4096,
    cycles: int = 127,
    amplitude: float = 0.99,
) -> np.ndarray:
    """ENOB of every column from a sine test (amplitude as a fraction of full scale)."""
    v = sine_input(samples, cycles, amplitude, cfg.columns)
    codes, _ = sar_convert(cfg, fe, v, active_steps)
    return enob_from_sinad(sinad(codes, cycles))
