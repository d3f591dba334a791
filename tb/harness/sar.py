"""Bulk-regression harness for the SAR back end alone (DESIGN 10): no Python per step.

``SARHarness`` wraps ``hw.sar.SAR`` with RTL doing what the per-clock SAR
bench (``tb/benches/sar.py``) does in Python:

* the analog inputs: a stimulus memory (``stim``) holding, per conversion,
  every column's held input ``X`` in the integer front end's fine units and
  the conversion's ``active_steps``; replayed in a loop, one conversion per
  accepted ``start``, with seeded LFSR idle cycles before each start;
* the integer analog front end's comparator (``tb.harness.comparator``, the
  one the tile harness uses too), its per-column weights and offsets in
  ``fe_mem``; it answers ``dac`` with ``cmp`` in the same clock, with the
  noise keyed on (``noise_seed``, ``first_index`` + conversion number, step,
  column), as ``model.analog.integer_frontend.IntegerFrontEnd``;
* a sink with seeded LFSR backpressure on the SAR's output stream, recording
  every result (codes and raw decisions, the ``o`` payload) into ``out_mem``;
  ``done`` when ``out_mem`` is full or the run is complete.

cocotb (``tb/harness_benches/sar.py``) loads, waits for ``done`` once per chunk,
reads back and scores codes and decisions against
``model.golden.sar.sar_convert`` with the same ``IntegerFrontEnd``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.sar import SAR
from model.analog.integer_frontend import NOISE_SHIFT
from model.sar import SARConfig
from tb.harness.common import (
    Pauses,
    add_recorder,
    register_inputs,
    vpi_public,
    with_registered_reset,
)
from tb.harness.comparator import RHS_WIDTH, SCALE_WIDTH, IntegerComparator, add_closed_loop


def _check_depth(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1 << 16:
        raise ValueError(f"SARHarness.{name} must be an integer in [1, 65536], not {value!r}")
    return value


class SARHarness(wiring.Component):
    """The SAR with analog stimulus, integer comparator, idle, backpressure and recorder in RTL.

    Parameters
    ----------
    config : SARConfig
    stim_depth : int
        Conversions the stimulus memory holds (``stim_conversions`` used).
    out_depth : int
        Results recorded per chunk.
    frac_bits : int
        Fine units per LSB of the integer front end are ``2**frac_bits``.

    Members
    -------
    go, load, resume, dump : In(1)
        Run; load the seeds, clear the counters and copy ``fe_mem`` into the
        comparator (``fe_ready`` rises when done); start the next chunk; bench only: write the
        memories in :attr:`dumped` to files (:func:`tb.harness.common.add_memory_dump`).
    conversions : In(32)
        Conversions to run in total.
    stim_conversions : In(16)
        Stimulus slots used (replayed in a loop: conversion n uses slot n mod it).
    seed : In(64)
        Seeds the idle and backpressure generators.
    idle_pattern, bp_pattern : In(2)
        0 none, 1 random, 2 bursty (``tb.harness.nmpu``): idle before each start,
        backpressure on the SAR's ``o``.
    noise_seed, first_index : In(32)
        Noise key of the integer front end; key of conversion 0.
    noise_scale : In(SCALE_WIDTH)
    noise_bias, rhs_bias : In
        From ``FrontEndFormat.biases(noise_scale)``: the comparator is all unsigned.
    done : Out(1)
        ``out_mem`` is full or the run is complete; held until ``resume``.
    fe_ready : Out(1)
    out_count : Out(range(out_depth + 1))
        Results recorded in this chunk (``out_mem[0:out_count]``).
    out_total, started : Out(32)
        Results recorded so far; conversions started so far.
    """

    def __init__(self, config: SARConfig, *, stim_depth: int, out_depth: int, frac_bits: int = 8):
        if not isinstance(config, SARConfig):
            raise TypeError(f"SARHarness takes a SARConfig, not {type(config).__name__}")
        self.config = config
        self.stim_depth = _check_depth("stim_depth", stim_depth)
        self.out_depth = _check_depth("out_depth", out_depth)
        self.comparator = IntegerComparator(config, frac_bits)  # checks frac_bits
        self.dut = SAR(config)
        self.format = self.comparator.format
        super().__init__(
            {
                "go": In(1),
                "load": In(1),
                "resume": In(1),
                "dump": In(1),
                "conversions": In(32),
                "stim_conversions": In(16),
                "seed": In(64),
                "idle_pattern": In(2),
                "bp_pattern": In(2),
                "noise_seed": In(32),
                "first_index": In(32),
                "noise_scale": In(SCALE_WIDTH),
                "noise_bias": In(NOISE_SHIFT),
                "rhs_bias": In(RHS_WIDTH),
                "done": Out(1),
                "fe_ready": Out(1),
                "out_count": Out(range(out_depth + 1)),
                "out_total": Out(32),
                "started": Out(32),
            }
        )

    @property
    def dumped(self) -> dict[str, int]:
        """Memories the bench reads back (name: depth; as files,
        :func:`tb.harness.common.add_memory_dump`)."""
        return {"out_mem": self.out_depth}

    def vpi_public(self, toplevel: str) -> list[tuple[str, str, str]]:
        return vpi_public(toplevel, self, written=("stim", "fe_mem"))

    def elaborate(self, platform):
        fmt = self.format
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.comparator = comparator = self.comparator
        ports = register_inputs(m, self)  # the inputs, registered
        m.submodules.stim = stim = memory.Memory(
            shape=fmt.conversion, depth=self.stim_depth, init=[]
        )
        m.submodules.fe_mem = fe_mem = memory.Memory(
            shape=fmt.column, depth=self.config.columns, init=[]
        )
        m.submodules.out_mem = out_mem = memory.Memory(
            shape=dut.o.payload.shape().size, depth=self.out_depth, init=[]
        )
        m.submodules.idle = idle = Pauses(salt=0x1D1E)
        m.submodules.bp = bp = Pauses(salt=0xB4C4)
        for gen, pattern in ((idle, ports.idle_pattern), (bp, ports.bp_pattern)):
            m.d.comb += [gen.seed.eq(ports.seed), gen.load.eq(ports.load), gen.pattern.eq(pattern)]

        # ------------- closed loop: stimulus -> SAR <-> integer comparator (same clock)
        # No start while out_mem is full: the SAR holds its result (o.ready is low)
        # and stays busy, so it could not take one anyway.
        m.d.comb += self.fe_ready.eq(comparator.ready)
        add_closed_loop(
            m, dut=dut, comparator=comparator, stim=stim, fe_mem=fe_mem, ports=ports,
            count=self.started, total=ports.conversions, room=Const(1), pause=idle.pause,
        )  # fmt: skip

        # --------------------------------------- sink: dut.o -> out_mem, done
        add_recorder(
            m, self, dut.o, out_mem, bp.pause, ports.conversions,
            go=ports.go, resume=ports.resume,
        )  # fmt: skip
        with m.If(ports.load):
            m.d.sync += [self.out_count.eq(0), self.out_total.eq(0)]
        return with_registered_reset(m)
