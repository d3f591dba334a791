"""cocotb testbench of the NMPU's generated Verilog, scored against ``model.nmpu.nmpu``.

Reads like the spec: an input driver (with an optional idle inserter), an
output monitor (with an optional backpressure inserter), a configuration
writer that may write at any cycle, and a scoreboard that predicts every
output beat from the golden model with the parameters in force when the
vector's first beat was accepted (DESIGN 3.4).

Settings arrive as JSON in ``$NMPU_TB`` (written by ``tb.nmpu_run``): the
NMPU config dict, vector count, stimulus switches, and a summary path.
Every cycle: drive just after the rising edge, sample handshakes in the
ReadOnly phase, so a transfer is what the next rising edge will see on
every simulator.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from model.nmpu import NMPUConfig, nmpu, param_address
from tb.nmpu_stimulus import extreme_codes, extreme_params, random_codes, random_params


def settings() -> dict:
    return json.loads(os.environ["NMPU_TB"])


def pack(values, width: int) -> int:
    """Lane j of ``values`` at bits [j*width, (j+1)*width) (two's complement)."""
    mask = (1 << width) - 1
    word = 0
    for j, v in enumerate(values):
        word |= (int(v) & mask) << (j * width)
    return word


def unpack(word: int, width: int, count: int, signed: bool) -> list[int]:
    mask, sign = (1 << width) - 1, 1 << (width - 1)
    out = []
    for j in range(count):
        v = (word >> (j * width)) & mask
        out.append(v - (1 << width) if signed and v & sign else v)
    return out


@dataclass
class Stats:
    vectors: int = 0
    beats_in: int = 0
    beats_out: int = 0
    values_checked: int = 0
    mismatches: int = 0
    cycles: int = 0
    param_writes: int = 0
    seconds: float = 0.0
    first_errors: list = field(default_factory=list)


class Scoreboard:
    """Predicts output beats from the golden model; compares the monitor's beats in order."""

    def __init__(self, cfg: NMPUConfig, codes: np.ndarray, stats: Stats, log):
        self.cfg, self.codes, self.stats, self.log = cfg, codes, stats, log
        self.expected: list[tuple[list[int], bool]] = []  # (lane values, last) per beat

    def vector_started(self, v: int, params: dict[str, np.ndarray]) -> None:
        y = nmpu(self.cfg, self.codes[v : v + 1], **params)[0]
        lanes = self.cfg.lanes
        for b in range(self.cfg.beats):
            self.expected.append((list(y[b * lanes : (b + 1) * lanes]), b == self.cfg.beats - 1))

    def beat_received(self, n: int, values: list[int], last: bool) -> None:
        assert n < len(self.expected), f"output beat {n} arrived before its vector was sent"
        want, want_last = self.expected[n]
        self.stats.values_checked += len(values)
        v, b = divmod(n, self.cfg.beats)
        if last != want_last:
            self._error(f"vector {v} beat {b}: last={int(last)}, expected {int(want_last)}")
        for j, (got, exp) in enumerate(zip(values, want, strict=True)):
            if got != exp:
                c = b * self.cfg.lanes + j
                self._error(f"vector {v} column {c}: expected {exp}, got {got}")

    def _error(self, text: str) -> None:
        self.stats.mismatches += 1
        if len(self.stats.first_errors) < 10:
            self.stats.first_errors.append(text)
            self.log.error("mismatch: %s", text)


class NMPUBench:
    """Clock, reset, and the per-cycle drive/sample loop around the driver, monitor and writer."""

    def __init__(self, dut, cfg: NMPUConfig, seed: int):
        self.dut, self.cfg = dut, cfg
        self.rng = np.random.default_rng(seed)
        self.pyrng = random.Random(seed)
        self.log = dut._log
        self.data_width = len(dut.cfg__data)
        self.fields = cfg.param_fields
        self.shadow: dict[str, np.ndarray] = {}
        self.latency = settings()["latency"]  # hw.nmpu.NMPU.latency, passed in by the runner
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self) -> None:
        d = self.dut
        d.rst.value = 1
        d.i__valid.value = 0
        d.o__ready.value = 0
        d.cfg__we.value = 0
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst.value = 0
        await RisingEdge(d.clk)

    async def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Write every parameter through the configuration port, one write per clock."""
        d = self.dut
        for f in self.fields:
            for c in range(self.cfg.columns):
                d.cfg__addr.value = param_address(self.cfg, f, c)
                d.cfg__data.value = int(params[f][c]) & ((1 << self.data_width) - 1)
                d.cfg__we.value = 1
                await RisingEdge(d.clk)
        d.cfg__we.value = 0
        self.shadow = {f: np.array(params[f], dtype=np.int64) for f in self.fields}

    async def stream(
        self,
        codes: np.ndarray,
        *,
        idle: float = 0.0,
        backpressure: float = 0.0,
        write_rate: float = 0.0,
        check_timing: bool = False,
    ) -> Stats:
        """Send ``codes`` [vectors, phases, columns]; score every output beat; return stats."""
        d, cfg, rng = self.dut, self.cfg, self.pyrng
        stats = Stats(vectors=len(codes))
        board = Scoreboard(cfg, codes, stats, self.log)
        lanes, beats, w = cfg.lanes, cfg.beats, cfg.in_width
        order = [
            (v, k, b) for v in range(len(codes)) for k in range(cfg.phases) for b in range(beats)
        ]
        words = [pack(codes[v, k, b * lanes : (b + 1) * lanes], w) for v, k, b in order]
        flags = [(b == 0) | ((b == beats - 1) << 1) for _, _, b in order]
        payload_shift = lanes * w  # first, last follow the codes in the struct
        total_out = len(codes) * beats
        pos = out_n = cycle = 0
        pending_write = None
        last_phase_cycles: list[int] = []
        budget = 40 * (len(order) + total_out) + 1000
        t0 = time.perf_counter()
        while out_n < total_out:
            cycle += 1
            assert cycle < budget, f"no progress: {pos}/{len(order)} beats in, {out_n} out"
            # -- a write driven last cycle landed at this edge
            if pending_write is not None:
                f, c, value = pending_write
                self.shadow[f][c] = value
                pending_write = None
            # -- drive (idle inserter, backpressure inserter, configuration writer)
            valid = pos < len(order) and not (idle and rng.random() < idle)
            if valid:
                d.i__payload.value = words[pos] | (flags[pos] << payload_shift)
            d.i__valid.value = int(valid)
            ready = not (backpressure and rng.random() < backpressure)
            d.o__ready.value = int(ready)
            write = bool(write_rate) and rng.random() < write_rate
            if write:
                f = self.fields[rng.randrange(len(self.fields))]
                c = rng.randrange(cfg.columns)
                fmt = cfg.param_format(f)
                value = rng.randint(fmt.min_raw, fmt.max_raw)
                d.cfg__addr.value = param_address(cfg, f, c)
                d.cfg__data.value = value & ((1 << self.data_width) - 1)
                pending_write = (f, c, value)
                stats.param_writes += 1
            d.cfg__we.value = int(write)
            # -- sample what the next edge transfers
            await ReadOnly()
            if valid and d.i__ready.value == 1:
                v, k, b = order[pos]
                if k == 0 and b == 0:
                    board.vector_started(v, {f: a.copy() for f, a in self.shadow.items()})
                if k == cfg.phases - 1:
                    last_phase_cycles.append(cycle)
                pos += 1
            elif check_timing and pos < len(order):
                raise AssertionError(f"cycle {cycle}: i.ready low although o.ready is always high")
            if ready and d.o__valid.value == 1:
                word = d.o__payload.value.to_unsigned()
                values = unpack(word, cfg.out_width, lanes, cfg.out_signed)
                last = bool((word >> (lanes * cfg.out_width)) & 1)
                if check_timing:
                    lat = cycle - last_phase_cycles[out_n]
                    assert lat == self.latency, (
                        f"output beat {out_n}: latency {lat}, expected {self.latency}"
                    )
                board.beat_received(out_n, values, last)
                out_n += 1
            await RisingEdge(d.clk)
        # -- drain: nothing more may come out
        d.i__valid.value = 0
        d.o__ready.value = 1
        d.cfg__we.value = 0
        for _ in range(3 * self.latency):
            await ReadOnly()
            assert d.o__valid.value == 0, "output beat beyond the last expected one (duplicate?)"
            await RisingEdge(d.clk)
        assert d.frame_error.value == 0, "frame_error set on a well-formed stream"
        assert d.cfg_error.value == 0, "cfg_error set by valid writes"
        stats.beats_in, stats.beats_out, stats.cycles = pos, out_n, cycle
        stats.seconds = time.perf_counter() - t0
        return stats


def report(name: str, stats: Stats) -> None:
    """Append this test's figures to the summary file (for make sim / make bench) and assert."""
    path = settings().get("summary")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"test": name, **stats.__dict__}) + "\n")
    assert stats.mismatches == 0, f"{stats.mismatches} mismatches; first: {stats.first_errors}"


