"""Bulk-regression harness for the NMPU (DESIGN 10): Python out of the clock loop.

``NMPUHarness`` wraps the DUT with everything a per-clock bench does in
Python, as RTL that the simulator runs alone:

* a stimulus memory (``stim``: one input word per beat, ``stim_vectors``
  vectors, replayed in a loop) read by a stream source with seeded idle
  cycles;
* a parameter writer that, while running, writes random (field, column,
  value) triples at random cycles; the triples come from a xorshift64
  sequence that :class:`WriteReplay` reproduces, and the number of writes
  that had landed when each vector's first beat was accepted is logged
  (``vec_log``), so the model knows the parameters every vector saw;
* a sink with seeded backpressure that records every output beat into
  ``out_mem``; when ``out_mem`` is full (or the run is complete) ``done``
  rises and the harness stalls until ``resume``.

cocotb (``tb/harness_benches/nmpu.py``) loads ``stim`` and the initial parameters,
starts the run, waits for ``done`` once per chunk, reads ``out_mem`` and
``vec_log`` back and compares with the golden model in numpy.

Pause patterns (``idle_pattern``, ``bp_pattern``, run-time): 0 none,
1 random (a cycle pauses with probability 3/8), 2 bursty (runs of 1-16
active and 1-8 paused cycles), as ``tb.stimulus.pauses`` but from hardware LFSRs.
"""

from __future__ import annotations

from amaranth.hdl import (
    Module,
    Mux,
    Signal,
)
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.nmpu import NMPU, ParamPortSignature
from model.nmpu import NMPUConfig
from tb.harness.common import (
    Pauses,
    add_param_writer,
    add_recorder,
    register_inputs,
    vpi_public,
    with_registered_reset,
)


