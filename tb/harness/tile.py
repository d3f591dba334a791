"""Bulk-regression harness for the tile (DESIGN 10): the closed loop with no Python per step.

``TileHarness`` wraps ``hw.tile.TilePeriphery`` with RTL doing what the
per-clock tile bench does in Python:

* the analog inputs: a stimulus memory (``stim``) holding, per conversion,
  every column's held input ``X`` in the integer front end's fine units and
  the conversion's ``active_steps``; replayed in a loop, one conversion per
  accepted ``start``, with seeded LFSR idle cycles before each start;
* the integer analog front end's comparator (``tb.harness.comparator``, the
  one the SAR harness uses too): per-column weights and offsets in a memory
  (``fe_mem``, one word per column) copied into registers on ``load``; it
  answers ``dac`` with ``cmp`` in the same clock, ``X + O[c] + noise >=
  D(dac)``, with the noise hash of the model, keyed on (``noise_seed``,
  ``first_index`` + conversion number, step, column);
* random NMPU parameter writes and their per-vector log (``vec_log``), as
  ``tb.harness.nmpu.NMPUHarness`` (the same writer, replayed by ``WriteReplay``);
* a sink with seeded backpressure recording every activation beat
  (``out_mem``), and the SAR's results from the tile's ADC tap in a ring
  (``adc_mem``, conversion ``n`` at ``n mod adc_depth``); ``done`` when
  ``out_mem`` is full or the run is complete.

cocotb (``tb/harness_benches/tile.py``) loads, waits for ``done`` once per chunk,
reads back and scores against ``model.golden.tile.tile`` with the same
``IntegerFrontEnd``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.nmpu import ParamPortSignature
from hw.tile import TilePeriphery
from model.analog.integer_frontend import NOISE_SHIFT
from model.golden.tile import TileConfig
from tb.harness.common import (
    Pauses,
    add_param_writer,
    add_recorder,
    register_inputs,
    vpi_public,
    with_registered_reset,
)
from tb.harness.comparator import RHS_WIDTH, SCALE_WIDTH, IntegerComparator, add_closed_loop


class TileHarness(wiring.Component):
    """The tile with analog stimulus, integer comparator, writer and recorders in RTL.

    Parameters
    ----------
    config : TileConfig
    stim_depth : int
        Conversions the stimulus memory holds (``stim_conversions`` used).
    out_depth : int
        Activation beats recorded per chunk (a multiple of ``beats``).
    frac_bits : int
        Fine units per LSB of the integer front end are ``2**frac_bits``.

    Members
    -------
    go, load, resume, dump : In(1)
        Run; load the seeds and copy ``fe_mem`` into the comparator (``fe_ready``
        rises when done); start the next chunk; bench only: write the
        memories in :attr:`dumped` to files (:func:`tb.harness.common.add_memory_dump`).
    vectors, stim_conversions : In(32), In(16)
    seed : In(64)
        Seeds the idle / backpressure generators and the parameter writer.
    idle_pattern, bp_pattern : In(2)
        0 none, 1 random, 2 bursty (``tb.harness.nmpu``).
    write_rate : In(8)
        Parameter writes per 256 cycles.
    noise_seed, first_index : In(32)
        Noise key of the integer front end; key of conversion 0.
    noise_scale : In(24)
    noise_bias, rhs_bias : In
        From ``FrontEndFormat.biases(noise_scale)``: the comparator is all unsigned.
    params : In(ParamPortSignature)
        External parameter writes while ``go`` is low.
    done, fe_ready, out_count, out_total, conversions, adc_total, writes_issued,
    frame_error, param_error : Out
    """

    def __init__(self, config: TileConfig, *, stim_depth: int, out_depth: int, frac_bits: int = 8):
        beats = config.nmpu.beats
        if out_depth % beats:
            raise ValueError(f"out_depth ({out_depth}) must be a multiple of beats ({beats})")
        self.config = config
        self.dut = TilePeriphery(config, unit="fixed")
        self.comparator = IntegerComparator(config.sar, frac_bits)
        self.format = self.comparator.format
        self.stim_depth, self.out_depth = stim_depth, out_depth
        chunk_conversions = out_depth // beats * config.phases
        # Room for a chunk plus what the pipeline converts ahead of its outputs.
        self.adc_depth = 1 << (chunk_conversions + 4 * config.phases + 16).bit_length()
        self.log_depth = 1 << max(4, (2 * out_depth // beats + 8).bit_length())
        super().__init__(
            {
                "go": In(1),
                "load": In(1),
                "resume": In(1),
                "dump": In(1),
                "vectors": In(32),
                "stim_conversions": In(16),
                "seed": In(64),
                "idle_pattern": In(2),
                "bp_pattern": In(2),
                "write_rate": In(8),
                "noise_seed": In(32),
                "first_index": In(32),
                "noise_scale": In(SCALE_WIDTH),
                "noise_bias": In(NOISE_SHIFT),
                "rhs_bias": In(RHS_WIDTH),
                "params": In(ParamPortSignature(config.nmpu)),
                "done": Out(1),
                "fe_ready": Out(1),
                "out_count": Out(range(out_depth + 1)),
                "out_total": Out(32),
                "conversions": Out(32),
                "adc_total": Out(32),
                "writes_issued": Out(32),
                "frame_error": Out(1),
                "param_error": Out(1),
            }
        )

    @property
    def dumped(self) -> dict[str, int]:
        """Memories the bench reads back (name: depth; as files,
        :func:`tb.harness.common.add_memory_dump`)."""
        return {"out_mem": self.out_depth, "adc_mem": self.adc_depth, "vec_log": self.log_depth}

    def vpi_public(self, toplevel: str) -> list[tuple[str, str, str]]:
        return vpi_public(toplevel, self, written=("stim", "fe_mem"))

    def elaborate(self, platform):
        cfg, fmt = self.config, self.format
        columns = cfg.columns
        m = Module()
        m.submodules.dut = dut = self.dut
        ports = register_inputs(m, self)  # the inputs, registered
        m.submodules.stim = stim = memory.Memory(
            shape=fmt.conversion, depth=self.stim_depth, init=[]
        )
        m.submodules.fe_mem = fe_mem = memory.Memory(shape=fmt.column, depth=columns, init=[])
        m.submodules.out_mem = out_mem = memory.Memory(
            shape=dut.o.payload.shape().size, depth=self.out_depth, init=[]
        )
        m.submodules.adc_mem = adc_mem = memory.Memory(
            shape=dut.adc_payload.shape().size, depth=self.adc_depth, init=[]
        )
        m.submodules.vec_log = vec_log = memory.Memory(shape=32, depth=self.log_depth, init=[])
        m.submodules.idle = idle = Pauses(salt=0x1D1E)
        m.submodules.bp = bp = Pauses(salt=0xB4C4)
        for gen, pattern in ((idle, ports.idle_pattern), (bp, ports.bp_pattern)):
            m.d.comb += [gen.seed.eq(ports.seed), gen.load.eq(ports.load), gen.pattern.eq(pattern)]

        # ------------- closed loop: stimulus -> SAR <-> integer comparator (same clock)
        m.submodules.comparator = comparator = self.comparator
        m.d.comb += self.fe_ready.eq(comparator.ready)
        total = Signal(32)
        full = Signal()  # out_mem holds a whole chunk
        m.d.comb += total.eq(ports.vectors * cfg.phases)
        add_closed_loop(
            m, dut=dut, comparator=comparator, stim=stim, fe_mem=fe_mem, ports=ports,
            count=self.conversions, total=total, room=~full, pause=idle.pause,
        )  # fmt: skip

        # ------------------------------------- parameter writer (random, or external)
        nmpu_i = dut.nmpu.i
        wcount = add_param_writer(
            m, cfg.nmpu, go=ports.go, active=self.out_total < ports.vectors * cfg.nmpu.beats,
            seed=ports.seed, load=ports.load, write_rate=ports.write_rate,
            external=ports.params, port=dut.params,
        )  # fmt: skip
        vec = Signal(32)  # vectors whose first beat entered the NMPU
        log_wr = vec_log.write_port()
        vec_start = nmpu_i.valid & nmpu_i.ready & nmpu_i.payload.first & (nmpu_i.payload.phase == 0)
        m.d.comb += [
            log_wr.en.eq(vec_start),
            log_wr.addr.eq(vec[: (self.log_depth - 1).bit_length()]),
            log_wr.data.eq(wcount),
            self.writes_issued.eq(wcount),
        ]
        with m.If(vec_start):
            m.d.sync += vec.eq(vec + 1)

        # --------------------------------------- recorders: activations, ADC results
        m.d.comb += full.eq(
            add_recorder(
                m,
                self,
                dut.o,
                out_mem,
                bp.pause,
                ports.vectors * cfg.nmpu.beats,
                go=ports.go,
                resume=ports.resume,
            )
        )
        adc_wr = adc_mem.write_port()
        m.d.comb += [
            adc_wr.en.eq(dut.adc_fire),
            adc_wr.addr.eq(self.adc_total[: (self.adc_depth - 1).bit_length()]),
            adc_wr.data.eq(dut.adc_payload),
        ]
        with m.If(ports.load):
            m.d.sync += self.adc_total.eq(0)
        with m.Elif(dut.adc_fire):
            m.d.sync += self.adc_total.eq(self.adc_total + 1)
        m.d.comb += [
            dut.flush.eq(0),
            self.frame_error.eq(dut.frame_error),
            self.param_error.eq(dut.param_error),
        ]
        return with_registered_reset(m)
