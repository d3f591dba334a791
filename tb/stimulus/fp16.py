"""Seeded binary16 stimulus for the FP16 unit and its operators (FP16 side of ``tb.stimulus.nmpu``).

Parameters mix regimes per column, as the fixed-point generator does, so one run covers the
linear region, saturation at both ends, subnormals and infinities:
calibrated-looking values (most columns), random finite patterns, and special values
(zeros, subnormals, the largest finite value, infinities).
"""

from __future__ import annotations

import numpy as np

from model.golden.fixed import QFormat
from model.nmpu import NMPUConfig

#: Operand patterns of every class, both signs: zeros, subnormals (smallest, largest, one
#: between), the smallest normal, 1 and its neighbours, 1.5, 2, the largest finite value,
#: infinities and a NaN.
SPECIAL_PATTERNS = np.array(
    [
        *(0x0000, 0x0001, 0x0002, 0x0155, 0x03FF, 0x0400, 0x0401, 0x07FF, 0x0800),
        *(0x1000, 0x1400, 0x2E66, 0x3555, 0x3BFF, 0x3C00, 0x3C01, 0x3E00, 0x4000),
        *(0x4248, 0x57FF, 0x5800, 0x6400, 0x77FF, 0x7800, 0x7BFE, 0x7BFF, 0x7C00),
    ],
    dtype=np.uint16,
)
SPECIAL_PATTERNS = np.concatenate([SPECIAL_PATTERNS, SPECIAL_PATTERNS | 0x8000, [0x7E00]]).astype(
    np.uint16
)

_RAW16 = QFormat.parse("UQ(16,0)")

_EXTREMES = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00], np.uint16)


def random_finite(rng: np.random.Generator, size) -> np.ndarray:
    """Uniformly random finite binary16 patterns (every exponent equally likely)."""
    bits = rng.integers(0, 0x10000, size=size).astype(np.uint16)
    inf_or_nan = (bits & 0x7C00) == 0x7C00
    return np.where(inf_or_nan, bits & 0x83FF, bits).astype(np.uint16)  # exponent 31 -> 0


def _mix(rng: np.random.Generator, mild: np.ndarray) -> np.ndarray:
    """Per column: 70 % ``mild``, 15 % random finite, 15 % a special value."""
    n = mild.size
    regime = rng.choice(3, size=n, p=[0.7, 0.15, 0.15])
    special = _EXTREMES[rng.integers(0, _EXTREMES.size, n)]
    out = np.select([regime == 0, regime == 1], [mild, random_finite(rng, n)], special)
    return out.astype(np.uint16).view(np.float16)


def random_fp16_params(cfg: NMPUConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """float16 per-column parameters for every field the config has.

    The mild regime looks calibrated: scale near 1, offset a few code LSBs, and
    bn_scale/bn_offset mapping the accumulated range onto the output range.
    """
    n = cfg.columns
    code_max = 1 << (cfg.in_width - (1 if cfg.in_signed else 0))
    span = sum(code_max << s for s in cfg.phase_shifts)  # rough |acc| range
    out_max = cfg.out_range[1]
    mild = {
        "scale": rng.uniform(0.5, 2.0, n),
        "offset": rng.uniform(-4.0, 4.0, n),
        "bn_scale": rng.uniform(-0.5, 2.0, n) * out_max / max(span, 1),
        "bn_offset": rng.uniform(-0.25, 0.5, n) * out_max,
    }
    return {f: _mix(rng, mild[f].astype(np.float16).view(np.uint16)) for f in cfg.param_fields}


def extreme_fp16_params(cfg: NMPUConfig, corner: str) -> dict[str, np.ndarray]:
    """All columns at one corner: ``"max"`` (every field 65504) or ``"min"`` (-65504)."""
    value = np.float16(65504.0) if corner == "max" else np.float16(-65504.0)
    return {f: np.full(cfg.columns, value, np.float16) for f in cfg.param_fields}


class FP16PortView:
    """``cfg`` as the shared parameter writers see it for the FP16 unit: every field a raw
    16-bit pattern (``param_format`` UQ(16,0), ``param_data_width`` 16); everything else
    (address map, columns, fields) is the config's own.

    Lets ``tb.stream.params.ParamWriter`` (cocotb) and
    ``tb.pysim.testbench.PysimParamWriter`` load and randomly rewrite FP16 parameters
    unchanged: random writes are uniform over all 65536 patterns (infinities and NaNs
    included).
    """

    param_data_width = 16

    def __init__(self, cfg: NMPUConfig):
        self._cfg = cfg

    def __getattr__(self, name):
        return getattr(self._cfg, name)

    def param_format(self, name: str) -> QFormat:
        self._cfg.param_format(name)  # validates the name
        return _RAW16


def raw_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float16 parameter arrays as raw patterns (int64), as the parameter port carries them."""
    return {
        f: np.asarray(v, np.float16).view(np.uint16).astype(np.int64) for f, v in params.items()
    }


def float16_params(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw patterns (any integer dtype) back to float16 arrays for ``fp16_unit``."""
    return {f: np.asarray(v).astype(np.uint16).view(np.float16) for f, v in raw.items()}
