"""Fixed-point formats and the exact integer helpers shared by every golden model.

Values are carried as raw integers ``V = v * 2**F`` in int64 numpy arrays, or
int32 where the caller has proved every value fits in 31 bits (DESIGN 2). The
helpers here are the only place rounding, saturation and alignment are
written; the RTL implements the same formulas, and ``tests/test_fixed.py``
checks them against APyTypes and exhaustively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Rounding modes and their names in APyTypes / ap_fixed.
ROUNDING_MODES = ("trunc", "half_up", "half_even")
APYTYPES_NAME = {"trunc": "TRN", "half_up": "RND", "half_even": "RND_CONV"}

#: Largest intermediate width the int64 golden model accepts (DESIGN 2).
MAX_MODEL_BITS = 62

_FORMAT_RE = re.compile(r"^\s*(U?)Q\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*$")


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format: ``Q(I, F)`` signed or ``UQ(I, F)`` unsigned.

    ``int_bits`` counts the sign bit for signed formats; the raw integer has
    ``width = int_bits + frac_bits`` bits.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True

    def __post_init__(self):
        for name in ("int_bits", "frac_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"QFormat.{name} must be an integer, not {value!r}")
        if self.frac_bits < 0:
            raise ValueError(f"QFormat.frac_bits must be >= 0, not {self.frac_bits}")
        if self.width < 1 or (self.signed and self.width < 2):
            raise ValueError(f"{self} must be at least {2 if self.signed else 1} bits wide")

    @property
    def width(self) -> int:
        return self.int_bits + self.frac_bits

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __str__(self) -> str:
        return f"{'' if self.signed else 'U'}Q({self.int_bits},{self.frac_bits})"

    @classmethod
    def parse(cls, text: str | QFormat, *, name: str = "format") -> QFormat:
        """Parse ``"Q(7,1)"`` / ``"UQ(1,7)"``; ``name`` is used in the error message."""
        if isinstance(text, QFormat):
            return text
        match = _FORMAT_RE.match(str(text)) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{name} must look like 'Q(I,F)' or 'UQ(I,F)', not {text!r}")
        unsigned, int_bits, frac_bits = match.groups()
        try:
            return cls(int(int_bits), int(frac_bits), signed=not unsigned)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


def int_range(width: int, signed: bool) -> tuple[int, int]:
    """Inclusive raw-integer range of a ``width``-bit signed or unsigned word."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def bits_for(lo: int, hi: int) -> int:
    """Width of the smallest signed two's-complement word holding [lo, hi]."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def _as_int(v) -> np.ndarray:
    """``v`` as a signed integer array: int32 and int64 arrays as they are (no copy), any
    other integer type as int64. The caller chooses int32 only when its ranges fit."""
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"fixed-point helpers take integer arrays, not dtype {arr.dtype}")
    if arr.dtype in (np.int32, np.int64):
        return arr
    return arr.astype(np.int64)


def floor_shift(v, n: int) -> np.ndarray:
    """``floor(v / 2**n)`` for n >= 0 (arithmetic shift right): the hardware's LSB cut."""
    if n < 0:
        raise ValueError(f"shift must be >= 0, not {n}")
    return _as_int(v) >> n


def round_shift(v, r: int, mode: str) -> np.ndarray:
    """Round off ``r`` low bits of ``v`` with ``mode`` (DESIGN 2); r = 0 is the identity.

    ``trunc`` floors, ``half_up`` rounds ties toward +inf, ``half_even`` rounds
    ties to the even neighbour. The formulas are the ones the RTL uses.
    """
    if mode not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, not {mode!r}")
    if r < 0:
        raise ValueError(f"round bits must be >= 0, not {r}")
    v = _as_int(v)
    if r == 0 or mode == "trunc":
        return v >> r
    half = 1 << (r - 1)  # a Python int takes the array's dtype
    if mode == "half_up":
        return (v + half) >> r
    # half_even: add half - 1, plus 1 more when the kept LSB is odd.
    return (v + (half - 1) + ((v >> r) & 1)) >> r


def cut_round_inplace(v: np.ndarray, cut: int, r: int, mode: str) -> np.ndarray:
    """``round_shift(floor_shift(v, cut), r, mode)`` computed in ``v``'s own buffer.

    For ``trunc`` and ``half_up`` the two steps fuse into one add and one shift:
    ``(floor(v / 2**cut) + h) >> r == (v + h * 2**cut) >> (cut + r)`` because adding
    the integer ``h`` commutes with the floor. ``half_even`` needs the kept LSB and
    does the steps apart. Used by the golden model's hot path (fewer passes over
    memory); ``tests/test_fixed.py`` checks it on exact rationals, exhaustively.
    """
    if mode not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, not {mode!r}")
    if cut < 0 or r < 0:
        raise ValueError(f"shifts must be >= 0, not cut={cut}, r={r}")
    if r == 0 or mode == "trunc":
        v >>= cut + r
    elif mode == "half_up" and cut + r <= 8 * v.itemsize - 2:
        # |v| < 2**(bits - 2) in the model's dtype (MAX_MODEL_BITS headroom), so the
        # added 2**(cut + r - 1) cannot overflow.
        v += (1 << (r - 1)) << cut
        v >>= cut + r
    elif mode == "half_up":
        v >>= cut
        v += 1 << (r - 1)
        v >>= r
    else:
        v >>= cut
        odd = v >> r
        odd &= 1
        v += (1 << (r - 1)) - 1
        v += odd
        v >>= r
    return v


def saturate(v, width: int, signed: bool) -> np.ndarray:
    """Clamp to a ``width``-bit signed or unsigned range; never wraps."""
    lo, hi = int_range(width, signed)
    v = _as_int(v)
    info = np.iinfo(v.dtype)
    return np.minimum(np.maximum(v, max(lo, info.min)), min(hi, info.max))


def align(v, from_frac: int, to_frac: int) -> np.ndarray:
    """Exact left shift from ``from_frac`` to ``to_frac`` >= ``from_frac`` fraction bits."""
    if to_frac < from_frac:
        raise ValueError(f"align only widens: {from_frac} -> {to_frac} fraction bits")
    return _as_int(v) << (to_frac - from_frac)


def round_shift_int(v: int, r: int, mode: str) -> int:
    """Scalar Python-int twin of :func:`round_shift`, for exact range analysis."""
    if r == 0 or mode == "trunc":
        return v >> r
    if mode == "half_up":
        return (v + (1 << (r - 1))) >> r
    return (v + (1 << (r - 1)) - 1 + ((v >> r) & 1)) >> r
