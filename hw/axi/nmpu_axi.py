"""The NMPU as an SoC block: AXI4-Stream in and out, AXI4-Lite registers (``docs/integration.md``).

::

    s_axis --> [AxisFramer] --i--> [NMPU] --o--> (lanes packed) --> m_axis
    s_axil <-> [AXI4LiteSlave] --bus--> [RegisterFile from nmpu_axi.rdl] --params--> [NMPU]

Verilog ports (``make rtl`` writes ``nmpu_axi.v``): ``clk``; ``rst_n`` (active low,
synchronous: the ``sync`` domain's reset is ``~rst_n``); ``s_axis_t{data,valid,ready,last}``;
``m_axis_t{data,valid,ready,last}``; ``s_axil_{aw,w,b,ar,r}*`` (AMBA names, 32-bit data,
``addr_width`` address bits). ``irq`` is high while a sticky status flag is set.

``STATUS``/``CTRL.flush`` as in the map; a flush issued while an output beat waits for
``m_axis_tready`` takes effect once that beat is taken (the beat is not withdrawn, so the
flushed vector's frame ends there, without ``tlast``).

Throughput and latency are the NMPU's: one beat per clock; ``s_axis_tready`` depends
combinationally on ``m_axis_tready`` (the unit's ``advance``), no ``tvalid`` on any ready.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.axi.axil import AXI4LiteSlave, axil_members
from hw.axi.axis import AxisFramer, axis_members, lane_slot, pack_lanes
from hw.axi.registers import RegisterFile
from hw.axi.regmap import compile_map
from hw.nmpu import NMPU
from model.nmpu import NMPUConfig


class NMPUAxi(wiring.Component):
    """The NMPU behind AXI4-Stream data ports and an AXI4-Lite register block.

    Parameters
    ----------
    config : NMPUConfig

    Members
    -------
    clk, rst_n : In(1)
        Clock; active-low synchronous reset (clears the unit, the framing and every
        register but the parameter memories, as ``hw.nmpu.NMPU``'s reset does).
    s_axis_tdata : In(lanes * lane_slot(in_width)), s_axis_tvalid, s_axis_tlast : In(1),
    s_axis_tready : Out(1)
        Input vectors (``hw.axi.axis``).
    m_axis_tdata : Out(lanes * lane_slot(out_width)), m_axis_tvalid, m_axis_tlast : Out(1),
    m_axis_tready : In(1)
        Output vectors.
    s_axil_* : the AXI4-Lite slave (``hw.axi.axil``), map ``regmap`` (``nmpu_axi.rdl``).
    irq : Out(1)
        ``STATUS.frame_error | STATUS.bus_error``.

    Attributes
    ----------
    regmap : hw.axi.regmap.RegisterMap
    latency : int
        The NMPU's (the wrapper adds no register on the data path).
    """

    def __init__(self, config: NMPUConfig):
        if not isinstance(config, NMPUConfig):
            raise TypeError(f"NMPUAxi takes an NMPUConfig, not {config!r}")
        self.config = config
        self.nmpu = NMPU(config, readback=True)
        self.regmap = compile_map(config, self.nmpu.latency)
        members = {"clk": In(1), "rst_n": In(1)}
        for name, member in axis_members(lanes_bits(config, "in"), In).items():
            members[f"s_axis_{name}"] = member
        super().__init__({**members, **soc_members(config, self.regmap)})

    @property
    def latency(self) -> int:
        return self.nmpu.latency

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.nmpu = nmpu = self.nmpu
        m.submodules.framer = framer = AxisFramer(cfg)
        for name in ("tdata", "tvalid", "tlast"):
            m.d.comb += getattr(framer, name).eq(getattr(self, f"s_axis_{name}"))
        m.d.comb += self.s_axis_tready.eq(framer.tready)
        wiring.connect(m, framer.o, nmpu.i)
        vector_started = (framer.o.payload.beat != 0) | (framer.o.payload.phase != 0)
        flush, _ = soc_side(
            m, self, nmpu, vector_in=framer.vector_in, frame_error=framer.frame_error,
            busy=vector_started, in_flight_max=nmpu.latency + cfg.phases * cfg.beats,
        )  # fmt: skip
        m.d.comb += framer.flush.eq(flush)
        return m


def soc_members(cfg: NMPUConfig, regmap) -> dict:
    """The ports every AXI top shares: ``m_axis_*``, ``s_axil_*``, ``irq``."""
    members = {}
    for name, member in axis_members(lanes_bits(cfg, "out"), Out).items():
        members[f"m_axis_{name}"] = member
    for name, member in axil_members(regmap.addr_width).items():
        members[f"s_axil_{name}"] = member
    members["irq"] = Out(1)
    return members


def soc_side(m: Module, top, unit, *, vector_in, frame_error, busy, in_flight_max: int):
    """Add to ``m`` what every AXI top shares around its ``unit`` (``o``, ``params`` with
    read-back, ``flush``): the ``sync`` domain from ``clk``/``rst_n``, ``m_axis`` from
    ``unit.o``, the AXI4-Lite slave and the register block of ``top.regmap``, the deferred
    flush, STATUS and the counters. ``vector_in``/``frame_error`` pulse per input vector and
    per framing fault; ``busy`` is the input side's own. Returns the flush signal."""
    cfg = top.config if isinstance(top.config, NMPUConfig) else top.config.nmpu
    m.domains.sync = cd = ClockDomain("sync")
    m.d.comb += [cd.clk.eq(top.clk), cd.rst.eq(~top.rst_n)]
    m.submodules.axil = axil = AXI4LiteSlave(top.regmap.addr_width)
    m.submodules.regs = regs = RegisterFile(top.regmap, cfg)

    # ------------------------------------------------------------------ output stream
    o = unit.o
    m.d.comb += [
        top.m_axis_tdata.eq(pack_lanes(list(o.payload.data), cfg.out_width, cfg.out_signed)),
        top.m_axis_tvalid.eq(o.valid),
        top.m_axis_tlast.eq(o.payload.last),
        o.ready.eq(top.m_axis_tready),
    ]

    # ---------------------------------------------------------------------- registers
    for name, member in axil.signature.members.items():
        if name == "bus":
            continue
        port, outer = getattr(axil, name), getattr(top, f"s_axil_{name}")
        m.d.comb += port.eq(outer) if member.flow == In else outer.eq(port)
    wiring.connect(m, axil.bus, regs.bus)
    wiring.connect(m, regs.params, unit.params)
    # A flush waits while an output beat is presented and not taken: AXI4-Stream forbids
    # withdrawing it (the unit's flush would). That beat goes out, then the flush acts.
    flush, pending = Signal(), Signal()
    stalled = o.valid & ~top.m_axis_tready
    m.d.comb += flush.eq((regs.ctrl_flush | pending) & ~stalled)
    m.d.sync += pending.eq((regs.ctrl_flush | pending) & stalled)
    m.d.comb += unit.flush.eq(flush)

    # -------------------------------------------------------------- status, counters
    out_vector = o.valid & top.m_axis_tready & o.payload.last
    in_flight = Signal(range(2 * in_flight_max + 2))
    with m.If(flush):
        m.d.sync += in_flight.eq(0)
    with m.Elif(vector_in & ~out_vector):
        m.d.sync += in_flight.eq(in_flight + 1)
    with m.Elif(out_vector & ~vector_in & (in_flight != 0)):
        m.d.sync += in_flight.eq(in_flight - 1)
    m.d.comb += [
        regs.status_busy.eq((in_flight != 0) | busy | o.valid),
        regs.status_frame_error_set.eq(frame_error),
        regs.status_bus_error_set.eq(regs.bus_fault),
        regs.vectors_incr.eq(out_vector),
        regs.frame_errors_incr.eq(frame_error),
        regs.bus_errors_incr.eq(regs.bus_fault),
        top.irq.eq(regs.sticky_any),
    ]
    return flush, regs


def lanes_bits(cfg: NMPUConfig, side: str) -> int:
    """``tdata`` width of the input (``side="in"``) or output stream."""
    width = cfg.in_width if side == "in" else cfg.out_width
    return cfg.lanes * lane_slot(width)
