"""cocotb bench of the NMPU's (or the FP16 unit's) generated Verilog, scored by its golden model.

Driver (``StreamSource`` on ``i`` with idle cycles), parameter writer
(``ParamWriter``, also at random cycles mid-stream), monitor (``StreamSink``
on ``o`` with backpressure) and an in-order ``Scoreboard`` that predicts
every output beat from the golden model with the parameters in force when the
vector's first beat was accepted (DESIGN 3.4). Idle and backpressure
patterns are crossed, parameter writes are a separate dimension.

Settings (``$TB_SETTINGS``): ``config`` (``NMPUConfig.to_dict()``),
``vectors`` per test, ``write_rate``, ``repeats`` (full-rate runs, for
``make bench`` medians), ``unit``: ``"fixed"`` (default: ``hw.nmpu.NMPU``,
``model.golden.nmpu.nmpu``, ``tb.stimulus.nmpu`` parameters) or ``"fp16"``
(``hw.fp16.unit.FP16Unit``, ``model.golden.fp16.fp16_unit``, ``tb.stimulus.fp16``
parameters as raw binary16 patterns). Both units have the same ports, so every
test below runs unchanged on either.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np

from hw.fp16.unit import FP16Unit
from hw.nmpu import NMPU
from model.fp16 import fp16_unit
from model.nmpu import NMPUConfig, nmpu
from tb.stimulus.fp16 import (
    FP16PortView,
    extreme_fp16_params,
    float16_params,
    random_fp16_params,
    raw_params,
)
from tb.stimulus.nmpu import (
    extreme_codes,
    extreme_params,
    input_beats,
    random_codes,
    random_params,
)
from tb.stimulus.pauses import PATTERNS, pauses
from tb.stream.bench import Bench, report, settings
from tb.stream.params import ParamWriter
from tb.stream.payload import port_shape
from tb.stream.ports import StreamSink, StreamSource
from tb.stream.scoreboard import Scoreboard


def _fp16_model(cfg: NMPUConfig, x: np.ndarray, **raw: np.ndarray) -> np.ndarray:
    """``fp16_unit`` on the raw patterns the parameter writer mirrors."""
    return fp16_unit(cfg, x, **float16_params(raw))


#: unit setting -> (component class, golden model on raw parameters, parameter-port view).
UNITS = {
    "fixed": (NMPU, nmpu, lambda cfg: cfg),
    "fp16": (FP16Unit, _fp16_model, FP16PortView),
}


def unit_params(unit: str, cfg: NMPUConfig, rng: np.random.Generator, corner=None) -> dict:
    """Raw per-column parameters for ``unit``: random, or all at a ``corner`` ("max"/"min")."""
    if unit == "fp16":
        params = extreme_fp16_params(cfg, corner) if corner else random_fp16_params(cfg, rng)
        return raw_params(params)
    return extreme_params(cfg, corner) if corner else random_params(cfg, rng)


class NMPUBench(Bench):
    """The NMPU (or the FP16 unit) with its driver, parameter writer, monitor and scoreboard."""

    def __init__(
        self, dut, config: NMPUConfig, *, idle: str, backpressure: str, seed: int,
        unit: str = "fixed",
    ):  # fmt: skip
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {sorted(UNITS)}, not {unit!r}")
        component, self.model, port_view = UNITS[unit]
        self.config, self.unit = config, unit
        self.nmpu = component(config)  # layouts and latency, as published by the RTL
        super().__init__(dut, inputs=("i__valid", "o__ready", "params__we", "flush"))
        self.rng = np.random.default_rng(seed)
        self.codes = np.zeros((0, config.phases, config.columns), np.int64)
        self.scoreboard = Scoreboard("output", self.log)
        self.writer = ParamWriter(self, port_view(config))
        self.in_cycles: list[int] = []  # transfer cycle of every last-phase input beat
        self.out_cycles: list[int] = []
        self.source = StreamSource(
            self, "i", port_shape(self.nmpu, "i", "payload"), pauses(idle, self.rng),
            self._input_taken,
        )  # fmt: skip
        self.sink = StreamSink(
            self, "o", port_shape(self.nmpu, "o", "payload"), pauses(backpressure, self.rng),
            self._output_seen,
        )  # fmt: skip

    # -- model side ------------------------------------------------------------
    def _input_taken(self, index: int, fields: dict, cycle: int) -> None:
        cfg = self.config
        vector, rest = divmod(index, cfg.phases * cfg.beats)
        phase = rest // cfg.beats
        if rest == 0:  # first beat of a vector: the parameters in force are fixed now
            y = self.model(cfg, self.codes[vector : vector + 1], **self.writer.snapshot())[0]
            for b in range(cfg.beats):
                cols = slice(b * cfg.lanes, (b + 1) * cfg.lanes)
                self.scoreboard.expect(
                    f"vector {vector} beat {b}",
                    {"data": y[cols], "last": int(b == cfg.beats - 1)},
                    first_column=b * cfg.lanes,
                )
        if phase == cfg.phases - 1:
            self.in_cycles.append(cycle)

    def _output_seen(self, index: int, fields: dict, cycle: int) -> None:
        self.out_cycles.append(cycle)
        self.scoreboard.observe(fields)

    # -- driver side -----------------------------------------------------------
    def send(self, codes: np.ndarray) -> int:
        """Queue vectors ``codes`` [vectors, phases, columns]; returns the output beats due."""
        self.codes = np.concatenate([self.codes, codes])
        for payload in input_beats(self.config, codes):
            self.source.send(**payload)
        return len(codes) * self.config.beats

    async def run(self, codes: np.ndarray) -> dict:
        """Stream ``codes``, wait for every output beat, drain, and return the figures."""
        sent0, received0 = self.source.sent, self.sink.received  # earlier runs of this test
        assert not self.scoreboard.expected, "run() started with outputs still due"
        self.scoreboard = Scoreboard("output", self.log)  # figures per run
        due = received0 + self.send(codes)
        budget = 40 * len(codes) * self.config.phases * self.config.beats + 1000
        t0, c0 = time.perf_counter(), self.cycle
        done = self.sink.expect_count(due)
        while not done.is_set():
            await self.falling
            assert self.cycle - c0 < budget, (
                f"no progress: {self.source.sent} beats in, {self.sink.received} out of {due}"
            )
        seconds = time.perf_counter() - t0
        cycles = self.cycle - c0
        await self.cycles(3 * self.nmpu.latency)  # drain: nothing more may come out
        assert self.sink.received == due, f"{self.sink.received - due} extra output beats"
        assert self.dut.frame_error.value == 0, "frame_error set on a well-formed stream"
        assert self.dut.param_error.value == 0, "param_error set by valid writes"
        return {
            "vectors": len(codes),
            "beats_in": self.source.sent - sent0,
            "beats_out": self.sink.received - received0,
            "cycles": cycles,
            "seconds": seconds,
            "param_writes": self.writer.writes,
            **self.scoreboard.figures(),
        }


async def start(dut, idle="none", backpressure="none", corner=None) -> NMPUBench:
    """A reset bench with parameters loaded (random, or all at a format ``corner``)."""
    s = settings()
    cfg, unit = NMPUConfig.from_dict(s["config"]), s.get("unit", "fixed")
    bench = NMPUBench(
        dut, cfg, idle=idle, backpressure=backpressure, seed=cocotb.RANDOM_SEED, unit=unit
    )
    await bench.reset()
    bench.source.start()
    bench.sink.start()
    await bench.writer.load(unit_params(unit, cfg, bench.rng, corner))
    return bench


def finish(bench: NMPUBench, name: str, figures: dict) -> None:
    report({"test": name, **figures})
    bench.scoreboard.assert_clean()


@cocotb.test()
async def full_rate(dut):
    """Always-valid source, always-ready sink: one beat per clock and the published latency."""
    bench = await start(dut)
    rng, s = bench.rng, settings()
    for repeat in range(int(s.get("repeats", 1))):
        codes = random_codes(bench.config, rng, int(s["vectors"]))
        bench.in_cycles.clear()
        bench.out_cycles.clear()
        figures = await bench.run(codes)
        lat = np.array(bench.out_cycles) - np.array(bench.in_cycles)
        bad = np.flatnonzero(lat != bench.nmpu.latency)
        assert not bad.size, (
            f"output beat {bad[0]}: latency {lat[bad[0]]}, expected {bench.nmpu.latency}"
        )
        assert bench.source.cycles_ready_low == 0, "i.ready low although o.ready is always high"
        assert figures["cycles"] == figures["beats_in"] + bench.nmpu.latency, figures
        finish(bench, "full_rate", {**figures, "repeat": repeat})


@cocotb.test()
@cocotb.parametrize(idle=PATTERNS, backpressure=PATTERNS, writes=(False, True))
async def traffic(dut, idle: str, backpressure: str, writes: bool):
    """Idle cycles x backpressure, each {none, random, bursty}, with or without parameter
    writes at random cycles (mid-vector included)."""
    bench = await start(dut, idle, backpressure)
    rng, s = bench.rng, settings()
    if writes:
        bench.writer.start_random_writes(float(s.get("write_rate", 0.2)), rng)
    figures = await bench.run(random_codes(bench.config, rng, int(s["vectors"])))
    if writes:
        await bench.writer.stop_random_writes()
        assert bench.writer.writes > bench.config.columns * len(bench.config.param_fields)
    finish(bench, f"traffic_{idle}_{backpressure}_{'writes' if writes else 'fixed'}", figures)


@cocotb.test()
@cocotb.parametrize(corner=("max", "min"))
async def extremes(dut, corner: str):
    """Every parameter at one format corner, codes at the code-range corners: saturation paths."""
    bench = await start(dut, corner=corner)
    figures = await bench.run(extreme_codes(bench.config))
    finish(bench, f"extremes_{corner}", figures)
