"""Exact static figures of the noise-free SAR model, and transition noise with noise on.

The noise-free conversion of a column is a deterministic, piecewise-constant function
of the held input ``x`` (LSB, ``model.analog.sar_frontend``): decision ``i`` is ``x +
offset >= D(s)`` for the trial switch state ``s``, so the code can only change where
``x = D(s) - offset`` for a reachable trial state. :func:`code_segments` walks the
search tree over an input interval, splitting it at each step's threshold, and returns
the exact segments (boundaries to floating-point precision: the thresholds are the
front end's own ``D(s)`` floats, ``AnalogFrontEnd.dac_level``). No ramp, no resolution
limit, non-monotonic transfers included.

:func:`exact_static` derives, per column (IEEE 1241 code-transition conventions, ``k``
is the transition from code ``k - 1`` to ``k``, ideal at ``x = k``):

* ``widths[k]``: the measure of the inputs in ``[-1, 1]`` that give code ``k`` (what a
  code-density test converges to), ``missing`` the codes of width 0 not produced at
  the ends ``v = +-1`` either;
* ``transitions[k]``: ``x0 + measure{x >= x0 : code(x) < k}`` over an interval that
  extends beyond the full scale (linear front ends: the comparator law holds for any
  ``x``, so the transition into a code that clipping makes missing is still defined,
  ``virtual``). For a monotonic column it is the input where the code first reaches
  ``k``; for a non-monotonic one it is the code-density equivalent, and the real
  crossings are listed in ``drops``;
* ``monotonic``, ``drops``: every place in the input range where the code decreases,
  with the input extent over which it stays below the code it dropped from;
* DNL and INL, endpoint (the definitions of ``adc_metrics.dnl_inl``: end codes excluded,
  mean inner width = 1 LSB) and best fit (IEEE 1241 independently based: ``G T[k] + V_os
  - k`` with ``G``, ``V_os`` the least-squares fit of ``k`` on ``T[k]`` over the
  observed transitions; the sign of the endpoint INL, positive = late transition);
* offset and gain error, both in this project's form (``adc_metrics.offset_gain``) and
  IEEE 1241's (``G T[k] + V_os = k``: gain ``G``, offset ``V_os`` LSB), terminal based
  on the actual ``T[1]`` and ``T[N-1]`` (virtual when beyond the full scale: no
  extrapolation) and independently based.

:func:`transition_noise` measures, with the comparator noise on, the probability that
the code is ``>= k`` on a grid around each exact transition (repeated conversions with
independent noise draws) and gives the Gaussian-equivalent sigma of each transition:
``sqrt(pi) * integral p (1 - p) dx``, exact for ``p = Phi((x - T) / sigma)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.analog.sar_frontend import AnalogFrontEnd
from model.golden.sar import SARConfig, correct, sar_convert


def _domain(cfg: SARConfig, fe: AnalogFrontEnd):
    """``(real_lo, real_hi, ext_lo, ext_hi)`` [columns]: the held input at ``v = -1, +1``
    and the interval the search is walked over (beyond the full scale for a linear front
    end, where the comparator law holds for any ``x``)."""
    ends = fe.held_input(np.repeat(np.array([[-1.0], [1.0]]), cfg.columns, axis=1))
    lo, hi = ends[0].copy(), ends[1].copy()
    if not fe.linear:
        return lo, hi, lo.copy(), hi.copy()
    n = 1 << cfg.out_width
    pad = 4.0 + np.abs(fe.offset) + np.maximum(fe.weights.sum(axis=1) - n, 0.0)
    return lo, hi, lo - pad, hi + pad


def code_segments(cfg: SARConfig, fe: AnalogFrontEnd, lo, hi, active_steps=None):
    """Exact noise-free segments of every column over ``[lo[c], hi[c])`` (held input, LSB).

    Returns ``(column, start, stop, code)`` flat arrays sorted by column then start:
    on ``[start, stop)`` the noise-free conversion of ``column`` gives ``code``.
    Adjacent segments with the same code are merged.
    """
    k = cfg.steps if active_steps is None else cfg.check_active_steps(active_steps)
    cols = cfg.columns
    col = np.arange(cols)
    start, stop = np.asarray(lo, float).copy(), np.asarray(hi, float).copy()
    kept = np.zeros(cols, dtype=np.int64)
    for i in range(k):
        trial = kept | (1 << i)
        states = np.zeros((trial.size, cols), dtype=np.int64)
        states[np.arange(trial.size), col] = trial
        level = fe.dac_level(states)[np.arange(trial.size), col]
        t = level - fe.offset[col]  # decision 1 iff x >= t (x + offset >= D, exactly)
        below = start < t  # [start, min(stop, t)) decides 0
        above = stop > t  # [max(start, t), stop) decides 1
        parts = [
            (col, start, np.minimum(stop, t), kept, below),
            (col, np.maximum(start, t), stop, trial, above),
        ]
        # interleave (below part, then above part) to keep segments sorted
        col, start, stop, kept = (
            np.stack([p[j] for p in parts], axis=1).ravel()[
                np.stack([p[4] for p in parts], axis=1).ravel()
            ]
            for j in range(4)
        )
    bits = (kept[:, None] >> np.arange(cfg.steps)) & 1
    code = correct(cfg, bits, k)
    keep = np.ones(code.size, dtype=bool)
    keep[1:] = (col[1:] != col[:-1]) | (code[1:] != code[:-1])
    idx = np.flatnonzero(keep)
    stop_m = np.append(start[idx[1:]], 0.0)
    last = np.append(col[idx[1:]] != col[idx[:-1]], True)  # last segment of its column
    stop_m[last] = np.asarray(hi, float)[col[idx[last]]]
    return col[idx], start[idx], stop_m, code[idx]


@dataclass(frozen=True)
class ExactStatic:
    """Exact noise-free static figures of every column (see :func:`exact_static`).

    Arrays are [columns] or [columns, N]; ``transitions``, ``dnl``, ``inl``,
    ``inl_best_fit`` are NaN where not defined; ``segments[c]`` the ``(start, stop,
    code)`` arrays of column ``c`` over the real input range (held input, LSB).
    """

    widths: np.ndarray
    transitions: np.ndarray
    virtual: np.ndarray
    first: np.ndarray
    last: np.ndarray
    missing: list
    monotonic: np.ndarray
    drops: list
    dnl: np.ndarray
    inl: np.ndarray
    inl_best_fit: np.ndarray
    offset_endpoint: np.ndarray
    gain_endpoint: np.ndarray
    offset_fit: np.ndarray
    gain_fit: np.ndarray
    ieee_gain_endpoint: np.ndarray
    ieee_offset_endpoint: np.ndarray
    ieee_gain_fit: np.ndarray
    ieee_offset_fit: np.ndarray
    segments: list


def _input_lsb(fe: AnalogFrontEnd, x, c: int):
    """Held input ``x`` (LSB) of column ``c`` -> input in LSB ``(v + 1) / 2 * N``."""
    if fe.linear:
        return x
    n = float(1 << fe.out_width)
    u = (2.0 * np.asarray(x) / n - 1.0) / fe.gain[c]
    a = fe.compression[c]
    v = np.arctanh(np.clip(a * u, -1 + 1e-16, 1 - 1e-16)) / a if a > 0 else u
    return (v + 1.0) / 2.0 * n


def exact_static(cfg: SARConfig, fe: AnalogFrontEnd, active_steps=None) -> ExactStatic:
    """Exact noise-free static figures of every column of ``fe`` (its noise is not used).

    Everything is in LSB of *input* (``(v + 1) / 2 * N``; the held input for a linear
    front end). See the module docstring for the definitions.
    """
    n = 1 << cfg.out_width
    cols = cfg.columns
    rlo, rhi, elo, ehi = _domain(cfg, fe)
    col, s0, s1, code = code_segments(cfg, fe, elo, ehi, active_steps)
    quiet_end = sar_convert(
        cfg,
        AnalogFrontEnd(fe.weights, fe.offset, 0.0, fe.seed, fe.out_width,
                       {**fe.params, "noise": 0.0}, fe.gain, fe.compression),
        np.array([[-1.0] * cols, [1.0] * cols]),
        active_steps,
    )[0]  # fmt: skip
    kk = np.arange(n)
    out = {
        name: np.full((cols, n), np.nan)
        for name in ("widths", "transitions", "dnl", "inl", "inl_best_fit")
    }
    virtual = np.zeros((cols, n), dtype=bool)
    per = {name: np.full(cols, np.nan) for name in (
        "offset_endpoint", "gain_endpoint", "offset_fit", "gain_fit", "ieee_gain_endpoint",
        "ieee_offset_endpoint", "ieee_gain_fit", "ieee_offset_fit")}  # fmt: skip
    first, last = np.zeros(cols, dtype=np.int64), np.zeros(cols, dtype=np.int64)
    monotonic = np.ones(cols, dtype=bool)
    missing, drops, segments = [], [], []
    for c in range(cols):
        m = col == c
        a, b, k = _input_lsb(fe, s0[m], c), _input_lsb(fe, s1[m], c), code[m]
        lo_in, hi_in = _input_lsb(fe, rlo[c], c), _input_lsb(fe, rhi[c], c)
        # widths over the real input range
        ra, rb = np.clip(a, lo_in, hi_in), np.clip(b, lo_in, hi_in)
        width = np.bincount(k, weights=rb - ra, minlength=n)
        present = (width > 0) | np.isin(kk, quiet_end[:, c])
        out["widths"][c] = width
        missing.append(kk[~present])
        first[c], last[c] = kk[present].min(), kk[present].max()
        inside = rb > ra
        segments.append((ra[inside], rb[inside], k[inside]))
        # transitions: x0 + measure{code < k} over the extended interval
        t = np.full(n, np.nan)
        t[1:] = a[0] + np.cumsum(np.bincount(k, weights=b - a, minlength=n))[:-1]
        full_range = k[0] == 0 and k[-1] == cfg.full_code  # every transition inside
        if not full_range:  # non-linear front end: only those the range covers
            t[(kk <= k[0]) | (kk > k[-1])] = np.nan
        out["transitions"][c] = t
        virtual[c] = np.isfinite(t) & ((t < lo_in) | (t > hi_in))
        # monotonicity: code drops inside the input range
        dc = []
        kr = segments[-1][2]
        for j in np.flatnonzero(np.diff(kr) < 0):
            top = kr[: j + 1].max()
            rec = np.flatnonzero(kr[j + 1 :] >= top)
            end = segments[-1][0][j + 1 + rec[0]] if rec.size else hi_in
            x = segments[-1][0][j + 1]
            dc.append({"input_lsb": float(x), "from_code": int(kr[j]),
                       "to_code": int(kr[j + 1]), "depth_lsb": int(top - kr[j + 1]),
                       "extent_lsb": float(end - x)})  # fmt: skip
        drops.append(dc)
        monotonic[c] = not dc
        # DNL/INL, endpoint (as adc_metrics.dnl_inl): inner codes first < k < last
        f, la = first[c], last[c]
        inner = (kk > f) & (kk < la)
        if inner.any():
            avg = width[inner].mean()
            out["dnl"][c, inner] = width[inner] / avg - 1.0
            run = np.cumsum(np.where(inner, out["dnl"][c], 0.0))
            ok = (kk > f) & (kk <= la)
            out["inl"][c, ok] = np.concatenate([[0.0], run[:-1]])[ok]
        # best fit (IEEE 1241 independently based) over the observed transitions
        obs = np.isfinite(t) & ~virtual[c] & (kk > f) & (kk <= la)
        if obs.sum() >= 2:
            g_f, v_f = np.polyfit(t[obs], kk[obs], 1)  # k = G T + V_os, least squares
            out["inl_best_fit"][c, obs] = g_f * t[obs] + v_f - kk[obs]
            per["ieee_gain_fit"][c], per["ieee_offset_fit"][c] = g_f, v_f
            bb, aa = np.polyfit(kk[obs], t[obs], 1)
            per["offset_fit"][c], per["gain_fit"][c] = 1.0 - (aa + bb), (bb - 1.0) * (n - 2)
        # endpoint offset/gain: the actual T[1] and T[N-1] (virtual if beyond full scale)
        ends = [j for j in (1, n - 1) if np.isfinite(t[j])]
        if len(ends) < 2:
            fin = np.flatnonzero(np.isfinite(t))
            ends = [fin[0], fin[-1]] if fin.size >= 2 else []
        if ends:
            j0, j1 = ends
            bb = (t[j1] - t[j0]) / (j1 - j0)
            aa = t[j0] - bb * j0
            per["offset_endpoint"][c], per["gain_endpoint"][c] = 1.0 - (aa + bb), (bb - 1) * (n - 2)
            per["ieee_gain_endpoint"][c] = 1.0 / bb
            per["ieee_offset_endpoint"][c] = -aa / bb
    return ExactStatic(
        widths=out["widths"], transitions=out["transitions"], virtual=virtual, first=first,
        last=last, missing=missing, monotonic=monotonic, drops=drops, dnl=out["dnl"],
        inl=out["inl"], inl_best_fit=out["inl_best_fit"], segments=segments, **per,
    )  # fmt: skip


def transition_noise(
    cfg: SARConfig,
    fe: AnalogFrontEnd,
    transitions,
    repeats: int = 8,
    span: float = 4.0,
    points: int = 25,
    first_index: int = 1 << 40,
) -> dict:
    """Gaussian-equivalent sigma (LSB) of every transition level with the noise of ``fe``.

    For each column ``c`` and transition ``k`` (``transitions`` [columns, N] from
    :func:`exact_static`, input LSB of a linear front end), ``points`` inputs over
    ``T[k] +- span * noise``, each converted ``repeats`` times (independent noise draws:
    vector indices from ``first_index`` on). ``p(x)`` = the fraction of codes ``>= k``,
    ``p(1 - p)`` corrected for the sample (``R / (R - 1)``); ``sigma = sqrt(pi) * integral
    p (1 - p) dx`` (exact for a Gaussian CDF). Returns ``sigma`` [columns, N] (NaN where no
    transition, or where the grid would reach beyond the full scale, whose clipping would
    truncate ``p``), its standard error ``se`` (binomial, delta method) and the settings.
    """
    t = np.asarray(transitions, dtype=np.float64)
    n = 1 << cfg.out_width
    cols = cfg.columns
    sigma = np.full(t.shape, np.nan)
    se = np.full(t.shape, np.nan)
    if fe.noise == 0 or not fe.linear:
        if fe.noise == 0:
            sigma[np.isfinite(t)] = 0.0
        return {"sigma": sigma, "se": se, "repeats": repeats, "points": points, "span": span}
    d = np.linspace(-span, span, points) * fe.noise
    dx = d[1] - d[0]
    ok = np.isfinite(t) & (t - span * fe.noise >= 0) & (t + span * fe.noise <= n)  # unclipped
    ks = np.flatnonzero(ok.any(axis=0))
    tt = np.where(ok[:, ks], t[:, ks], 0.5 * n)  # [ks, ...] placeholder far from use
    x = tt.T[:, None, None, :] + d[None, :, None, None]  # [ks, points, 1, cols]
    x = np.broadcast_to(x, (ks.size, points, repeats, cols)).reshape(-1, cols)
    v = np.clip(2.0 * x / n - 1.0, -1.0, 1.0)
    codes = sar_convert(cfg, fe, v, first_index=first_index)[0]
    codes = codes.reshape(ks.size, points, repeats, cols)
    p = (codes >= ks[:, None, None, None]).mean(axis=2)  # [ks, points, cols]
    q = p * (1 - p) * repeats / max(repeats - 1, 1)
    s = np.sqrt(np.pi) * q.sum(axis=1) * dx  # [ks, cols]
    var = (dx**2 * (1 - 2 * p) ** 2 * p * (1 - p) / repeats).sum(axis=1)
    sigma[:, ks] = np.where(ok[:, ks], s.T, np.nan)
    se[:, ks] = np.where(ok[:, ks], np.sqrt(np.pi * var).T, np.nan)
    return {"sigma": sigma, "se": se, "repeats": repeats, "points": points, "span": span}
