"""``lanes`` copies of every binary16 operator of ``hw.fp16.ops`` side by side, for sweeps.

Combinational: one step applies every operator to ``lanes`` operand pairs (16 bits per
lane on ``a`` and ``b``). The Amaranth-simulator tests (tests/test_fp16_amaranth.py)
and the cocotb sweeps on Icarus and Verilator (``tb.benches.fp16_ops``,
tests/test_fp16_ops_cocotb.py) check its outputs against ``model.fp16``.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp16 import ops
from model.fp16 import fp16_add, fp16_from_int, fp16_ldexp, fp16_mul, to_int_rne

#: ``ldexp`` shifts built (each a constant shift).
SHIFTS = (1, 4, 20)
#: ``to_int`` output ranges built (unsigned, signed, a clip below the width).
OUT_RANGES = ((0, 255), (-128, 127), (0, 200))
#: Output port -> (bits per lane, signed).
OUTPUTS = {
    "add": (16, False),
    "mul": (16, False),
    "i2f": (16, False),
    **{f"ldexp{s}": (16, False) for s in SHIFTS},
    **{f"int{k}": (32, True) for k in range(len(OUT_RANGES))},
}


class OperatorBank(wiring.Component):
    """Every operator on the same operand words, ``lanes`` times.

    Members
    -------
    a, b : In(16 * lanes)
        Operand patterns, lane j at bits [16 j, 16 j + 16).
    add, mul, ldexp<s>, i2f : Out(16 * lanes)
        ``a + b``, ``a * b``, ``a * 2**s``, and the low 12 bits of ``b`` as a signed
        integer converted to binary16.
    int<k> : Out(32 * lanes)
        ``a`` rounded half-even to an integer and clipped to ``OUT_RANGES[k]``.
    """

    def __init__(self, lanes: int):
        if not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
        self.lanes = lanes
        ports = {"a": In(16 * lanes), "b": In(16 * lanes)}
        ports.update({name: Out(bits * lanes) for name, (bits, _) in OUTPUTS.items()})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for j in range(self.lanes):
            a, b = self.a.word_select(j, 16), self.b.word_select(j, 16)
            m.d.comb += [
                self.add.word_select(j, 16).eq(ops.add(m, a, b, f"add{j}")),
                self.mul.word_select(j, 16).eq(ops.mul(m, a, b, f"mul{j}")),
                # the low 12 bits of b as a signed 12-bit integer: rounding above 2048
                self.i2f.word_select(j, 16).eq(ops.from_int(m, b[:12], 12, True, f"i2f{j}")),
            ]
            for s in SHIFTS:
                out = getattr(self, f"ldexp{s}").word_select(j, 16)
                m.d.comb += out.eq(ops.ldexp(m, a, s, f"ldexp{s}_{j}"))
            for k, (lo, hi) in enumerate(OUT_RANGES):
                out = getattr(self, f"int{k}").word_select(j, 32)
                m.d.comb += out.eq(ops.to_int(m, a, lo, hi, f"int{k}_{j}"))
        return m


def pack_lanes(values: np.ndarray, bits: int) -> int:
    """One port word from ``values`` [lanes] (lane 0 least significant)."""
    return int.from_bytes(values.astype(f"<u{bits // 8}").tobytes(), "little")


def unpack_lanes(word: int, bits: int, lanes: int, signed: bool = False) -> np.ndarray:
    """The ``lanes`` values [lanes] of a port word."""
    raw = np.frombuffer(int(word).to_bytes(bits // 8 * lanes, "little"), f"<u{bits // 8}")
    return raw.astype(f"<i{bits // 8}" if signed else raw.dtype).astype(np.int64)


def expected_outputs(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """What every output must be for operand patterns ``a``, ``b``: the golden operators."""
    code = b.astype(np.int64) & 0xFFF
    code = np.where(code >= 0x800, code - 0x1000, code)
    return {
        "add": fp16_add(a, b),
        "mul": fp16_mul(a, b),
        "i2f": fp16_from_int(code),
        **{f"ldexp{s}": fp16_ldexp(a, s) for s in SHIFTS},
        **{f"int{k}": to_int_rne(a, lo, hi) for k, (lo, hi) in enumerate(OUT_RANGES)},
    }


def first_mismatch(a: np.ndarray, b: np.ndarray, got: dict[str, np.ndarray]) -> str | None:
    """A message naming the first wrong output (operator, operands, expected, got), or None."""
    for name, ref in expected_outputs(a, b).items():
        bad = np.flatnonzero(got[name] != ref.astype(np.int64))
        if bad.size:
            i = bad[0]
            return (
                f"{name}: {bad.size} of {a.size} mismatches; first a=0x{int(a[i]):04X} "
                f"b=0x{int(b[i]):04X}: expected {int(ref[i]):#x}, got {int(got[name][i]):#x}"
            )
    return None
