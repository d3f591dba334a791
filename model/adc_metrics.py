"""Static and dynamic characterisation of the SAR ADC model, vectorised over columns.

* :func:`transfer_function` -- codes of every column over a dense input ramp.
* :func:`code_density` / :func:`dnl_inl` -- DNL and INL by the code-density
  (histogram) method with a uniform ramp input (IEEE 1241 style). DNL uses the
  *endpoint* normalisation: the two end codes (0 and ``2**out_width - 1``),
  whose widths are unbounded, are excluded, and the average width of the
  inner codes defines 1 LSB. INL is given at the code transitions: ``inl[k]``
  is the deviation of the lower edge of code ``k`` (k = 1..N-1) from the
  straight line through the first and last transitions, i.e. the running
  sum of the DNL of codes 1..k-1 (so ``inl[1] = inl[N-1] = 0``).
* :func:`sine_test` / :func:`enob` -- SINAD and ENOB from a coherently sampled
  sine (prime number of cycles in a power-of-two record, no window):
  ``ENOB = (SINAD - 1.76) / 6.02``. Codes are reconstructed at the code
  centre; the DC bin is excluded from noise and distortion.
"""

from __future__ import annotations

import numpy as np

from model.sar import AnalogFrontEnd, SARConfig, sar_convert


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


def dnl_inl(hist) -> tuple[np.ndarray, np.ndarray]:
    """Endpoint DNL and INL (LSB) from a code-density histogram [columns, N].

    Returns ``dnl [columns, N]`` (NaN for the end codes 0 and N-1; a missing
    code has DNL -1) and ``inl [columns, N]`` (``inl[:, 0]`` is NaN; ``inl[:, k]``
    is the INL of the transition into code k).
    """
    hist = np.asarray(hist, dtype=np.float64)
    inner = hist[:, 1:-1]
    avg = inner.mean(axis=1, keepdims=True)
    dnl = np.full(hist.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        dnl[:, 1:-1] = inner / avg - 1.0
    inl = np.full(hist.shape, np.nan)
    inl[:, 1] = 0.0
    inl[:, 2:] = np.cumsum(dnl[:, 1:-1], axis=1)
    return dnl, inl


def dnl_inl_of(cfg: SARConfig, fe: AnalogFrontEnd, per_code: int = 64, active_steps=None):
    """DNL/INL of every column from :func:`transfer_function`'s ramp."""
    _, codes = transfer_function(cfg, fe, per_code, active_steps=active_steps)
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
