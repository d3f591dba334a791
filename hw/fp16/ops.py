"""IEEE 754 binary16 operators in Amaranth: adder, multiplier and the unit's conversions.

Bit-exact with ``model.golden.fp16`` (round to nearest, ties to even;
subnormals kept; overflow to infinity; ``x + (-x) = +0``; any invalid
operation or NaN operand gives the canonical quiet NaN ``0x7E00``).

The operators are plain combinational logic, built by functions that add it to
a given ``Module`` and return the result signal (:func:`add`, :func:`mul`,
:func:`ldexp`, :func:`neg`, :func:`from_int`, :func:`to_int`), so a pipelined
unit can place one operator per stage. :class:`FP16Add` and :class:`FP16Mul`
wrap the adder and multiplier as reusable components (``latency`` 0: the
result is valid in the same cycle; register around them as the user's timing
needs).

Datapaths (a standard, "textbook" implementation, not the model's exact
arithmetic):

* all operators end in :func:`round_pack`: leading-zero count, normalising
  left shift, right shift into the subnormal range with a sticky bit, round
  to nearest even, carry into the exponent, overflow to infinity;
* the adder orders the operands by magnitude (one 15-bit compare), aligns the
  smaller one with guard, round and sticky bits (14-bit path), adds or
  subtracts, and rounds once;
* the multiplier forms the exact 22-bit product of the 11-bit significands.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = [
    "FP16Add",
    "FP16Mul",
    "QNAN",
    "add",
    "from_int",
    "ldexp",
    "mul",
    "neg",
    "round_pack",
    "to_int",
]

MAN_BITS, BIAS = 10, 15
POS_INF, QNAN = 0x7C00, 0x7E00
#: Exponent of the significand's LSB for exponent field 1 (and subnormals) is -24 = 1 - 25.
_LSB_OFFSET = BIAS + MAN_BITS
_EXP = signed(10)  # every exponent below fits (operators stay within [-100, 100])


def _unpack(m: Module, a, name: str):
    """Sign, significand with hidden bit (11 bits), exponent of its LSB, and class flags."""
    e = a[MAN_BITS:15]
    sig = Signal(11, name=f"{name}_sig")
    exp = Signal(_EXP, name=f"{name}_exp")  # value = sig * 2**exp for finite a
    m.d.comb += [
        sig.eq(Cat(a[:MAN_BITS], e != 0)),
        exp.eq(Mux(e == 0, 1, e) - _LSB_OFFSET),
    ]
    special = e == 0x1F
    return {
        "sign": a[15],
        "sig": sig,
        "exp": exp,
        "inf": special & (a[:MAN_BITS] == 0),
        "nan": special & (a[:MAN_BITS] != 0),
        "zero": a[:15] == 0,
    }


def _leading_zeros(m: Module, v, width: int, name: str):
    """Leading zeros of the ``width``-bit ``v`` (``width`` when ``v`` is 0): a priority encoder."""
    lz = Signal(range(width + 1), name=f"{name}_lz")
    value = Const(width, lz.shape())
    for i in range(width):  # the last (outermost) Mux is the MSB: the highest set bit wins
        value = Mux(v[i], width - 1 - i, value)
    m.d.comb += lz.eq(value)
    return lz


def round_pack(m: Module, sign, sig, width: int, exp, name: str = "rp") -> Signal:
    """Round ``(-1)**sign * sig * 2**exp`` to binary16 (nearest, ties to even).

    ``sig`` is a ``width``-bit unsigned magnitude (its LSB may be a sticky bit as
    long as it stays below the guard bit after normalisation), ``exp`` a signed
    expression. ``sig == 0`` gives the zero of ``sign``.
    """
    lz = _leading_zeros(m, sig, width, name)
    norm = Signal(width, name=f"{name}_norm")  # leading one at the MSB
    e = Signal(_EXP, name=f"{name}_e")  # biased exponent of the leading one
    extra = Signal(range(13), name=f"{name}_extra")  # right shift into the subnormal range
    m.d.comb += [
        norm.eq((sig << lz)[:width]),
        e.eq(width - 1 + BIAS - lz + exp),
        extra.eq(Mux(e >= 1, 0, Mux(e < -11, 12, 1 - e))),
    ]
    # 13 zero bits below the normalised significand, shifted right by `extra` (<= 12, so
    # nothing is lost): the 11 kept bits, the guard bit and everything below it (sticky).
    shifted = Signal(width + 13, name=f"{name}_shifted")
    m.d.comb += shifted.eq(Cat(Const(0, 13), norm) >> extra)
    kept = shifted[width + 2 :]
    guard = shifted[width + 1]
    sticky = shifted[: width + 1].any()
    rounded = Signal(12, name=f"{name}_rounded")
    m.d.comb += rounded.eq(kept + (guard & (sticky | kept[0])))
    # (max(e, 1) - 1) << 10 plus the rounded significand: a rounding carry moves into the
    # exponent, and a subnormal rounding up to 2**-14 becomes the smallest normal.
    mag = Signal(signed(18), name=f"{name}_mag")
    m.d.comb += mag.eq(((Mux(e >= 1, e, 1) - 1) << MAN_BITS) + rounded)
    out = Signal(16, name=f"{name}_out")
    m.d.comb += out.eq(Cat(Mux(sig == 0, 0, Mux(mag >= POS_INF, POS_INF, mag[:15])), sign))
    return out


def add(m: Module, a, b, name: str = "add") -> Signal:
    """``a + b`` (binary16 patterns), combinational; returns the result signal."""
    swap = a[:15] < b[:15]  # order by magnitude: x is the larger (a NaN, if any)
    x_bits, y_bits = Signal(16, name=f"{name}_x"), Signal(16, name=f"{name}_y")
    m.d.comb += [x_bits.eq(Mux(swap, b, a)), y_bits.eq(Mux(swap, a, b))]
    x, y = _unpack(m, x_bits, f"{name}_x"), _unpack(m, y_bits, f"{name}_y")
    # Align y to x with guard, round and sticky bits: 3 zero bits below each significand.
    dist = Signal(range(16), name=f"{name}_dist")
    diff = x["exp"] - y["exp"]  # 0 .. 29
    m.d.comb += dist.eq(Mux(diff > 15, 15, diff))
    xa = Cat(Const(0, 3), x["sig"])  # 14 bits
    ya = Cat(Const(0, 3), y["sig"])
    y_shr = Signal(14, name=f"{name}_yshr")
    m.d.comb += y_shr.eq(ya >> dist)
    lost = Signal(name=f"{name}_lost")
    m.d.comb += lost.eq((y_shr << dist)[:14] != ya)
    y_al = Cat(y_shr[0] | lost, y_shr[1:])
    sub = x["sign"] ^ y["sign"]
    total = Signal(15, name=f"{name}_sum")  # x >= y, so the difference is never negative
    m.d.comb += total.eq(Mux(sub, xa - y_al, xa + y_al))
    sign = Mux(total == 0, x["sign"] & y["sign"], x["sign"])
    rounded = round_pack(m, sign, total, 15, x["exp"] - 3, f"{name}_rp")
    out = Signal(16, name=name)
    nan = x["nan"] | (x["inf"] & y["inf"] & sub)
    m.d.comb += out.eq(Mux(nan, QNAN, Mux(x["inf"], x_bits, rounded)))
    return out


def mul(m: Module, a, b, name: str = "mul") -> Signal:
    """``a * b`` (binary16 patterns), combinational; returns the result signal."""
    x, y = _unpack(m, a, f"{name}_a"), _unpack(m, b, f"{name}_b")
    sign = x["sign"] ^ y["sign"]
    prod = Signal(22, name=f"{name}_prod")
    m.d.comb += prod.eq(x["sig"] * y["sig"])
    rounded = round_pack(m, sign, prod, 22, x["exp"] + y["exp"], f"{name}_rp")
    out = Signal(16, name=name)
    nan = x["nan"] | y["nan"] | (x["inf"] & y["zero"]) | (y["inf"] & x["zero"])
    inf = Cat(Const(POS_INF, 15), sign)
    m.d.comb += out.eq(Mux(nan, QNAN, Mux(x["inf"] | y["inf"], inf, rounded)))
    return out


def ldexp(m: Module, a, shift: int, name: str = "ldexp") -> Signal:
    """``a * 2**shift`` for a constant ``shift >= 0``: exact, or infinity on overflow."""
    if shift == 0:
        return a
    x = _unpack(m, a, name)
    rounded = round_pack(m, x["sign"], x["sig"], 11, x["exp"] + shift, f"{name}_rp")
    out = Signal(16, name=name)
    m.d.comb += out.eq(Mux(x["nan"], QNAN, Mux(x["inf"], a, rounded)))
    return out


def neg(m: Module, a, name: str = "neg") -> Signal:
    """``-a``: the sign bit flipped (a NaN gives the canonical NaN)."""
    out = Signal(16, name=name)
    is_nan = (a[MAN_BITS:15] == 0x1F) & (a[:MAN_BITS] != 0)
    m.d.comb += out.eq(Mux(is_nan, QNAN, a ^ 0x8000))
    return out


def from_int(m: Module, code, width: int, is_signed: bool, name: str = "i2f") -> Signal:
    """The ``width``-bit integer ``code`` as binary16, rounded to nearest even."""
    if is_signed:
        sign = code[width - 1]
        mag = Signal(width, name=f"{name}_mag")  # |-2**(w-1)| = 2**(w-1) still fits
        m.d.comb += mag.eq(Mux(sign, -code.as_signed(), code))
    else:
        sign, mag = Const(0, 1), code
    return round_pack(m, sign, mag, width, Const(0, _EXP), name)


def to_int(m: Module, a, lo: int, hi: int, name: str = "f2i") -> Signal:
    """binary16 ``a`` rounded half to even to an integer, saturated to ``[lo, hi]``; NaN -> 0."""
    x = _unpack(m, a, name)
    # |a| = sig * 2**exp, exp in [-24, 5]. Left shift when exp >= 0 (up to 16 bits);
    # else shift right by min(-exp, 12) with guard/sticky (beyond 12 the result is 0).
    rshift = Signal(range(13), name=f"{name}_rshift")
    m.d.comb += rshift.eq(Mux(x["exp"] < -12, 12, Mux(x["exp"] < 0, -x["exp"], 0)))
    shifted = Signal(23, name=f"{name}_shifted")
    m.d.comb += shifted.eq(Cat(Const(0, 12), x["sig"]) >> rshift)
    kept = shifted[12:]
    up = shifted[11] & (shifted[:11].any() | kept[0])
    mag = Signal(17, name=f"{name}_mag")
    left = (x["sig"] << x["exp"][:3])[:17]
    m.d.comb += mag.eq(Mux(x["exp"] >= 0, left, kept + up))
    width = max(18, (max(abs(lo), abs(hi))).bit_length() + 2)
    val = Signal(signed(width), name=f"{name}_val")
    m.d.comb += val.eq(Mux(x["sign"], -mag, mag))
    out = Signal(signed(width), name=name)
    clamped = Mux(val > hi, hi, Mux(val < lo, lo, val))
    m.d.comb += out.eq(
        Mux(x["nan"], 0, Mux(x["inf"], Mux(x["sign"], lo, hi), clamped)),
    )
    return out


class _Binary(wiring.Component):
    """A combinational binary16 operator: ``o = a op b`` in the same cycle.

    Members
    -------
    a, b : In(16)
        Operands, raw binary16 patterns.
    o : Out(16)
        Result pattern.
    """

    def __init__(self):
        super().__init__({"a": In(16), "b": In(16), "o": Out(16)})

    @property
    def latency(self) -> int:
        """Clock cycles from operands to result: 0 (combinational)."""
        return 0


class FP16Add(_Binary):
    """Binary16 adder (round to nearest even, subnormals, infinities; see the module doc)."""

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(add(m, self.a, self.b))
        return m


class FP16Mul(_Binary):
    """Binary16 multiplier (round to nearest even, subnormals, infinities; see the module doc)."""

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(mul(m, self.a, self.b))
        return m
