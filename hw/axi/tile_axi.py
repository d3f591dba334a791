"""The whole tile periphery (SAR ADC -> serializer -> NMPU) as an SoC block (docs/integration.md).

::

    start, cmp --> [TilePeriphery: SAR -> serializer -> NMPU] --o--> (lanes packed) --> m_axis
    dac, busy <--
    s_axil <-> [AXI4LiteSlave] --> [RegisterFile from nmpu_axi.rdl, ADC registers present]

The analog side keeps its own pins (``start``, ``busy``, ``dac``, ``cmp``: DESIGN 4.4), since
they face the crossbar macro, not the bus; ``active_steps`` is the register
``ADC_CTRL.active_steps`` (latched by the SAR at each start). Everything else is as in
``hw.axi.nmpu_axi``: ``m_axis`` one output vector per frame, the same register map with
``ID.magic`` = "TILE" and ``ADC_CTRL``/``ADC_CONFIG`` present. The post-processing unit is
the NMPU (the FP16 unit has no parameter read-back).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hw.axi.nmpu_axi import soc_members, soc_side
from hw.axi.regmap import compile_map
from hw.tile import TilePeriphery
from model.golden.tile import TileConfig


class TileAxi(wiring.Component):
    """The tile periphery behind an AXI4-Stream master and an AXI4-Lite register block.

    Parameters
    ----------
    config : TileConfig

    Members
    -------
    clk, rst_n : In(1)
        Clock; active-low synchronous reset.
    start : In(1), busy : Out(1), dac : Out(columns * steps), cmp : In(columns)
        The SAR's conversion control and analog loop (``hw.sar.SAR``); one start per phase.
    m_axis_*, s_axil_*, irq
        As ``hw.axi.nmpu_axi.NMPUAxi``.
    """

    def __init__(self, config: TileConfig):
        if not isinstance(config, TileConfig):
            raise TypeError(f"TileAxi takes a TileConfig, not {config!r}")
        self.config = config
        self.tile = TilePeriphery(config, readback=True)
        self.regmap = compile_map(config.nmpu, self.tile.nmpu.latency, config.sar)
        sar = self.tile.signature.members
        members = {
            "clk": In(1),
            "rst_n": In(1),
            "start": sar["start"],
            "busy": sar["busy"],
            "dac": sar["dac"],
            "cmp": sar["cmp"],
        }
        super().__init__({**members, **soc_members(config.nmpu, self.regmap)})

    @property
    def latency(self) -> int:
        return self.tile.latency

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.tile = tile = self.tile
        m.d.comb += [
            tile.start.eq(self.start),
            self.busy.eq(tile.busy),
            self.dac.eq(tile.dac),
            tile.cmp.eq(self.cmp),
        ]
        # A vector enters at the accepted start of its phase 0.
        phase = Signal(range(max(2, cfg.phases)))
        accepted = self.start & ~tile.busy
        vector_in, frame_edge, frame_q = Signal(), Signal(), Signal()
        with m.If(accepted):
            m.d.sync += phase.eq(0 if cfg.phases == 1 else (phase + 1) % cfg.phases)
        m.d.sync += [
            vector_in.eq(accepted & (phase == 0)),
            frame_q.eq(tile.frame_error),
        ]
        m.d.comb += frame_edge.eq(tile.frame_error & ~frame_q)  # sticky in the unit: count once
        _, regs = soc_side(
            m, self, tile, vector_in=vector_in, frame_error=frame_edge,
            busy=tile.busy | (phase != 0), in_flight_max=cfg.phases + 2 * cfg.nmpu.beats + 8,
        )  # fmt: skip
        k, steps = regs.adc_ctrl_active_steps, cfg.sar.steps  # clamped to [1, steps] here
        m.d.comb += tile.active_steps.eq(Mux(k == 0, 1, Mux(k > steps, steps, k)))
        return m
