"""What every lane-parallel post-processing unit shares (``hw.nmpu.NMPU``, ``hw.fp16.unit``):
the input handshake, the framing and the per-column parameter banks.

:func:`input_stage` builds them into a unit's module from its ports (``i``,
``o``, ``params``, ``flush``, ``frame_error``, ``param_error``), so the two
units cannot drift apart in the behaviour DESIGN 3.4 specifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Signal
from amaranth.lib import wiring

from hw.framing import Framer
from hw.param_store import ParamBanks


@dataclass(frozen=True)
class InputStage:
    """Signals a unit's datapath uses.

    Members
    -------
    advance : every pipeline register moves one stage (``~o.valid | o.ready``).
    keep : the input beat transferring this clock enters the datapath.
    params : field -> this beat's parameters, ``lanes`` raw words (lane j lowest).
    """

    advance: Signal
    keep: Signal
    params: dict


def input_stage(m, unit, *, columns: int, lanes: int, phases: int, column_bits: int,
                fields: dict, port) -> InputStage:  # fmt: skip
    """Add the handshake, a ``Framer`` and ``ParamBanks`` (``fields``: name -> raw width) to
    ``m`` for ``unit``; drives ``unit.i.ready``, ``frame_error`` and ``param_error``."""
    advance = Signal()
    accept = Signal()
    m.d.comb += [
        advance.eq(~unit.o.valid | unit.o.ready),
        unit.i.ready.eq(advance & ~unit.flush),
        accept.eq(unit.i.valid & unit.i.ready),
    ]
    pi = unit.i.payload
    m.submodules.framer = framer = Framer(phases, columns // lanes)
    m.d.comb += [
        framer.accept.eq(accept),
        framer.first.eq(pi.first),
        framer.last.eq(pi.last),
        framer.phase.eq(pi.phase),
        framer.beat.eq(pi.beat),
        framer.flush.eq(unit.flush),
        unit.frame_error.eq(framer.frame_error),
    ]
    m.submodules.banks = banks = ParamBanks(
        columns=columns, lanes=lanes, column_bits=column_bits, fields=fields, port=port
    )
    wiring.connect(m, wiring.flipped(unit.params), banks.params)
    m.d.comb += [
        banks.vec_start.eq(framer.vec_start),
        banks.beat.eq(pi.beat),
        banks.flush.eq(unit.flush),
        unit.param_error.eq(banks.param_error),
    ]
    return InputStage(advance, framer.keep, {f: banks.lanes_of(f) for f in fields})
