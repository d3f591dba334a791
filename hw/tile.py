"""The digital periphery of one AIMC tile: SAR back end -> code serializer -> NMPU.

This composed top level is what ``make sim`` co-verifies on captured
activations: one simulation, one Verilog file, the same modules that
``make rtl`` writes separately. The SAR's output is also brought out as an
observation tap (``adc_fire`` / ``adc_payload``) so the testbench checks every
ADC code and raw decision as well as every activation.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.nmpu import NMPU
from hw.sar import SAR
from hw.serializer import CodeSerializer
from model.nmpu import NMPUConfig
from model.sar import SARConfig


def check_chain(sar_cfg: SARConfig, nmpu_cfg: NMPUConfig) -> None:
    """The SAR and the NMPU must agree on columns and code width; error names the fields."""
    if sar_cfg.columns != nmpu_cfg.columns:
        raise ValueError(
            f"SARConfig.columns ({sar_cfg.columns}) != NMPUConfig.columns ({nmpu_cfg.columns})"
        )
    if sar_cfg.out_width != nmpu_cfg.in_width:
        raise ValueError(
            f"SARConfig.out_width ({sar_cfg.out_width}) != NMPUConfig.in_width "
            f"({nmpu_cfg.in_width})"
        )


SAR_PORTS = ("start", "active_steps", "dac", "cmp", "busy")
NMPU_PORTS = ("cfg", "o", "frame_error", "cfg_error")


class TilePeriphery(wiring.Component):
    """SAR ADC back end, serializer and NMPU of one tile.

    Members
    -------
    start, active_steps, dac, cmp, busy
        The SAR's conversion control and closed-loop analog interface (hw.sar.SAR).
        One conversion per phase; a vector's phases are converted back to back.
    cfg : In(ConfigPortSignature)
        The NMPU's parameter port (hw.nmpu.NMPU).
    o : Out(stream.Signature)
        The NMPU's activations.
    adc_fire : Out(1)
        High in a cycle where the SAR's result transfers to the serializer.
    adc_payload : Out(SAR payload width)
        The SAR's result (codes and raw decisions), valid when ``adc_fire``.
    frame_error, cfg_error : Out(1)
        The NMPU's sticky error flags.
    """

    def __init__(self, sar_cfg: SARConfig, nmpu_cfg: NMPUConfig):
        check_chain(sar_cfg, nmpu_cfg)
        self.sar_cfg, self.nmpu_cfg = sar_cfg, nmpu_cfg
        self._sar = SAR(sar_cfg)
        self._nmpu = NMPU(nmpu_cfg)
        # The outer ports are the blocks' own ports, re-exported unchanged.
        sar_ports, nmpu_ports = self._sar.signature.members, self._nmpu.signature.members
        super().__init__(
            {
                **{name: sar_ports[name] for name in SAR_PORTS},
                **{name: nmpu_ports[name] for name in NMPU_PORTS},
                "adc_fire": Out(1),
                "adc_payload": Out(self._sar.payload_layout.size),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.sar = sar = self._sar
        m.submodules.serializer = ser = CodeSerializer(
            self.sar_cfg.columns,
            self.nmpu_cfg.lanes,
            self.sar_cfg.out_width,
            self.nmpu_cfg.in_signed,
        )
        m.submodules.nmpu = nmpu = self._nmpu

        # SAR control and analog loop straight through.
        m.d.comb += [
            sar.start.eq(self.start),
            sar.active_steps.eq(self.active_steps),
            self.dac.eq(sar.dac),
            sar.cmp.eq(self.cmp),
            self.busy.eq(sar.busy),
        ]
        # SAR result -> serializer (codes only), with the observation tap.
        m.d.comb += [
            ser.i.valid.eq(sar.o.valid),
            ser.i.payload.codes.eq(sar.o.payload.codes),
            sar.o.ready.eq(ser.i.ready),
            self.adc_fire.eq(sar.o.valid & sar.o.ready),
            self.adc_payload.eq(sar.o.payload.as_value()),
        ]
        wiring.connect(m, ser.o, nmpu.i)
        wiring.connect(m, wiring.flipped(self.cfg), nmpu.cfg)
        wiring.connect(m, wiring.flipped(self.o), nmpu.o)
        m.d.comb += [self.frame_error.eq(nmpu.frame_error), self.cfg_error.eq(nmpu.cfg_error)]
        return m
