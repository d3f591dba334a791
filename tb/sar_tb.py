"""cocotb 2.x closed-loop testbench of the SAR back end (toplevel ``sar``, from hw.sar.SAR).

The analog half of the ADC is the Python :class:`model.sar.AnalogFrontEnd`:
every clock the testbench reads the RTL's ``dac`` switch states and drives
``cmp`` with the front end's decisions for the vector being held. A monitor
watches ``start``/``busy`` and the ``o`` stream, and a scoreboard checks codes
*and* raw decisions against :func:`model.sar.sar_convert` with the same front
end and noise seed, plus the sequencer's step order and the published latency.

All stimulus is driven at the falling clock edge; the monitor samples at
``ReadOnly`` after the falling edge, when everything the next rising edge will
see is stable (so ``start & ~busy`` there is exactly an accepted start, and
``o.valid & o.ready`` exactly a transfer).

Configuration comes from the JSON in ``$SAR_TB_CONFIG``::

    {"cfg": SARConfig.to_dict(), "fe": {"mismatch", "offset", "noise", "seed"},
     "conversions": int, "ready_p": float, "gap_max": int, "stats_file": path}

numpy is seeded from ``cocotb.RANDOM_SEED`` (logged).
"""

from __future__ import annotations

import json
import os
import time
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from hw.sar import SAR
from model.sar import AnalogFrontEnd, SARConfig, sar_convert
from tb.sar_bus import dac_states, decision_masks, pack_bits, unpack_payload


def load_params() -> dict:
    params = json.loads(os.environ.get("SAR_TB_CONFIG", "{}"))
    params.setdefault("cfg", SARConfig(columns=16).to_dict())
    params.setdefault("fe", {})
    params.setdefault("conversions", 40)
    params.setdefault("ready_p", 0.6)
    params.setdefault("gap_max", 3)
    return params


