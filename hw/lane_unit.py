"""What every lane-parallel post-processing unit shares (``hw.nmpu.NMPU``, ``hw.fp16.unit``):
the input handshake, the framing and the per-column parameter memories.

:func:`input_stage` builds them into a unit's module from its ports (``i``,
``o``, ``params``, ``flush``, ``frame_error``, ``param_error``), so the two
units cannot drift apart in the behaviour DESIGN 3.4 specifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.framing import Framer
from hw.param_store import ParamBanks
from model.nmpu import PARAM_FIELDS, NMPUConfig


class LaneUnit(wiring.Component):
    """Base of the lane-parallel units: the ports of :func:`unit_members` and ``latency``.

    Subclasses set ``STAGES`` (their pipeline registers, in order: the latency is
    their number) and ``PARAM_PORT`` (their parameter-port signature class).
    """

    STAGES: tuple = ()
    PARAM_PORT: type = wiring.Signature

    def __init__(self, config: NMPUConfig, *, readback: bool = False):
        if not isinstance(config, NMPUConfig):
            raise TypeError(f"{type(self).__name__} takes an NMPUConfig, not {config!r}")
        self.config, self.readback = config, readback
        # ``readback``: the parameter port also returns what is stored (``params.rdata``).
        port = self.PARAM_PORT(config, readback=True) if readback else self.PARAM_PORT(config)
        super().__init__(unit_members(config, port))

    @property
    def latency(self) -> int:
        """Clocks from the edge accepting a vector's last-phase beat to the first edge that
        can transfer its output beat: one per pipeline register."""
        return len(self.STAGES)


def unit_members(config, param_port: wiring.Signature) -> dict:
    """The ports of a unit for ``config`` (an ``NMPUConfig``): ``i`` (lane beats with their
    position), ``o`` (lane outputs, ``last``), ``params``, ``flush`` and the error flags."""
    in_shape = signed(config.in_width) if config.in_signed else unsigned(config.in_width)
    out_shape = signed(config.out_width) if config.out_signed else unsigned(config.out_width)
    in_layout = code_beat_layout(in_shape, config.lanes, config.phases, config.beats)
    out_layout = data.StructLayout({"data": data.ArrayLayout(out_shape, config.lanes), "last": 1})
    return {
        "i": In(stream.Signature(in_layout)),
        "o": Out(stream.Signature(out_layout)),
        "params": In(param_port),
        "flush": In(1),
        "frame_error": Out(1),
        "param_error": Out(1),
    }


def code_beat_layout(code_shape, lanes: int, phases: int, beats: int) -> data.StructLayout:
    """A unit's input beat: ``lanes`` codes, ``first``/``last`` of the phase, and the beat's
    position (``phase``, ``beat``; never zero-width, for lint-clean Verilog)."""
    return data.StructLayout(
        {
            "codes": data.ArrayLayout(code_shape, lanes),
            "first": 1,
            "last": 1,
            "phase": range(max(2, phases)),
            "beat": range(max(2, beats)),
        }
    )


@dataclass(frozen=True)
class InputStage:
    """Signals a unit's datapath uses.

    Members
    -------
    advance : every pipeline register moves one stage (``~o.valid | o.ready``); ``i.ready``
        is ``advance`` outside a flush and a reset.
    keep : the input beat transferring this clock enters the datapath.
    params : field -> this beat's parameters, ``lanes`` raw words (lane j lowest).
    """

    advance: Signal
    keep: Signal
    params: dict


def input_stage(m, unit, *, columns: int, lanes: int, phases: int, column_bits: int,
                fields: dict, port) -> InputStage:  # fmt: skip
    """Add the handshake, a ``Framer`` and ``ParamBanks`` (``fields``: name -> raw width) to
    ``m`` for ``unit``; drives ``unit.i.ready``, ``frame_error`` and ``param_error``.

    ``i.ready`` is low while the ``sync`` domain's reset is high: a beat offered then would
    be taken into registers the reset is clearing (``o.valid`` resets to 0, so ``advance``
    alone is high) and lost; it waits and transfers after the release instead. It is low in
    a parameter read-back clock too (``port.re``): the read-back uses the parameter memories'
    one read port, which an accepted beat needs in the clock it is accepted."""
    advance = Signal()
    accept = Signal()
    in_reset = ResetSignal("sync", allow_reset_less=True)  # Const(0) in a reset-less domain
    reading_back = unit.params.re if "re" in port.members else 0
    m.d.comb += [
        advance.eq(~unit.o.valid | unit.o.ready),
        unit.i.ready.eq(advance & ~unit.flush & ~in_reset & ~reading_back),
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
        columns=columns, lanes=lanes, column_bits=column_bits, fields=fields, port=port,
        address_fields=PARAM_FIELDS,
    )  # fmt: skip
    wiring.connect(m, wiring.flipped(unit.params), banks.params)
    m.d.comb += [
        banks.vec_start.eq(framer.vec_start),
        banks.beat.eq(pi.beat),
        banks.flush.eq(unit.flush),
        unit.param_error.eq(banks.param_error),
    ]
    return InputStage(advance, framer.keep, {f: banks.lanes_of(f) for f in fields})
