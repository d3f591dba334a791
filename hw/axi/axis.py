"""AXI4-Stream <-> the NMPU's lane streams: byte-aligned lanes, vectors framed by ``tlast``.

Beat format, both directions: lane ``j`` in byte-aligned slot ``j`` of
``ceil(width / 8) * 8`` bits (:func:`lane_slot`). Inputs: the low ``in_width`` bits of a
slot are the code, the rest is ignored. Outputs: sign-extended (signed output) or
zero-extended into the slot. One input vector is ``phases * beats`` beats (phase 0 first,
column order within a phase) with ``tlast`` on its last beat; one output vector is
``beats`` beats with ``tlast`` on its last.

:class:`AxisFramer` counts input beats to give each its position (``phase``, ``beat``,
``first``, ``last``) for the unit's framing (DESIGN 3.4), and checks ``tlast``:

* ``tlast`` early (before the vector's last beat): the beat is passed on, the vector is
  over; the next beat starts a vector (the unit sees a vector cut short: it emits the correct
  beats of that vector's last phase before the cut, without ``tlast``, and nothing after);
* ``tlast`` late (missing on the vector's last beat): the vector is complete and passed on;
  the beats after it are dropped up to and including the next ``tlast``.

Either raises ``frame_error`` for one clock; the vector after it is right.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.lane_unit import unit_members
from model.nmpu import NMPUConfig


def lane_slot(width: int) -> int:
    """Bits of one lane's byte-aligned slot in ``tdata``."""
    return -(-width // 8) * 8


def axis_members(width: int, flow) -> dict:
    """``tdata``, ``tvalid``, ``tready``, ``tlast`` of a stream port (``flow``: In for a slave)."""
    back = Out if flow is In else In
    return {"tdata": flow(width), "tvalid": flow(1), "tready": back(1), "tlast": flow(1)}


class AxisFramer(wiring.Component):
    """An AXI4-Stream slave of input vectors to the unit's input stream.

    Parameters
    ----------
    config : NMPUConfig

    Members
    -------
    tdata, tvalid, tready, tlast : the AXI4-Stream slave (``lanes`` byte-aligned codes).
    o : Out(stream.Signature(code_beat_layout))
        To the unit's ``i``; ``o.ready`` may be combinational from the unit's output side.
    flush : In(1)
        Restart: the next beat starts a vector; stop dropping.
    frame_error : Out(1)
        One clock per vector that ended early or late.
    vector_in : Out(1)
        One clock per complete input vector passed on.
    """

    def __init__(self, config: NMPUConfig):
        self.config = config
        self.slot = lane_slot(config.in_width)
        unit_in = unit_members(config, wiring.Signature({}))["i"]
        super().__init__(
            {
                **axis_members(self.slot * config.lanes, In),
                "o": Out(unit_in.signature.flip()),
                "flush": In(1),
                "frame_error": Out(1),
                "vector_in": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        beats, phases = cfg.beats, cfg.phases
        beat = Signal(range(max(2, beats)))  # position of the next beat
        phase = Signal(range(max(2, phases)))
        dropping = Signal()  # after a late tlast: drop up to the next tlast
        at_end = Signal()
        pl = self.o.payload
        m.d.comb += [
            at_end.eq((beat == beats - 1) & (phase == phases - 1)),
            self.o.valid.eq(self.tvalid & ~dropping),
            self.tready.eq(self.o.ready | dropping),
            pl.codes.eq(
                Cat(self.tdata.word_select(j, self.slot)[: cfg.in_width] for j in range(cfg.lanes))
            ),  # fmt: skip
            pl.first.eq(beat == 0),
            pl.last.eq(beat == beats - 1),
            pl.beat.eq(beat),
            pl.phase.eq(phase),
        ]
        taken = self.o.valid & self.o.ready
        restart = [beat.eq(0), phase.eq(0)]
        m.d.sync += [self.frame_error.eq(0), self.vector_in.eq(0)]
        with m.If(self.flush):
            m.d.sync += [*restart, dropping.eq(0)]
        with m.Elif(dropping):  # noqa: SIM117 (Amaranth control flow, not context managers)
            with m.If(self.tvalid & self.tlast):
                m.d.sync += dropping.eq(0)
        with m.Elif(taken):
            with m.If(at_end):
                m.d.sync += [*restart, self.vector_in.eq(1)]
                with m.If(~self.tlast):  # late: the vector is whole, drop to the next tlast
                    m.d.sync += [dropping.eq(1), self.frame_error.eq(1)]
            with m.Elif(self.tlast):  # early
                m.d.sync += [*restart, self.frame_error.eq(1)]
            with m.Elif(beat == beats - 1):
                m.d.sync += [beat.eq(0), phase.eq(phase + 1)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        return m


def pack_lanes(values, width: int, signed: bool):
    """The output ``tdata``: each lane value (``width`` bits) extended into its byte-aligned
    slot, with its sign bit when ``signed``, else with zeros."""
    slot = lane_slot(width)
    words = []
    for v in values:
        fill = v[width - 1] if signed else Const(0, 1)
        words.append(Cat(v[:width], fill.replicate(slot - width)) if slot > width else v[:width])
    return Cat(*words)
