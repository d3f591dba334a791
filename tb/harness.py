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

cocotb (``tb/harness_tb.py``) loads ``stim`` and the initial parameters,
starts the run, waits for ``done`` once per chunk, reads ``out_mem`` and
``vec_log`` back and compares with the golden model in numpy.

Pause patterns (``idle_pattern``, ``bp_pattern``, run-time): 0 none,
1 random (a cycle pauses with probability 3/8), 2 bursty (runs of 1-16
active and 1-8 paused cycles), as ``tb.pauses`` but from hardware LFSRs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    DomainRenamer,
    Module,
    Mux,
    ResetSignal,
    Signal,
)
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.nmpu import NMPU, ParamPortSignature
from model.golden.nmpu import NMPUConfig

MASK64 = (1 << 64) - 1


def xorshift64(x):
    """One xorshift64 step (Marsaglia 13/7/17) on an int or an Amaranth value."""
    if isinstance(x, int):
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        return x
    x = x ^ (x << 13)[:64]
    x = x ^ (x >> 7)
    return x ^ (x << 17)[:64]


def write_fields(config: NMPUConfig, state: int) -> tuple[str, int, int]:
    """The (field, column, raw value) a writer state encodes (as the harness decodes it)."""
    fields = config.param_fields
    name = fields[((state & 0xFF) * len(fields)) >> 8]
    column = (((state >> 8) & 0xFFFF) * config.columns) >> 16
    fmt = config.param_format(name)
    raw = (state >> 32) & ((1 << fmt.width) - 1)
    if fmt.signed and raw >> (fmt.width - 1):
        raw -= 1 << fmt.width
    return name, column, raw


class WriteReplay:
    """The harness's random parameter writes, replayed in numpy.

    ``segments(counts)`` splits consecutive vectors into runs that saw the
    same parameters, given how many writes had landed at each one's start
    (``vec_log``); ``for_vectors(counts)`` gives the parameters [vectors,
    columns] of each vector; ``model(fn, x, counts)`` runs a golden model on
    each run at once. State carries over between calls (chunks).
    """

    def __init__(self, config: NMPUConfig, initial: dict, seed: int):
        self.config = config
        self.current = {f: np.array(initial[f], np.int64) for f in config.param_fields}
        self.state = seed & MASK64
        self.applied = 0

    def segments(self, counts) -> list[tuple[slice, dict]]:
        """(vectors, parameters [columns]) for each run of equal write counts."""
        counts = np.asarray(counts, np.int64)
        previous = np.concatenate([[self.applied], counts[:-1]])
        back = np.flatnonzero(counts < previous)
        if back.size:
            v = back[0]
            raise AssertionError(
                f"vector {v}: write count {counts[v]} went back from {previous[v]}"
            )
        starts = np.flatnonzero(np.diff(counts, prepend=-1)) if counts.size else counts
        out = []
        for a, b in zip(starts, [*starts[1:], counts.size], strict=True):
            for _ in range(int(counts[a]) - self.applied):
                name, column, value = write_fields(self.config, self.state)
                self.current[name][column] = value
                self.state = xorshift64(self.state)
            self.applied = int(counts[a])
            out.append((slice(int(a), int(b)), {f: v.copy() for f, v in self.current.items()}))
        return out

    def for_vectors(self, counts) -> dict:
        """The parameters [vectors, columns] each vector saw."""
        return self._per_vector(self.segments(counts), len(counts))

    def model(self, fn, x: np.ndarray, counts) -> np.ndarray:
        """``fn(config, x, **params)`` with the parameters each vector of ``x`` saw.

        One call per run of vectors with the same parameters when runs are long
        (no or rare writes: 6x faster than per-vector parameters), else one call.
        """
        segments = self.segments(counts)
        if len(segments) * 16 > len(x):
            return fn(self.config, x, **self._per_vector(segments, len(x)))
        return np.concatenate([fn(self.config, x[v], **p) for v, p in segments])

    def _per_vector(self, segments, vectors: int) -> dict:
        out = {f: np.empty((vectors, self.config.columns), np.int64) for f in self.current}
        for run, params in segments:
            for f, value in params.items():
                out[f][run] = value
        return out


# Why harnesses register their inputs and their reset: Verilator re-evaluates
# everything a top-level input reaches combinationally on every ``eval()`` (its
# "input combo" region). With a synchronous reset that is every register's
# next-state logic, and the harness's control inputs reach the whole datapath
# through valid/ready: 40-60 % of the NMPU harness's time. Registered copies cut
# every such path, and the NMPU harness runs 2x faster. Everything the test
# drives (reset included) takes effect one cycle later.


