"""Golden model of the near-memory processing unit (NMPU), DESIGN section 3.

``NMPUConfig`` is the one frozen, validated parameter object that both this
model and ``hw.nmpu.NMPU`` take. It also derives, by exact interval
arithmetic on Python integers, the range of every intermediate: the RTL sizes
its signals from these ranges and the model checks they fit in int64.

``nmpu`` is integer-only numpy, written stage by stage with the helpers of
``model.fixed`` so each line maps onto one RTL pipeline stage.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import known_kwargs
from .fixed import (
    MAX_MODEL_BITS,
    ROUNDING_MODES,
    QFormat,
    align,
    bits_for,
    cut_round_inplace,
    int_range,
    round_shift_int,
)

ACTIVATIONS = ("none", "relu", "relu_clip")

#: Largest ``columns`` (and so ``lanes``) accepted: a tile's periphery, not a whole chip.
MAX_COLUMNS = 4096

#: Most fraction bits of a parameter format (with at most ``MAX_MODEL_BITS`` of width):
#: far beyond any useful format, small enough that deriving the ranges stays instant.
MAX_FRAC_BITS = 4 * MAX_MODEL_BITS

#: Field order of the configuration port's address map (``addr = field << col_bits | col``).
PARAM_FIELDS = ("scale", "offset", "bn_scale", "bn_offset")

_FORMAT_FIELDS = ("scale_fmt", "offset_fmt", "bn_scale_fmt", "bn_offset_fmt")


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"NMPUConfig.{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"NMPUConfig.{name} must be {bound}, not {value}")


@dataclass(frozen=True)
class Range:
    """Inclusive integer range of one intermediate, with its fraction bits."""

    lo: int
    hi: int
    frac: int

    @property
    def bits(self) -> int:
        """Signed width that holds every value of the range exactly."""
        return bits_for(self.lo, self.hi)


def _mul_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


@dataclass(frozen=True)
class NMPUConfig:
    """Elaboration-time parameters of the NMPU (DESIGN 3.1); validated once, frozen.

    Formats may be given as ``QFormat`` or as strings ``"Q(I,F)"`` / ``"UQ(I,F)"``.
    ``phase_shifts`` / ``phase_signs`` default to all 0 / all +1. ``relu_max``
    (output integer units) is required for ``activation="relu_clip"`` only.
    """

    columns: int = 256
    lanes: int = 64
    in_width: int = 8
    in_signed: bool = True
    scale_fmt: QFormat | str = "UQ(1,7)"
    offset_fmt: QFormat | str = "Q(7,1)"
    #: The per-column correction affine is present. ``False`` bypasses it: the code enters
    #: the accumulator as if ``scale = 1`` and ``offset = 0`` in their formats (exactly
    #: ``x << frac_a``), so every later stage keeps its formats; ``scale``/``offset`` are
    #: then neither stored nor addressable (an extension of DESIGN 3.1, for area studies
    #: and chips calibrated elsewhere).
    correction: bool = True
    phases: int = 1
    phase_shifts: tuple[int, ...] | None = None
    phase_signs: tuple[int, ...] | None = None
    mid_lsb_cut: int = 2
    mid_round_bits: int = 2
    mid_width: int = 16
    bn: bool = True
    bn_scale_fmt: QFormat | str = "Q(4,12)"
    bn_offset_fmt: QFormat | str = "Q(10,6)"
    out_lsb_cut: int = 12
    out_round_bits: int = 3
    rounding: str = "half_up"
    activation: str = "relu"
    relu_max: int | None = None
    out_width: int = 8
    # Derived ranges, filled in by __post_init__ (not constructor arguments).
    ranges: dict[str, Range] = field(init=False, repr=False, compare=False)
    #: The golden model's integer type: int32 when every intermediate (and a rounding
    #: increment on top) fits in 31 bits, else int64. Exact either way; int32 is faster.
    model_dtype: type = field(init=False, repr=False, compare=False)

    # -- validation -------------------------------------------------------

    def __post_init__(self):
        set_ = object.__setattr__
        _check_int("columns", self.columns, 1, MAX_COLUMNS)
        _check_int("lanes", self.lanes, 1, self.columns)
        if self.columns % self.lanes:
            raise ValueError(
                f"NMPUConfig.lanes ({self.lanes}) must divide columns ({self.columns})"
            )
        if not isinstance(self.in_signed, bool):
            raise ValueError(f"NMPUConfig.in_signed must be a bool, not {self.in_signed!r}")
        if not isinstance(self.correction, bool):
            raise ValueError(f"NMPUConfig.correction must be a bool, not {self.correction!r}")
        _check_int("in_width", self.in_width, 2 if self.in_signed else 1, 32)
        for name in _FORMAT_FIELDS:
            fmt = QFormat.parse(getattr(self, name), name=f"NMPUConfig.{name}")
            # Before any range is derived: a huge format would take forever (1 << 10**9).
            if fmt.width > MAX_MODEL_BITS or fmt.frac_bits > MAX_FRAC_BITS:
                raise ValueError(
                    f"NMPUConfig.{name} {fmt} must be at most {MAX_MODEL_BITS} bits wide with "
                    f"at most {MAX_FRAC_BITS} fraction bits"
                )
            set_(self, name, fmt)
        _check_int("phases", self.phases, 1, 64)
        for name in ("phase_shifts", "phase_signs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (list, tuple)):
                raise ValueError(f"NMPUConfig.{name} must be a list of integers, not {value!r}")
        shifts = (0,) * self.phases if self.phase_shifts is None else tuple(self.phase_shifts)
        signs = (1,) * self.phases if self.phase_signs is None else tuple(self.phase_signs)
        if len(shifts) != self.phases:
            raise ValueError(
                f"NMPUConfig.phase_shifts has {len(shifts)} entries, phases is {self.phases}"
            )
        if len(signs) != self.phases:
            raise ValueError(
                f"NMPUConfig.phase_signs has {len(signs)} entries, phases is {self.phases}"
            )
        for k, s in enumerate(shifts):
            _check_int(f"phase_shifts[{k}]", s, 0, 32)
        for k, s in enumerate(signs):
            if not isinstance(s, int) or isinstance(s, bool) or s not in (1, -1):
                raise ValueError(f"NMPUConfig.phase_signs[{k}] must be +1 or -1, not {s!r}")
        set_(self, "phase_shifts", shifts)
        set_(self, "phase_signs", signs)
        for name in ("mid_lsb_cut", "mid_round_bits", "out_lsb_cut", "out_round_bits"):
            _check_int(name, getattr(self, name), 0, 62)
        _check_int("mid_width", self.mid_width, 2, MAX_MODEL_BITS)
        _check_int("out_width", self.out_width, 2, 32)
        if not isinstance(self.bn, bool):
            raise ValueError(f"NMPUConfig.bn must be a bool, not {self.bn!r}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(
                f"NMPUConfig.rounding must be one of {ROUNDING_MODES}, not {self.rounding!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"NMPUConfig.activation must be one of {ACTIVATIONS}, not {self.activation!r}"
            )
        if self.activation == "relu_clip":
            if self.relu_max is None:
                raise ValueError("NMPUConfig.relu_max is required when activation='relu_clip'")
            _check_int("relu_max", self.relu_max, 1, (1 << self.out_width) - 1)
        elif self.relu_max is not None:
            raise ValueError(
                f"NMPUConfig.relu_max only applies to activation='relu_clip', "
                f"not {self.activation!r}"
            )
        set_(self, "ranges", self._derive_ranges())
        widest = max(r.bits for r in self.ranges.values())
        set_(self, "model_dtype", np.int32 if widest <= 30 else np.int64)
        for name, rng in self.ranges.items():
            if rng.bits > MAX_MODEL_BITS:
                raise ValueError(
                    f"NMPUConfig: intermediate '{name}' needs {rng.bits} bits "
                    f"(> {MAX_MODEL_BITS}); reduce formats, phases or phase_shifts"
                )

    def _derive_ranges(self) -> dict[str, Range]:
        """Exact bounds of every intermediate of DESIGN 3.3 (see ``nmpu`` for the names)."""
        s, o = self.scale_fmt, self.offset_fmt
        r: dict[str, Range] = {}
        x = int_range(self.in_width, self.in_signed)
        r["x"] = Range(*x, 0)
        frac_a = max(s.frac_bits, o.frac_bits)
        if self.correction:
            p = _mul_range(x, (s.min_raw, s.max_raw))
            p = (p[0] << (frac_a - s.frac_bits), p[1] << (frac_a - s.frac_bits))
            ofs = (o.min_raw << (frac_a - o.frac_bits), o.max_raw << (frac_a - o.frac_bits))
            r["a"] = Range(p[0] + ofs[0], p[1] + ofs[1], frac_a)
        else:  # bypassed: x * 1 + 0 at frac_a
            r["a"] = Range(x[0] << frac_a, x[1] << frac_a, frac_a)
        lo = hi = 0  # running sum after each phase
        partial_lo = partial_hi = 0  # union over all running sums: the accumulator store
        for shift, sign in zip(self.phase_shifts, self.phase_signs, strict=True):
            t = (r["a"].lo << shift, r["a"].hi << shift)
            if sign < 0:
                t = (-t[1], -t[0])
            lo, hi = lo + t[0], hi + t[1]
            partial_lo, partial_hi = min(partial_lo, lo), max(partial_hi, hi)
        r["acc_partial"] = Range(partial_lo, partial_hi, frac_a)
        r["acc"] = Range(lo, hi, frac_a)
        cut = (lo >> self.mid_lsb_cut, hi >> self.mid_lsb_cut)
        rnd = tuple(round_shift_int(v, self.mid_round_bits, self.rounding) for v in cut)
        frac_y = frac_a - self.mid_lsb_cut - self.mid_round_bits
        r["y_round"] = Range(*rnd, frac_y)
        ylo, yhi = int_range(self.mid_width, True)
        y = (min(max(rnd[0], ylo), yhi), max(min(rnd[1], yhi), ylo))
        r["y"] = Range(*y, frac_y)
        if self.bn:
            g, b = self.bn_scale_fmt, self.bn_offset_fmt
            frac_p = frac_y + g.frac_bits
            frac_z = max(frac_p, b.frac_bits)
            p = _mul_range(y, (g.min_raw, g.max_raw))
            p = (p[0] << (frac_z - frac_p), p[1] << (frac_z - frac_p))
            ofs = (b.min_raw << (frac_z - b.frac_bits), b.max_raw << (frac_z - b.frac_bits))
            r["z"] = Range(p[0] + ofs[0], p[1] + ofs[1], frac_z)
        else:
            r["z"] = Range(*y, frac_y)
        z = r["z"]
        cut = (z.lo >> self.out_lsb_cut, z.hi >> self.out_lsb_cut)
        rnd = tuple(round_shift_int(v, self.out_round_bits, self.rounding) for v in cut)
        r["r"] = Range(*rnd, z.frac - self.out_lsb_cut - self.out_round_bits)
        return r

    # -- derived sizes the RTL and the testbenches read --------------------

    @property
    def beats(self) -> int:
        """Input beats per phase (and output beats per vector): ``columns // lanes``."""
        return self.columns // self.lanes

    @property
    def out_signed(self) -> bool:
        """Outputs are unsigned after a ReLU, signed otherwise (DESIGN 3.1)."""
        return self.activation == "none"

    @property
    def out_range(self) -> tuple[int, int]:
        lo, hi = int_range(self.out_width, self.out_signed)
        if self.activation == "relu_clip":
            hi = min(hi, self.relu_max)
        return lo, hi

    @property
    def out_frac(self) -> int:
        """Fraction bits of the output word (may be negative: a power-of-two scale)."""
        return self.ranges["r"].frac

    @property
    def frac_y(self) -> int:
        """Fraction bits of the stage-1 output: ``y`` is ``Q(mid_width - frac_y, frac_y)``."""
        return self.ranges["y"].frac

    @property
    def param_fields(self) -> tuple[str, ...]:
        """The per-column parameters this unit stores, in address-map order (the correction's
        only when ``correction``, batch-norm's only when ``bn``)."""
        return tuple(
            f
            for f in PARAM_FIELDS
            if (self.correction or f not in ("scale", "offset"))
            and (self.bn or f not in ("bn_scale", "bn_offset"))
        )

    @property
    def hardware_bits(self) -> int:
        """Estimated size of the unit's RTL in bits, a closed form of the config (no Amaranth):
        what its elaboration time and memory scale with. The tools refuse a config above
        ``model.golden.config.MAX_HARDWARE_BITS`` unless ``--allow-large`` (docs/nmpu.md,
        "Hardware size"). It counts

        * per column (``hw.param_store``): two slots of every stored parameter (memory bits)
          and two slot-state flip-flops per stored field; with ``phases > 1``, the running sum
          (``acc_partial`` bits);
        * per lane: the pipeline registers (``a``, ``acc``, ``y``, ``z``, the output, and the
          batch-norm parameters carried through three stages) and the multipliers' partial
          products (``in_width x scale`` and ``y x bn_scale``).
        """
        r = self.ranges
        fields = self.param_fields
        per_column = 2 * sum(self.param_format(f).width + 1 for f in fields)
        if self.phases > 1:
            per_column += r["acc_partial"].bits
        per_lane = r["a"].bits + r["acc"].bits + r["y"].bits + r["z"].bits + self.out_width
        if self.correction:
            per_lane += self.in_width * self.scale_fmt.width
        if self.bn:
            g, b = self.bn_scale_fmt.width, self.bn_offset_fmt.width
            per_lane += 3 * (g + b) + r["y"].bits * g
        return self.columns * per_column + self.lanes * per_lane

    # -- parameter port address map (DESIGN 3.4), shared by the RTL and every driver --

    @property
    def param_column_bits(self) -> int:
        """Address bits for the column index: ``max(1, ceil(log2(columns)))``."""
        return max(1, (self.columns - 1).bit_length())

    @property
    def param_addr_width(self) -> int:
        """Width of the parameter port's ``addr``: field bits above the column bits."""
        return max(1, (len(PARAM_FIELDS) - 1).bit_length()) + self.param_column_bits

    @property
    def param_data_width(self) -> int:
        """Width of the parameter port's ``data``: the widest parameter format (1 if none)."""
        return max((self.param_format(n).width for n in self.param_fields), default=1)

    def param_address(self, name: str, column: int) -> int:
        """Parameter-port address of ``name`` for ``column``: ``field << column_bits | column``."""
        if name not in PARAM_FIELDS:
            raise ValueError(f"unknown NMPU parameter {name!r}; expected one of {PARAM_FIELDS}")
        if not 0 <= column < self.columns:
            raise ValueError(f"column must be in [0, {self.columns}), not {column}")
        return (PARAM_FIELDS.index(name) << self.param_column_bits) | column

    def param_format(self, name: str) -> QFormat:
        """The fixed-point format of per-column parameter ``name`` (one of PARAM_FIELDS)."""
        if name not in PARAM_FIELDS:
            raise ValueError(f"unknown NMPU parameter {name!r}; expected one of {PARAM_FIELDS}")
        return getattr(self, f"{name}_fmt")

    # -- (de)serialisation --------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``NMPUConfig.from_dict(cfg.to_dict()) == cfg``."""
        d = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            v = getattr(self, f.name)
            d[f.name] = (
                str(v) if isinstance(v, QFormat) else (list(v) if isinstance(v, tuple) else v)
            )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NMPUConfig:
        """Build from a dict (capture files, JSON on the command line); unknown keys are errors."""
        kw = known_kwargs(cls, d)
        for name in ("phase_shifts", "phase_signs"):
            if isinstance(kw.get(name), list):
                kw[name] = tuple(kw[name])
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> NMPUConfig:
        return cls.from_dict(json.loads(text))


