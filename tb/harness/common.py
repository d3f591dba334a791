"""What every bulk harness is built from: registered inputs, pause generators, the parameter
writer, the output recorder, and the Verilog patches (memory dump, VPI visibility).
"""

from __future__ import annotations

from types import SimpleNamespace

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
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.verilog import port_names
from model.nmpu import NMPUConfig
from tb.harness.write_replay import xorshift64

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
    rows = [
        ("public_flat_rw" if is_input else "public_flat_rd", toplevel, name)
        for name, is_input in port_names(harness)
    ]
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
    word after word (see :func:`tb.harness_benches.bulk.read_dump`).

    The block reads the memories by hierarchical name and drives nothing, so the
    harness's logic is the same with or without it.
    """
    start = verilog.find(f"module {toplevel}(")
    end = verilog.find("\nendmodule", start)
    if start < 0 or end < 0:
        raise ValueError(f"no module {toplevel!r} in the Verilog")
    lines = [
        "",
        "  // Bench only (tb.harness.common.add_memory_dump): the memories to files on `dump`.",
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


class Pauses(wiring.Component):
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