class NMPUHarness(wiring.Component):
    """The NMPU with stimulus, parameter writer, pause generators and output recorder in RTL.

    Parameters
    ----------
    config : NMPUConfig
    stim_depth : int
        Input words the stimulus memory holds (``stim_vectors * phases * beats`` used).
    out_depth : int
        Output beats recorded per chunk (a multiple of ``beats``).

    Members
    -------
    go : In(1)
        Run (the writer and the external parameter port are muxed by it).
    vectors, stim_vectors : In(32), In(16)
        Vectors to send in total; stimulus vectors stored (replayed in a loop).
    seed : In(64)
        Seeds the pause generators and the writer; loaded while ``load``.
    load : In(1)
    idle_pattern, bp_pattern : In(2)
    write_rate : In(8)
        A write is issued in a cycle with probability ``write_rate / 256``.
    params : In(ParamPortSignature)
        External parameter writes, passed to the NMPU while ``go`` is low.
    resume : In(1)
        Start the next chunk (clears ``out_count``).
    dump : In(1)
        Bench only: write the memories in :attr:`dumped` to files (see
        :func:`add_memory_dump`; the harness's own logic ignores it).
    done, out_count, out_total, writes_issued, frame_error, param_error : Out
    """

    def __init__(self, config: NMPUConfig, *, stim_depth: int, out_depth: int):
        if out_depth % config.beats:
            raise ValueError(f"out_depth ({out_depth}) must be a multiple of beats")
        self.config = config
        self.dut = NMPU(config)
        self.stim_depth, self.out_depth = stim_depth, out_depth
        self.log_depth = 1 << max(4, (2 * out_depth // config.beats + 8).bit_length())
        super().__init__(
            {
                "go": In(1),
                "vectors": In(32),
                "stim_vectors": In(16),
                "seed": In(64),
                "load": In(1),
                "idle_pattern": In(2),
                "bp_pattern": In(2),
                "write_rate": In(8),
                "params": In(ParamPortSignature(config)),
                "resume": In(1),
                "dump": In(1),
                "done": Out(1),
                "out_count": Out(range(out_depth + 1)),
                "out_total": Out(32),
                "writes_issued": Out(32),
                "frame_error": Out(1),
                "param_error": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        return self.dut.latency

    @property
    def dumped(self) -> dict[str, int]:
        """Memories the bench reads back (name: depth; as files, :func:`add_memory_dump`)."""
        return {"out_mem": self.out_depth, "vec_log": self.log_depth}

    def vpi_public(self, toplevel: str) -> list[tuple[str, str, str]]:
        return vpi_public(toplevel, self, written=("stim",))

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.submodules.dut = dut = self.dut
        ports = register_inputs(m, self)  # the inputs, registered
        in_width = dut.i.payload.codes.shape().size
        out_width = dut.o.payload.shape().size
        m.submodules.stim = stim = memory.Memory(shape=in_width, depth=self.stim_depth, init=[])
        m.submodules.out_mem = out_mem = memory.Memory(
            shape=out_width, depth=self.out_depth, init=[]
        )
        m.submodules.vec_log = vec_log = memory.Memory(shape=32, depth=self.log_depth, init=[])
        m.submodules.idle = idle = Pauses(salt=0x1D1E)
        m.submodules.bp = bp = Pauses(salt=0xB4C4)
        for gen, pattern in ((idle, ports.idle_pattern), (bp, ports.bp_pattern)):
            m.d.comb += [gen.seed.eq(ports.seed), gen.load.eq(ports.load), gen.pattern.eq(pattern)]

        # ------------------------------------------------ source: stimulus -> dut.i
        beat = Signal(range(max(2, cfg.beats)))
        phase = Signal(range(max(2, cfg.phases)))
        vec = Signal(32)  # vectors started (all beats of vec-1 sent)
        word = Signal(range(self.stim_depth))  # stimulus word of the beat presented
        hold = Signal()  # a beat is presented and not yet taken
        more = ports.go & (vec < ports.vectors)
        take = dut.i.valid & dut.i.ready
        words_per_vector = cfg.phases * cfg.beats
        word_next = Mux(word + 1 == ports.stim_vectors * words_per_vector, 0, word + 1)
        # A synchronous read of the word the next cycle presents: no path from the
        # (VPI-written) memory into the DUT's logic but through this register.
        rd = stim.read_port()
        m.d.comb += [
            rd.addr.eq(Mux(take, word_next, word)),
            dut.i.valid.eq(more & (hold | ~idle.pause)),
            dut.i.payload.codes.eq(rd.data),
            dut.i.payload.first.eq(beat == 0),
            dut.i.payload.last.eq(beat == cfg.beats - 1),
            dut.i.payload.phase.eq(phase),
            dut.i.payload.beat.eq(beat),
        ]
        m.d.sync += hold.eq(dut.i.valid & ~dut.i.ready)
        with m.If(take):
            m.d.sync += [word.eq(word_next), beat.eq(Mux(beat == cfg.beats - 1, 0, beat + 1))]
            with m.If(beat == cfg.beats - 1):
                m.d.sync += phase.eq(Mux(phase == cfg.phases - 1, 0, phase + 1))
                with m.If(phase == cfg.phases - 1):
                    m.d.sync += vec.eq(vec + 1)

        # ------------------------------------- parameter writer (random, or external)
        wcount = add_param_writer(
            m, cfg, go=ports.go, active=more, seed=ports.seed, load=ports.load,
            write_rate=ports.write_rate, external=ports.params, port=dut.params,
        )  # fmt: skip
        # Writes that landed before this edge: what a vector starting now sees.
        log_wr = vec_log.write_port()
        m.d.comb += [
            log_wr.en.eq(take & (beat == 0) & (phase == 0)),
            log_wr.addr.eq(vec[: (self.log_depth - 1).bit_length()]),
            log_wr.data.eq(wcount),
            self.writes_issued.eq(wcount),
        ]

        # ------------------------------------------- sink: dut.o -> out_mem, done
        add_recorder(
            m,
            self,
            dut.o,
            out_mem,
            bp.pause,
            ports.vectors * cfg.beats,
            go=ports.go,
            resume=ports.resume,
        )
        m.d.comb += [
            self.frame_error.eq(dut.frame_error),
            self.param_error.eq(dut.param_error),
        ]
        return with_registered_reset(m)