# -- the model ------------------------------------------------------------------


def check_params(
    cfg: NMPUConfig,
    *,
    scale=None,
    offset=None,
    bn_scale=None,
    bn_offset=None,
    vectors: int | None = None,
) -> dict[str, np.ndarray]:
    """Validate per-column parameters -> int64 arrays.

    Each is an integer array within its format, of shape [columns] (one set for
    every vector) or, when ``vectors`` is given, [vectors, columns] (the set in
    force for each vector, e.g. after parameter writes mid-stream).
    """
    given = {"scale": scale, "offset": offset, "bn_scale": bn_scale, "bn_offset": bn_offset}
    out = {}
    for name in PARAM_FIELDS:
        value = given[name]
        if value is None:
            if name in cfg.param_fields:
                raise ValueError(f"nmpu: parameter '{name}' is required")
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            raise ValueError(f"nmpu: '{name}' must be an integer array, not dtype {arr.dtype}")
        if arr.shape not in ((cfg.columns,), (vectors, cfg.columns)):
            per_vector = "" if vectors is None else f" or ({vectors}, {cfg.columns})"
            raise ValueError(
                f"nmpu: '{name}' has shape {arr.shape}, expected ({cfg.columns},){per_vector}"
            )
        fmt = cfg.param_format(name)
        bad = np.argwhere((arr < fmt.min_raw) | (arr > fmt.max_raw))
        if bad.size:
            at = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"nmpu: '{name}'{list(at)} = {int(arr[at])} is outside {fmt} raw range "
                f"[{fmt.min_raw}, {fmt.max_raw}]"
            )
        out[name] = np.asarray(arr, dtype=cfg.model_dtype)
    return out