class SARTB:
    """Clock, reset, the analog loop and the stream drivers, monitor and scoreboard."""

    def __init__(self, dut, params: dict, *, full_rate: bool):
        self.dut = dut
        self.cfg = SARConfig.from_dict(params["cfg"])
        self.fe = AnalogFrontEnd.sample(self.cfg, **params["fe"])
        self.full_rate = full_rate
        self.ready_p = 1.0 if full_rate else float(params["ready_p"])
        self.gap_max = 0 if full_rate else int(params["gap_max"])
        self.sar = SAR(self.cfg)  # only for the published latency
        seed = cocotb.RANDOM_SEED
        self.rng = np.random.default_rng([seed, 1 if full_rate else 2])
        dut._log.info("numpy seeded from cocotb.RANDOM_SEED=%d, full_rate=%s", seed, full_rate)

        # Stimulus: inputs (some outside full scale, some exactly on code edges) and
        # active_steps covering every value 1..steps.
        n = int(params["conversions"])
        cfg = self.cfg
        self.n = n
        v = self.rng.uniform(-1.03, 1.03, (n, cfg.columns))
        edges = -1.0 + 2.0 * self.rng.integers(0, 1 << cfg.out_width, v.shape) / (
            1 << cfg.out_width
        )
        on_edge = self.rng.random(v.shape) < 0.25
        self.v = np.where(on_edge, edges, v)
        self.ks = np.concatenate(
            [np.arange(1, cfg.steps + 1), self.rng.integers(1, cfg.steps + 1, max(0, n))]
        )[:n]
        self.rng.shuffle(self.ks)
        self.exp_codes, self.exp_dec = sar_convert(cfg, self.fe, self.v, self.ks)

        # Shared state between the coroutines.
        self.cycle = 0
        self.held = -1  # index of the vector the ADC holds (last accepted start)
        self.accepts: list[tuple[int, int]] = []  # (cycle, active_steps on the pins)
        self.steps_seen: dict[int, list[int]] = {}
        self.outputs: deque = deque()
        self.checked = 0
        self.clocks = 0

    # -- setup -------------------------------------------------------------------
    async def reset(self):
        dut = self.dut
        dut.start.value = 0
        dut.active_steps.value = self.cfg.steps
        dut.cmp.value = 0
        dut.o__ready.value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        await FallingEdge(dut.clk)
        dut.rst.value = 0

    # -- drivers -----------------------------------------------------------------
    async def analog_loop(self):
        """The analog front end: answer the comparator for the switch states on ``dac``."""
        dut, cfg = self.dut, self.cfg
        while True:
            await FallingEdge(dut.clk)
            dac = int(dut.dac.value)
            if dac == 0:  # not converting: cmp is ignored, drive garbage
                dut.cmp.value = int(self.rng.integers(0, 2**31)) & ((1 << cfg.columns) - 1)
                continue
            states = dac_states(self.cfg, dac)
            tops = np.array([int(s).bit_length() - 1 for s in states])
            step = int(tops[0])
            assert (tops == step).all(), f"cycle {self.cycle}: columns disagree on the step {tops}"
            n = self.held
            assert 0 <= n < self.n, f"cycle {self.cycle}: dac active without an accepted start"
            self.steps_seen.setdefault(n, []).append(step)
            dut.cmp.value = pack_bits(self.fe.compare(self.v[n], states, step, n))

    async def start_driver(self):
        """Start each vector after a random gap; also pulse ``start`` while busy (ignored)."""
        dut, cfg = self.dut, self.cfg
        sent = 0
        gap = 0
        while sent < self.n:
            await FallingEdge(dut.clk)
            busy = int(dut.busy.value)
            if busy:
                spurious = not self.full_rate and self.rng.random() < 0.3
                dut.start.value = int(spurious or self.full_rate)
                dut.active_steps.value = (
                    int(self.rng.integers(1, cfg.steps + 1)) if spurious else int(self.ks[sent])
                )
                continue
            if gap > 0:
                gap -= 1
                dut.start.value = 0
                continue
            dut.start.value = 1
            dut.active_steps.value = int(self.ks[sent])
            sent += 1  # busy is low: accepted at the coming rising edge
            gap = int(self.rng.integers(0, self.gap_max + 1))
        await FallingEdge(dut.clk)
        dut.start.value = 0

    async def ready_driver(self):
        """Random backpressure on ``o.ready`` (always ready when full rate)."""
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            dut.o__ready.value = int(self.rng.random() < self.ready_p)

    # -- monitor -------------------------------------------------------------------
    async def monitor(self):
        """Record accepted starts and transferred results as the next rising edge will see them."""
        dut = self.dut
        first_valid = None
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            busy = int(dut.busy.value)
            if int(dut.start.value) and not busy:
                self.accepts.append((self.cycle, int(dut.active_steps.value)))
                self.held += 1
                first_valid = None
            if int(dut.o__valid.value):
                if first_valid is None:
                    first_valid = self.cycle
                    payload = int(dut.o__payload.value)
                else:
                    assert int(dut.o__payload.value) == payload, (
                        f"cycle {self.cycle}: payload changed while valid and not accepted"
                    )
                if int(dut.o__ready.value):
                    self.outputs.append((self.cycle, first_valid, payload))
                    first_valid = None
            elif first_valid is not None and busy == 0:
                first_valid = None

    # -- scoreboard ------------------------------------------------------------------
    def check_outputs(self):
        cfg = self.cfg
        while self.outputs:
            cycle, first_valid, payload = self.outputs.popleft()
            n = self.checked
            assert n < self.n, f"cycle {cycle}: more results than accepted starts"
            acc_cycle, k_pins = self.accepts[n]
            k = int(self.ks[n])
            assert k_pins == k, f"vector {n}: active_steps on pins {k_pins}, expected {k}"
            lat = first_valid - acc_cycle
            assert lat == self.sar.latency(k), (
                f"vector {n}: latency {lat}, expected {self.sar.latency(k)}"
            )
            steps = self.steps_seen.get(n, [])
            assert steps == list(range(k)), f"vector {n}: steps {steps}, expected 0..{k - 1}"
            codes, dec = unpack_payload(cfg, payload)
            exp_dec = decision_masks(self.exp_dec[n])
            for c in np.flatnonzero(codes != self.exp_codes[n])[:1]:
                raise AssertionError(
                    f"vector {n} column {c} (k={k}, v={self.v[n, c]!r}): code "
                    f"expected {self.exp_codes[n, c]}, got {codes[c]}"
                )
            for c in np.flatnonzero(dec != exp_dec)[:1]:
                raise AssertionError(
                    f"vector {n} column {c} (k={k}): decisions expected "
                    f"{exp_dec[c]:0{cfg.steps}b}, got {dec[c]:0{cfg.steps}b} (bit i = step i)"
                )
            self.checked += 1

    async def run(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        await self.reset()
        for coro in (self.analog_loop(), self.ready_driver(), self.monitor()):
            cocotb.start_soon(coro)
        start_task = cocotb.start_soon(self.start_driver())
        t0 = time.perf_counter()
        c0 = self.cycle
        limit = self.n * (self.cfg.steps + 3) * 20 + 200
        while self.checked < self.n:
            await RisingEdge(dut.clk)
            self.check_outputs()
            assert self.cycle - c0 < limit, f"timeout: {self.checked}/{self.n} results"
        seconds = time.perf_counter() - t0
        self.clocks = self.cycle - c0
        await start_task
        # Nothing extra may come out: no spurious conversions were started.
        await ClockCycles(dut.clk, self.cfg.steps + 4)
        self.check_outputs()
        assert self.checked == self.n and len(self.accepts) == self.n, (
            f"{len(self.accepts)} starts accepted, {self.checked} results, {self.n} expected"
        )
        return seconds


async def _run(dut, full_rate: bool):
    params = load_params()
    tb = SARTB(dut, params, full_rate=full_rate)
    seconds = await tb.run()
    stats = {
        "full_rate": full_rate,
        "conversions": tb.n,
        "clocks": tb.clocks,
        "seconds": seconds,
        "conversions_per_s": tb.n / seconds,
        "clocks_per_s": tb.clocks / seconds,
    }
    dut._log.info("SAR closed loop: %s", stats)
    if full_rate:
        # With no gaps and no backpressure, starts follow clocks_per_conversion exactly.
        periods = np.diff([a[0] for a in tb.accepts])
        exp = [tb.sar.clocks_per_conversion(int(k)) for k in tb.ks[:-1]]
        assert periods.tolist() == exp, f"start periods {periods.tolist()}, expected {exp}"
    if params.get("stats_file"):
        path = params["stats_file"]
        old = []
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
        with open(path, "w") as f:
            json.dump([*old, stats], f)


@cocotb.test()
async def sar_full_rate(dut):
    """Back-to-back conversions, sink always ready: results and the conversion period."""
    await _run(dut, full_rate=True)


@cocotb.test()
async def sar_random_traffic(dut):
    """Random gaps between starts, spurious starts while busy, random backpressure."""
    await _run(dut, full_rate=False)
