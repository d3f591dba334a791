"""Input framing of a lane-parallel unit (DESIGN 3.4): which accepted beats enter the datapath.

Every input beat names its position (``first``/``last`` of its phase, its
``phase`` and ``beat``). A beat whose flags agree with the position it names
and that names the first beat of phase 0 always starts a vector (this is how
the unit resynchronises); in sync, any other beat must be exactly the
expected one, else ``frame_error`` rises and sync is lost until the next
vector start. ``flush`` restarts the framing and clears the flag. Golden
model: ``model.golden.framing.frame``. Shared by ``hw.nmpu.NMPU`` and
``hw.fp16.unit.FP16Unit``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Framer(wiring.Component):
    """Framing state machine for ``phases`` phases of ``beats`` beats per vector.

    Members
    -------
    accept : In(1)
        An input beat transfers this clock.
    first, last, phase, beat : In
        The position the beat names (the unit's input payload fields).
    flush : In(1)
        Restart: expect a vector start; clears ``frame_error``.
    keep : Out(1)
        The accepted beat enters the datapath (combinational).
    vec_start : Out(1)
        ... as the first beat of a vector (combinational).
    frame_error : Out(1)
        Sticky: an accepted beat was not the expected one.
    """

    def __init__(self, phases: int, beats: int):
        self.phases, self.beats = phases, beats
        super().__init__(
            {
                "accept": In(1),
                "first": In(1),
                "last": In(1),
                "phase": In(range(max(2, phases))),  # never zero-width: lint-clean Verilog
                "beat": In(range(max(2, beats))),
                "flush": In(1),
                "keep": Out(1),
                "vec_start": Out(1),
                "frame_error": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        phases, beats = self.phases, self.beats
        beat = Signal.like(self.beat)  # the position expected next
        phase = Signal.like(self.phase)
        synced = Signal(init=1)  # in step with the stream (else: wait for a vector start)
        pos_ok = Signal()  # the beat's flags agree with the position it names
        is_start = Signal()  # the beat names itself the first beat of a vector
        expected = Signal()  # the beat is the one expected
        m.d.comb += [
            pos_ok.eq(
                (self.first == (self.beat == 0))
                & (self.last == (self.beat == beats - 1))
                & (self.beat < beats)
                & (self.phase < phases)
            ),
            is_start.eq(pos_ok & (self.beat == 0) & (self.phase == 0)),
            expected.eq(pos_ok & (self.beat == beat) & (self.phase == phase)),
            self.keep.eq(self.accept & (is_start | (synced & expected))),
            self.vec_start.eq(self.accept & is_start),
        ]
        with m.If(self.flush):
            m.d.sync += [beat.eq(0), phase.eq(0), synced.eq(1), self.frame_error.eq(0)]
        with m.Elif(self.accept):
            m.d.sync += synced.eq(self.keep)
            with m.If(self.keep):  # the position after the one the beat names
                next_phase = Mux(self.phase == phases - 1, 0, self.phase + 1)
                m.d.sync += [
                    beat.eq(Mux(self.beat == beats - 1, 0, self.beat + 1)),
                    phase.eq(Mux(self.beat == beats - 1, next_phase, self.phase)),
                ]
            cut_short = is_start & ((beat != 0) | (phase != 0))  # previous vector unfinished
            with m.If(synced & (cut_short | ~self.keep)):
                m.d.sync += self.frame_error.eq(1)
        return m