def check_codes(cfg: NMPUConfig, x) -> np.ndarray:
    """Validate ADC codes: integer array [vectors, phases, columns] within the input format."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"nmpu: 'x' must be an integer array, not dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[1:] != (cfg.phases, cfg.columns):
        raise ValueError(
            f"nmpu: 'x' has shape {arr.shape}, expected (vectors, {cfg.phases}, {cfg.columns})"
        )
    lo, hi = int_range(cfg.in_width, cfg.in_signed)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        v, k, c = (int(i) for i in np.argwhere((arr < lo) | (arr > hi))[0])
        raise ValueError(
            f"nmpu: x[{v}, {k}, {c}] = {int(arr[v, k, c])} is outside the "
            f"{'signed' if cfg.in_signed else 'unsigned'} {cfg.in_width}-bit code range "
            f"[{lo}, {hi}]"
        )
    return np.asarray(arr, dtype=cfg.model_dtype)


def nmpu(
    cfg: NMPUConfig, x, *, scale=None, offset=None, bn_scale=None, bn_offset=None
) -> np.ndarray:
    """Bit-exact NMPU output [vectors, columns] for ADC codes ``x`` [vectors, phases, columns].

    Parameters are raw fixed-point integers of their formats, shape [columns], or
    [vectors, columns] for a set per vector. Raises ``ValueError`` naming the
    array and index of any out-of-range input.
    """
    x = check_codes(cfg, x)
    p = check_params(
        cfg,
        scale=scale,
        offset=offset,
        bn_scale=bn_scale,
        bn_offset=bn_offset,
        vectors=x.shape[0],
    )
    rg = cfg.ranges
    # Every stage works in place on buffers this call owns (the model's dtype holds
    # every intermediate, NMPUConfig.model_dtype): fewer passes over memory, same integers.

    # Stage 0: per-phase correction affine, aligned to the finer of the two formats
    # (bypassed: x * 1 + 0 at the same fraction bits).
    frac_a = rg["a"].frac
    if cfg.correction:
        per_phase = {k: v[..., None, :] for k, v in p.items()}  # broadcast over phases
        a = x * per_phase["scale"]
        a <<= frac_a - cfg.scale_fmt.frac_bits
        a += align(per_phase["offset"], cfg.offset_fmt.frac_bits, frac_a)
    else:
        a = align(x, 0, frac_a)  # a new array: x may be the caller's
    # Stage 1: shift-and-add accumulation over phases (into phase 0's slice of `a`).
    acc = a[:, 0, :]
    for k, (shift, sign) in enumerate(zip(cfg.phase_shifts, cfg.phase_signs, strict=True)):
        if k == 0:
            acc <<= shift
            if sign < 0:
                np.negative(acc, out=acc)
            continue
        term = a[:, k, :]
        term <<= shift
        if sign < 0:
            acc -= term
        else:
            acc += term
    # Stage 2: first compression (cut, round, saturate) to Q(mid_width - frac_y, frac_y).
    y = cut_round_inplace(acc, cfg.mid_lsb_cut, cfg.mid_round_bits, cfg.rounding)
    lo, hi = int_range(cfg.mid_width, signed=True)
    np.clip(y, lo, hi, out=y)
    # Stage 3: batch-norm affine (network gamma/beta and bias, folded).
    if cfg.bn:
        frac_p = cfg.frac_y + cfg.bn_scale_fmt.frac_bits
        frac_z = rg["z"].frac
        z = y
        z *= p["bn_scale"]
        z <<= frac_z - frac_p
        z += align(p["bn_offset"], cfg.bn_offset_fmt.frac_bits, frac_z)
    else:
        z = y
    # Stage 4: second compression, activation, output saturation.
    r = cut_round_inplace(z, cfg.out_lsb_cut, cfg.out_round_bits, cfg.rounding)
    lo, hi = cfg.out_range
    if cfg.activation != "none":
        lo = max(lo, 0)
    np.clip(r, lo, hi, out=r)
    return r.astype(np.int64)