def register_inputs(m, component: wiring.Component) -> SimpleNamespace:
    """Registered copies of ``component``'s ``In`` ports (nested interfaces as namespaces).

    The copies have no reset (they depend on nothing but the port), so a write
    driven in the first cycle after reset is not lost.
    """

    def copy(signature, ports, prefix):
        out = SimpleNamespace()
        for name, member in signature.members.items():
            value = getattr(ports, name)
            if member.is_signature:
                setattr(out, name, copy(member.signature, value, f"{prefix}{name}__"))
            elif member.flow == In:
                reg = Signal.like(value, name=f"{prefix}{name}_q", reset_less=True)
                m.d.sync += reg.eq(value)
                setattr(out, name, reg)
        return out

    return copy(component.signature, component, "")


#: Instance name of a harness's logic under its top level (where its memories live).
CORE = "core"


def vpi_public(toplevel: str, harness, *, written=()) -> list[tuple[str, str, str]]:
    """What a harness bench touches over VPI: (access, module, variable) for Verilator.

    Verilator then exposes only these (``tb.runner.run_cocotb``), not every
    signal (cocotb's ``--public-flat-rw``, 10x slower here), and only inputs and
    the memories the bench loads (``written``) are writable: a variable VPI may
    write is re-evaluated like an input (see above). Memories the bench reads
    come back as files (:func:`add_memory_dump`), not over VPI.
    """
    rows = [("public_flat_rw", toplevel, name) for name in ("clk", "rst")]
    for path, member, _ in harness.signature.flatten(harness):
        access = "public_flat_rw" if member.flow == In else "public_flat_rd"
        rows.append((access, toplevel, "__".join(str(p) for p in path)))
    rows += [("public_flat_rw", f"{toplevel}.{CORE}", name) for name in written]
    return rows


# Why harness memories come back as files: reading a memory word over VPI costs
# a binary string of the whole word, parsed in Python (cocotb has no vector
# read); at 64 lanes that was 60 % of the NMPU harness's time. ``$fwrite``
# writes each word's raw bits in C++ (Verilator) or C (Icarus), and numpy reads
# the file in one call: ``%u`` (values) on two-state Verilator, several words
# per call (the call, not the bytes, is what costs); ``%z`` (values and X/Z
# bits, so X is caught) on Icarus.

#: Words per ``$fwrite`` call of a memory dump.
DUMP_WORDS_PER_CALL = 8


def add_memory_dump(verilog: str, toplevel: str, memories: dict[str, int]) -> str:
    """``verilog`` with a bench-only block in module ``toplevel``: while its ``dump``
    input is high at a rising edge, each memory of :data:`CORE` in ``memories``
    (name: depth) is written to ``<name>.bin`` in the simulator's working directory,
    word after word (see :func:`tb.bench.read_dump`).

    The block reads the memories by hierarchical name and drives nothing, so the
    harness's logic is the same with or without it.
    """
    start = verilog.find(f"module {toplevel}(")
    end = verilog.find("\nendmodule", start)
    if start < 0 or end < 0:
        raise ValueError(f"no module {toplevel!r} in the Verilog")
    lines = [
        "",
        "  // Bench only (tb.harness.add_memory_dump): the memories to files on `dump`.",
        "  integer dump_fd, dump_i;",
        "  always @(posedge clk)",
        "    if (dump) begin",
    ]
    for name, depth in memories.items():
        # Icarus garbles a second %z in one call: one word per call there.
        batch = DUMP_WORDS_PER_CALL if depth % DUMP_WORDS_PER_CALL == 0 else 1
        for fmt, n in (("u", batch), ("z", 1)):
            words = ", ".join(f"{CORE}.{name}[dump_i + {k}]" for k in range(n))
            lines += [
                "`ifdef VERILATOR" if fmt == "u" else "`else",
                f'      dump_fd = $fopen("{name}.bin", "wb");',
                f"      for (dump_i = 0; dump_i < {depth}; dump_i = dump_i + {n})",
                f'        $fwrite(dump_fd, "{f"%{fmt}" * n}", {words});',
                "      $fclose(dump_fd);",
            ]
        lines.append("`endif")
    lines.append("    end")
    return verilog[:end] + "\n".join(lines) + verilog[end:]


def with_registered_reset(core: Module) -> Module:
    """``core`` (written in ``sync``) in a domain whose reset is ``rst`` registered once.

    The logic becomes instance :data:`CORE` of the top level.
    """
    top = Module()
    top.domains.core = ClockDomain("core", local=True)
    rst_q = Signal(init=1, reset_less=True)  # in reset until the first clock edge
    top.d.sync += rst_q.eq(ResetSignal("sync"))
    top.d.comb += [ClockSignal("core").eq(ClockSignal("sync")), ResetSignal("core").eq(rst_q)]
    top.submodules[CORE] = DomainRenamer("core")(core)
    return top


