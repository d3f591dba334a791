"""Seeded NMPU stimulus: ADC codes and per-column parameters that reach every corner.

Shared by the cocotb benches, the Amaranth-simulator tests, the model tests
and ``make bench``. Parameters mix three regimes per column so one run covers the
linear region as well as saturation at both ends: full-range uniform values,
the format extremes, and small "calibrated-looking" values.
"""

from __future__ import annotations

import numpy as np

from model.golden.fixed import int_range
from model.nmpu import NMPUConfig


def _pick(rng: np.random.Generator, lo: int, hi: int, size: int, small: tuple[int, int]):
    """Per element: 40 % uniform, 20 % an extreme (lo/hi), 40 % uniform in ``small``."""
    regime = rng.choice(3, size=size, p=[0.4, 0.2, 0.4])
    uniform = rng.integers(lo, hi, size=size, endpoint=True)
    extreme = np.where(rng.random(size) < 0.5, lo, hi)
    s_lo, s_hi = max(lo, small[0]), min(hi, small[1])
    mild = rng.integers(s_lo, s_hi, size=size, endpoint=True)
    return np.select([regime == 0, regime == 1], [uniform, extreme], mild).astype(np.int64)


def random_params(cfg: NMPUConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Raw per-column parameters for every field the config has, within their formats."""
    params = {}
    for name in cfg.param_fields:
        fmt = cfg.param_format(name)
        one = 1 << fmt.frac_bits  # raw value of 1.0
        small = (-one // 4, one // 4) if name.endswith("offset") else (one // 2, 2 * one)
        if name == "bn_scale":
            # Scale that maps the stage-1 range roughly onto the output range, so
            # "mild" columns land in the linear region rather than saturating.
            span = max(abs(cfg.ranges["y"].lo), cfg.ranges["y"].hi, 1)
            out_units = 1 << (cfg.out_width + cfg.out_frac + cfg.out_lsb_cut + cfg.out_round_bits)
            target = max(1, out_units // span)
            small = (-target, 2 * target)
        params[name] = _pick(rng, fmt.min_raw, fmt.max_raw, cfg.columns, small)
    return params


def extreme_params(cfg: NMPUConfig, corner: str) -> dict[str, np.ndarray]:
    """All columns at one format corner: ``"max"`` (every field at max) or ``"min"``."""
    params = {}
    for name in cfg.param_fields:
        fmt = cfg.param_format(name)
        value = fmt.max_raw if corner == "max" else fmt.min_raw
        params[name] = np.full(cfg.columns, value, dtype=np.int64)
    return params


def random_codes(cfg: NMPUConfig, rng: np.random.Generator, vectors: int) -> np.ndarray:
    """ADC codes [vectors, phases, columns]: uniform, with min/max codes mixed in (10 % each)."""
    lo, hi = int_range(cfg.in_width, cfg.in_signed)
    shape = (vectors, cfg.phases, cfg.columns)
    codes = rng.integers(lo, hi, size=shape, endpoint=True)
    u = rng.random(shape)
    codes[u < 0.1] = lo
    codes[u > 0.9] = hi
    return codes.astype(np.int64)


def extreme_codes(cfg: NMPUConfig) -> np.ndarray:
    """Four vectors: all-min, all-max, and the two alternating min/max patterns."""
    lo, hi = int_range(cfg.in_width, cfg.in_signed)
    alt = np.where(np.arange(cfg.phases * cfg.columns) % 2 == 0, lo, hi)
    alt = alt.reshape(cfg.phases, cfg.columns)
    base = np.ones((cfg.phases, cfg.columns), dtype=np.int64)
    return np.stack([lo * base, hi * base, alt, lo + hi - alt]).astype(np.int64)


def input_beats(cfg: NMPUConfig, codes: np.ndarray) -> list[dict]:
    """The NMPU input payloads of ``codes`` [vectors, phases, columns], in stream order:
    per beat its lanes' codes, ``first``/``last`` of its phase, and its ``phase`` and ``beat``."""
    return [
        {
            "codes": codes[v, k, b * cfg.lanes : (b + 1) * cfg.lanes],
            "first": int(b == 0),
            "last": int(b == cfg.beats - 1),
            "phase": k,
            "beat": b,
        }
        for v in range(len(codes))
        for k in range(cfg.phases)
        for b in range(cfg.beats)
    ]
