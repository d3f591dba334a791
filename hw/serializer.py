"""Width converter from the SAR's one-word-per-conversion stream to the NMPU's lane beats.

The SAR delivers all ``columns`` codes of one conversion in one beat; the
NMPU takes ``lanes`` codes per beat. ``CodeSerializer`` holds one conversion
and emits it as ``columns // lanes`` beats with ``first``/``last`` flags,
converting offset-binary codes to the NMPU's signed view (invert the MSB, i.e.
``code - 2**(w-1)``) when the NMPU takes signed codes.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lane_unit import code_beat_layout


class CodeSerializer(wiring.Component):
    """``columns`` codes per input beat -> ``columns // lanes`` output beats of ``lanes`` codes.

    Parameters
    ----------
    columns, lanes : int
        ``lanes`` divides ``columns``.
    width : int
        Code width.
    to_signed : bool
        Emit ``code - 2**(width-1)`` as a signed code (the SAR's signed view).
    phases : int
        Input words per vector: word ``n`` is phase ``n % phases``.

    Members
    -------
    i : In(stream.Signature(StructLayout{codes: ArrayLayout(unsigned(width), columns)}))
    o : Out(stream.Signature(hw.lane_unit.code_beat_layout))
        ``lanes`` codes, ``first``/``last``, ``phase`` and ``beat``: the NMPU's input.
        Full throughput: a new input word is taken in the clock its last beat leaves.

    ``i.ready`` is low while the ``sync`` domain's reset is high (a word offered then
    transfers after it, not into a register the reset is clearing).
    """

    def __init__(self, columns: int, lanes: int, width: int, to_signed: bool, phases: int = 1):
        if lanes < 1 or columns % lanes:
            raise ValueError(f"lanes ({lanes}) must divide columns ({columns})")
        if phases < 1:
            raise ValueError(f"phases must be >= 1, not {phases}")
        self.columns, self.lanes, self.width, self.to_signed = columns, lanes, width, to_signed
        self.phases = phases
        shape = signed(width) if to_signed else unsigned(width)
        super().__init__(
            {
                "i": In(
                    stream.Signature(
                        data.StructLayout({"codes": data.ArrayLayout(unsigned(width), columns)})
                    )
                ),
                "o": Out(
                    stream.Signature(code_beat_layout(shape, lanes, phases, columns // lanes))
                ),
            }
        )

    @property
    def latency(self) -> int:
        """Clocks from the edge taking an input word to the first edge that can pass a beat."""
        return 1

    def elaborate(self, platform):
        m = Module()
        beats = self.columns // self.lanes
        beat_bits = self.lanes * self.width

        # registers
        word_q = Signal(self.columns * self.width)
        full_q = Signal()
        beat_q = Signal(range(max(2, beats)))
        phase_q = Signal(range(max(2, self.phases)))  # phase of the word held

        # control
        last_beat = beat_q == beats - 1
        o_fire = self.o.valid & self.o.ready
        take = self.i.valid & self.i.ready
        in_reset = ResetSignal("sync", allow_reset_less=True)  # Const(0) if reset-less
        m.d.comb += [
            self.o.valid.eq(full_q),
            self.i.ready.eq((~full_q | (self.o.ready & last_beat)) & ~in_reset),
        ]
        with m.If(o_fire):
            m.d.sync += beat_q.eq(Mux(last_beat, 0, beat_q + 1))
            with m.If(last_beat):
                m.d.sync += [
                    full_q.eq(0),
                    phase_q.eq(Mux(phase_q == self.phases - 1, 0, phase_q + 1)),
                ]
        with m.If(take):
            m.d.sync += [word_q.eq(self.i.payload.codes.as_value()), full_q.eq(1)]

        # combinational output word
        current = word_q.word_select(beat_q, beat_bits) if beats > 1 else word_q
        msb_flip = (1 << (self.width - 1)) if self.to_signed else 0
        # All lanes in one process (an `always @*` in Verilog): Icarus then assembles the
        # beat once per change instead of once per lane (docs/toolchain.md).
        with m.If(full_q):
            for j in range(self.lanes):
                code = current[j * self.width : (j + 1) * self.width] ^ msb_flip
                m.d.comb += self.o.payload.codes[j].eq(code.as_signed() if self.to_signed else code)
        m.d.comb += [
            self.o.payload.first.eq(beat_q == 0),
            self.o.payload.last.eq(last_beat),
            self.o.payload.beat.eq(beat_q),
            self.o.payload.phase.eq(phase_q),
        ]
        return m