class _Pauses(wiring.Component):
    """Per-cycle pause flag from a seeded LFSR: pattern 0 none, 1 random, 2 bursty."""

    def __init__(self, salt: int):
        self.salt = salt
        super().__init__({"seed": In(64), "load": In(1), "pattern": In(2), "pause": Out(1)})

    def elaborate(self, platform):
        m = Module()
        state = Signal(64, init=1)
        run = Signal(5)  # cycles left in the current burst run
        paused = Signal()  # the current bursty run is a pause
        with m.If(self.load):
            m.d.sync += [state.eq(self.seed ^ self.salt), run.eq(0), paused.eq(0)]
        with m.Else():
            m.d.sync += state.eq(xorshift64(state))
            with m.If(run == 0):
                m.d.sync += [
                    paused.eq(~paused),
                    run.eq(Mux(paused, state[:4], state[:3])),  # next: 1-16 active, 1-8 paused
                ]
            with m.Else():
                m.d.sync += run.eq(run - 1)
        with m.Switch(self.pattern):
            with m.Case(1):
                m.d.comb += self.pause.eq(state[8:11] < 3)
            with m.Case(2):
                m.d.comb += self.pause.eq(paused)
        return m


def add_param_writer(m, cfg: NMPUConfig, *, go, active, seed, load, write_rate, external, port):
    """Random parameter writes (the sequence :class:`WriteReplay` replays) into ``port``.

    While ``go``: in a cycle where ``active`` and the timing LFSR falls below
    ``write_rate / 256``, writes the (field, column, value) the xorshift64
    writer state encodes (:func:`write_fields`), then steps the state. While
    ``go`` is low, ``external`` (``we``, ``addr``, ``data``: the registered copy of an
    ``In(ParamPortSignature)``) drives ``port``.
    ``load`` seeds both LFSRs from ``seed``. Returns the count of writes issued
    (a write issued in a cycle lands at the edge ending it).
    """
    wstate = Signal(64, init=1)
    wcount = Signal(32)
    wtime = Signal(64, init=1)  # per-cycle randomness for the write timing
    with m.If(load):
        m.d.sync += [wstate.eq(seed), wtime.eq(seed ^ 0x3717), wcount.eq(0)]
    with m.Else():
        m.d.sync += wtime.eq(xorshift64(wtime))
    issue = go & active & (wtime[16:24] < write_rate)
    fields = cfg.param_fields
    field = (wstate[:8] * len(fields)) >> 8
    column = (wstate[8:24] * cfg.columns) >> 16
    with m.If(go):
        m.d.comb += [
            port.we.eq(issue),
            port.addr.eq(Cat(Const(0, cfg.param_column_bits), field) | column),
            port.data.eq(wstate[32 : 32 + cfg.param_data_width]),
        ]
        with m.If(issue):
            m.d.sync += [wstate.eq(xorshift64(wstate)), wcount.eq(wcount + 1)]
    with m.Else():
        m.d.comb += [port.we.eq(external.we), port.addr.eq(external.addr)]
        m.d.comb += port.data.eq(external.data)
    return wcount


def add_recorder(m, harness, o, out_mem, pause, total, *, go, resume):
    """Sink of stream ``o`` into ``out_mem`` with backpressure ``pause``; drives ``done``.

    Uses the harness's ``done``, ``out_count`` (beats in this chunk, the write
    address) and ``out_total`` (beats so far). ``done`` rises when ``out_mem`` is
    full or ``total`` beats were recorded; ``resume`` starts the next chunk.
    Returns ``full`` (out_mem holds a whole chunk).
    """
    full = harness.out_count == harness.out_depth
    finished = harness.out_total == total
    m.d.comb += [
        o.ready.eq(go & ~full & ~pause),
        harness.done.eq(go & (full | finished)),
    ]
    out_wr = out_mem.write_port()
    got = o.valid & o.ready
    m.d.comb += [out_wr.en.eq(got), out_wr.addr.eq(harness.out_count), out_wr.data.eq(o.payload)]
    with m.If(got):
        m.d.sync += [
            harness.out_count.eq(harness.out_count + 1),
            harness.out_total.eq(harness.out_total + 1),
        ]
    with m.If(resume):
        m.d.sync += harness.out_count.eq(0)
    return full


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
        m.submodules.idle = idle = _Pauses(salt=0x1D1E)
        m.submodules.bp = bp = _Pauses(salt=0xB4C4)
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
