"""cocotb closed-loop bench of the SAR back end (toplevel ``sar``, from ``hw.sar.SAR``).

Driver: ``ConversionDriver`` starts conversions (every ``active_steps``
value, shuffled; idle gaps; spurious starts while busy, which must be
ignored) and answers ``cmp`` from the analog front end for the conversion
held. Monitor: ``StreamSink`` on ``o`` with backpressure. Scoreboard: codes
*and* raw decisions against ``sar_convert`` with the same front end and noise
keys, plus the sequencer's step order and the published latency.

Settings (``$TB_SETTINGS``): ``config`` (``SARConfig.to_dict()``),
``front_end`` (``AnalogFrontEnd.sample`` settings), ``conversions``.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np

from hw.sar import SAR
from model.sar import AnalogFrontEnd, SARConfig, decision_masks, sar_convert
from tb.stimulus.pauses import PATTERNS, pauses
from tb.stream.bench import Bench, report, settings
from tb.stream.closed_loop import ClosedLoop
from tb.stream.conversion import ConversionDriver
from tb.stream.payload import port_shape
from tb.stream.ports import StreamSink
from tb.stream.scoreboard import Scoreboard


def stimulus(cfg: SARConfig, rng: np.random.Generator, n: int):
    """Inputs (some beyond full scale, a quarter exactly on code edges) and active_steps
    covering every value 1..steps, shuffled."""
    v = rng.uniform(-1.03, 1.03, (n, cfg.columns))
    edges = -1.0 + 2.0 * rng.integers(0, 1 << cfg.out_width, v.shape) / (1 << cfg.out_width)
    v = np.where(rng.random(v.shape) < 0.25, edges, v)
    ks = np.concatenate([np.arange(1, cfg.steps + 1), rng.integers(1, cfg.steps + 1, n)])[:n]
    rng.shuffle(ks)
    return v, ks


class SARBench(Bench):
    """The SAR in closed loop with its driver, monitor and scoreboard."""

    def __init__(self, dut, *, idle: str, backpressure: str, spurious: float, seed: int):
        super().__init__(dut, inputs=("start", "o__ready", "cmp"))
        s = settings()
        self.config = cfg = SARConfig.from_dict(s["config"])
        self.sar = SAR(cfg)
        self.rng = np.random.default_rng(seed)
        fe = AnalogFrontEnd.sample(cfg, **s["front_end"])
        self.v, self.ks = stimulus(cfg, self.rng, int(s["conversions"]))
        codes, decisions = sar_convert(cfg, fe, self.v, self.ks)
        self.scoreboard = Scoreboard("conversion", self.log)
        for n in range(len(self.v)):
            self.scoreboard.expect(
                f"conversion {n} (active_steps {self.ks[n]})",
                {"codes": codes[n], "decisions": decision_masks(decisions[n])},
            )
        self.loop = ClosedLoop(self.sar, fe, self.v)
        self.driver = ConversionDriver(
            self, self.loop, self.ks, pauses(idle, self.rng), self.rng, spurious=spurious
        )
        self.sink = StreamSink(
            self, "o", port_shape(self.sar, "o", "payload"), pauses(backpressure, self.rng),
            self._result_seen,
        )  # fmt: skip
        self.first_valid: list[int] = []

    def _result_seen(self, n: int, fields: dict, cycle: int) -> None:
        start_cycle, k_pins = self.driver.accepts[n]
        k = int(self.ks[n])
        assert k_pins == k, f"conversion {n}: active_steps on the pins {k_pins}, expected {k}"
        assert self.loop.steps_seen.get(n) == list(range(k)), (
            f"conversion {n}: steps {self.loop.steps_seen.get(n)}, expected 0..{k - 1}"
        )
        lat = self.sink.presented_at - start_cycle
        assert lat == self.sar.latency_at(k), (
            f"conversion {n}: latency {lat}, expected {self.sar.latency_at(k)}"
        )
        self.scoreboard.observe(fields)

    async def run(self) -> dict:
        await self.reset()
        self.driver.start()
        self.sink.start()
        n = len(self.v)
        done = self.sink.expect_count(n)
        limit = n * (self.config.steps + 3) * 40 + 200
        t0, c0 = time.perf_counter(), self.cycle
        while not done.is_set():
            await self.falling
            assert self.cycle - c0 < limit, f"timeout: {self.sink.received}/{n} results"
        seconds, clocks = time.perf_counter() - t0, self.cycle - c0
        await self.cycles(self.config.steps + 4)  # nothing extra: no spurious start was taken
        assert self.driver.accepted == n == self.sink.received, (
            f"{self.driver.accepted} starts accepted, {self.sink.received} results, {n} expected"
        )
        self.scoreboard.assert_clean()
        return {"conversions": n, "clocks": clocks, "seconds": seconds, **self.scoreboard.figures()}


@cocotb.test()
async def full_rate(dut):
    """Back-to-back conversions, sink always ready: results and the start-to-start period."""
    bench = SARBench(dut, idle="none", backpressure="none", spurious=0.0, seed=cocotb.RANDOM_SEED)
    figures = await bench.run()
    periods = np.diff([cycle for cycle, _ in bench.driver.accepts])
    expected = [bench.sar.period_at(int(k)) for k in bench.ks[:-1]]
    assert periods.tolist() == expected, f"start periods {periods.tolist()}, expected {expected}"
    report({"test": "full_rate", **figures})


@cocotb.test()
@cocotb.parametrize(idle=PATTERNS, backpressure=PATTERNS)
async def traffic(dut, idle: str, backpressure: str):
    """Idle gaps between starts x backpressure on ``o``, spurious starts while busy."""
    bench = SARBench(
        dut, idle=idle, backpressure=backpressure, spurious=0.3, seed=cocotb.RANDOM_SEED
    )
    figures = await bench.run()
    report({"test": f"traffic_{idle}_{backpressure}", **figures})
