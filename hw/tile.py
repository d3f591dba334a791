"""The digital periphery of one AIMC tile: SAR back end -> code serializer -> NMPU (or the
FP16 baseline unit: ``TilePeriphery(config, unit="fp16")``).

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

from hw.fp16.unit import FP16Unit
from hw.nmpu import NMPU
from hw.sar import SAR
from hw.serializer import CodeSerializer
from model.golden.tile import TileConfig

SAR_PORTS = ("start", "active_steps", "dac", "cmp", "busy")
#: The interchangeable post-processing units (golden models: ``model.golden.tile.UNITS``).
UNITS = {"fixed": NMPU, "fp16": FP16Unit}
NMPU_PORTS = ("params", "flush", "o", "frame_error", "param_error")


class TilePeriphery(wiring.Component):
    """SAR ADC back end, serializer and NMPU of one tile (golden model: ``model.golden.tile``).

    Parameters
    ----------
    config : TileConfig
        The SAR's and the NMPU's configs, checked to agree.
    unit : "fixed" or "fp16"
        The post-processing unit: ``hw.nmpu.NMPU`` (default) or the FP16 baseline
        ``hw.fp16.unit.FP16Unit``, built from ``config.nmpu`` (same ports; the FP16
        unit's parameter port carries raw binary16 patterns).
    readback : bool
        The parameter port also returns what is stored (``params.rdata``, ``hw.param_store``);
        the NMPU only. Used by the AXI wrapper (``hw.axi.tile_axi``).

    Members
    -------
    start, active_steps, dac, cmp, busy
        The SAR's conversion control and closed-loop analog interface (hw.sar.SAR).
        One conversion per phase; a vector's phases are converted back to back.
    params : In(ParamPortSignature)
        The NMPU's parameter port (hw.nmpu.NMPU).
    o : Out(stream.Signature)
        The NMPU's activations.
    adc_fire : Out(1)
        High in a cycle where the SAR's result transfers to the serializer.
    adc_payload : Out(the SAR's payload layout)
        The SAR's result (codes and raw decisions), valid when ``adc_fire``.
    flush : In(1)
        The NMPU's flush (the SAR and serializer are not flushed).
    frame_error, param_error : Out(1)
        The NMPU's sticky error flags.
    """

    def __init__(self, config: TileConfig, unit: str = "fixed", *, readback: bool = False):
        if not isinstance(config, TileConfig):
            raise TypeError(f"TilePeriphery takes a TileConfig, not {type(config).__name__}")
        if unit not in UNITS:
            raise ValueError(f"TilePeriphery: unit must be one of {sorted(UNITS)}, not {unit!r}")
        self.config, self.unit = config, unit
        self.sar = SAR(config.sar)
        self.serializer = CodeSerializer(
            config.columns,
            config.nmpu.lanes,
            config.sar.out_width,
            config.nmpu.in_signed,
            config.phases,
        )
        # ``readback``: the parameter port returns what is stored (the NMPU's ``params.rdata``).
        self.nmpu = (
            UNITS[unit](config.nmpu, readback=True) if readback else UNITS[unit](config.nmpu)
        )
        # The outer ports are the blocks' own ports, re-exported unchanged.
        sar_ports, nmpu_ports = self.sar.signature.members, self.nmpu.signature.members
        super().__init__(
            {
                **{name: sar_ports[name] for name in SAR_PORTS},
                **{name: nmpu_ports[name] for name in NMPU_PORTS},
                "adc_fire": Out(1),
                "adc_payload": Out(self.sar.o.payload.shape()),
            }
        )

    @property
    def latency(self) -> int:
        """Clocks from the edge accepting the ``start`` of a vector's last (full) conversion to
        the first edge that can transfer its first output beat: the blocks' latencies summed.

        Holds while the serializer is not the bottleneck, i.e. a conversion takes at least
        as many clocks as it has beats (``SAR.period_at(k) >= columns // lanes``); otherwise
        the SAR waits for the serializer and the delay grows."""
        return self.sar.latency + self.serializer.latency + self.nmpu.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.sar = sar = self.sar
        m.submodules.serializer = ser = self.serializer
        m.submodules.nmpu = nmpu = self.nmpu

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
            self.adc_payload.eq(sar.o.payload),
        ]
        wiring.connect(m, ser.o, nmpu.i)
        wiring.connect(m, wiring.flipped(self.params), nmpu.params)
        m.d.comb += nmpu.flush.eq(self.flush)
        wiring.connect(m, wiring.flipped(self.o), nmpu.o)
        m.d.comb += [
            self.frame_error.eq(nmpu.frame_error),
            self.param_error.eq(nmpu.param_error),
        ]
        return m
