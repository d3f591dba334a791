"""Fast Amaranth-simulator tests of hw.sar.SAR in closed loop with the analog model.

The testbench plays the analog front end: every cycle it reads ``dac``, asks
``AnalogFrontEnd.compare`` for each column's bit and drives ``cmp``, exactly as
the cocotb testbench does; codes and raw decisions must equal ``sar_convert``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.sar import SAR
from model.sar import AnalogFrontEnd, SARConfig, sar_convert

REDUNDANT_10 = (112, 64, 36, 20, 12, 6, 4, 2, 1, 1)


def _states(cfg: SARConfig, dac: int) -> np.ndarray:
    mask = (1 << cfg.steps) - 1
    return np.array([(dac >> (c * cfg.steps)) & mask for c in range(cfg.columns)], np.int64)


def _pack(bits) -> int:
    return sum(int(b) << c for c, b in enumerate(bits))


def run_closed_loop(cfg, fe, v, ks, rng, *, ready_p=1.0, gap_max=0, busy_starts=False):
    """Convert rows of ``v`` with active steps ``ks`` on the RTL; return results and timings."""
    dut = SAR(cfg)
    got_codes, got_dec, latencies, periods = [], [], [], []

    async def bench(ctx):
        n = 0
        last_start = None
        while n < len(v):
            for _ in range(int(rng.integers(0, gap_max + 1))):
                await ctx.tick()
            ctx.set(dut.start, 1)
            ctx.set(dut.active_steps, int(ks[n]))
            assert ctx.get(dut.busy) == 0
            await ctx.tick()
            cycle = 0
            if last_start is not None:
                periods.append(last_start)
            last_start = 0
            ctx.set(dut.start, 1 if busy_starts else 0)
            ctx.set(dut.active_steps, 1)
            seen_steps = []
            while True:
                dac = ctx.get(dut.dac)
                states = _states(cfg, dac)
                if dac:
                    step = int(states[0]).bit_length() - 1
                    seen_steps.append(step)
                    bits = fe.compare(v[n], states, step, n)
                    ctx.set(dut.cmp, _pack(bits))
                else:
                    ctx.set(dut.cmp, int(rng.integers(0, 1 << cfg.columns)))
                assert ctx.get(dut.busy) == 1, f"vector {n}: busy low at cycle {cycle}"
                if ctx.get(dut.o.valid):
                    if not latencies or len(latencies) == n:
                        latencies.append(cycle + 1)
                    ready = rng.random() < ready_p
                    ctx.set(dut.o.ready, int(ready))
                    if ready:
                        payload = ctx.get(dut.o.payload)
                        got_codes.append([payload.codes[c] for c in range(cfg.columns)])
                        got_dec.append([payload.decisions[c] for c in range(cfg.columns)])
                        await ctx.tick()
                        ctx.set(dut.o.ready, 0)
                        last_start += cycle + 2
                        break
                await ctx.tick()
                cycle += 1
            assert seen_steps == list(range(int(ks[n]))), f"vector {n}: steps {seen_steps}"
            ctx.set(dut.start, 0)
            n += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return dut, np.array(got_codes), np.array(got_dec), latencies


def _decisions_as_masks(decisions: np.ndarray) -> np.ndarray:
    return (decisions.astype(np.int64) << np.arange(decisions.shape[-1])).sum(-1)


CASES = {
    "ideal_binary": (SARConfig(columns=4), {}),
    "mismatch_noise": (
        SARConfig(columns=4),
        {"mismatch": 0.05, "offset": 0.7, "noise": 0.4},
    ),
    "redundant": (
        SARConfig(columns=3, steps=10, weights=REDUNDANT_10),
        {"mismatch": 0.03, "offset": 0.3, "noise": 0.2},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_closed_loop_matches_model(case, seed):
    cfg, fe_params = CASES[case]
    rng = np.random.default_rng(seed)
    fe = AnalogFrontEnd.sample(cfg, seed=seed, **fe_params)
    nvec = 3 * cfg.steps
    v = rng.uniform(-1.05, 1.05, (nvec, cfg.columns))
    ks = np.concatenate(
        [np.arange(1, cfg.steps + 1), rng.integers(1, cfg.steps + 1, 2 * cfg.steps)]
    )
    dut, codes, dec, latencies = run_closed_loop(
        cfg, fe, v, ks, rng, ready_p=0.6, gap_max=2, busy_starts=True
    )
    exp_codes, exp_dec = sar_convert(cfg, fe, v, ks)
    for n in range(nvec):
        np.testing.assert_array_equal(
            codes[n], exp_codes[n], err_msg=f"vector {n} (active_steps {ks[n]}): codes"
        )
        np.testing.assert_array_equal(
            dec[n], _decisions_as_masks(exp_dec[n]), err_msg=f"vector {n}: decisions"
        )
        assert latencies[n] == dut.latency(int(ks[n])), f"vector {n}: latency {latencies[n]}"


def test_full_throughput_period(seed):
    """With start held high and ready always high, starts are clocks_per_conversion apart."""
    cfg = SARConfig(columns=2)
    fe = AnalogFrontEnd.ideal(cfg)
    dut = SAR(cfg)
    rng = np.random.default_rng(seed)
    v = rng.uniform(-1, 1, (6, cfg.columns))
    k = 5
    accepted, outputs = [], []

    async def bench(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.active_steps, k)
        ctx.set(dut.o.ready, 1)
        n = -1
        for cycle in range(6 * dut.clocks_per_conversion(k) + 1):
            if not ctx.get(dut.busy):
                accepted.append(cycle)
                n += 1
            dac = ctx.get(dut.dac)
            if dac:
                states = _states(cfg, dac)
                step = int(states[0]).bit_length() - 1
                ctx.set(dut.cmp, _pack(fe.compare(v[n], states, step, n)))
            if ctx.get(dut.o.valid):
                outputs.append((cycle, [ctx.get(dut.o.payload).codes[c] for c in range(2)]))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert np.diff(accepted).tolist() == [dut.clocks_per_conversion(k)] * (len(accepted) - 1)
    assert len(outputs) >= 5
    lat = [o[0] - a for o, a in zip(outputs, accepted[: len(outputs)], strict=True)]
    assert lat == [dut.latency(k)] * len(outputs)
    exp, _ = sar_convert(cfg, fe, v[: len(outputs)], k)
    np.testing.assert_array_equal(np.array([o[1] for o in outputs]), exp)


def test_result_held_under_backpressure_and_start_ignored():
    """A pending result stays valid and unchanged; starts while busy are ignored."""
    cfg = SARConfig(columns=2)
    dut = SAR(cfg)
    seen = []

    async def bench(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.active_steps, 8)
        ctx.set(dut.cmp, 0b11)  # every trial kept: code 255 in both columns
        await ctx.tick()
        ctx.set(dut.active_steps, 2)  # must not affect the running conversion
        for _ in range(30):  # start stays high the whole time, ready low
            seen.append((ctx.get(dut.busy), ctx.get(dut.o.valid), ctx.get(dut.dac)))
            await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.o.payload).codes[0] == 255
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        ctx.set(dut.o.ready, 0)
        seen.append((ctx.get(dut.busy), ctx.get(dut.o.valid), ctx.get(dut.dac)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert all(b == 1 for b, _, _ in seen[:-1])
    assert [val for _, val, _ in seen[:30]] == [0] * 8 + [1] * 22
    assert all(d == 0 for _, _, d in seen[8:30]), "dac must be idle while the result is pending"
    assert seen[-1][:2] == (0, 0)