async def start(dut) -> tuple[NMPUBench, NMPUConfig, dict, np.random.Generator]:
    s = settings()
    cfg = NMPUConfig.from_dict(s["config"])
    seed = cocotb.RANDOM_SEED
    dut._log.info("seed=%d config=%s", seed, json.dumps(s["config"]))
    bench = NMPUBench(dut, cfg, seed)
    await bench.reset()
    return bench, cfg, s, np.random.default_rng(seed)


@cocotb.test()
async def full_rate(dut):
    """Always-valid input, always-ready output: one beat per clock, constant latency."""
    bench, cfg, s, rng = await start(dut)
    for _ in range(s.get("repeats", 1)):  # > 1 only for benchmark medians
        await bench.load_params(random_params(cfg, rng))
        stats = await bench.stream(random_codes(cfg, rng, s["vectors"]), check_timing=True)
        report("full_rate", stats)


@cocotb.test()
async def gaps_backpressure_writes(dut):
    """Random idle input cycles, random output backpressure, parameter writes at any cycle."""
    bench, cfg, s, rng = await start(dut)
    await bench.load_params(random_params(cfg, rng))
    stats = await bench.stream(
        random_codes(cfg, rng, s["vectors"]), idle=0.3, backpressure=0.3, write_rate=0.1
    )
    report("gaps_backpressure_writes", stats)


@cocotb.test()
async def extremes(dut):
    """Min/max codes with every parameter at its max, then at its min (both saturations)."""
    bench, cfg, _s, rng = await start(dut)
    for corner in ("max", "min"):
        await bench.load_params(extreme_params(cfg, corner))
        stats = await bench.stream(extreme_codes(cfg), idle=0.2, backpressure=0.2)
        report(f"extremes_{corner}", stats)
