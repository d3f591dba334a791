"""Fast tier: hw.sar.SAR in Amaranth's simulator, in closed loop with the analog model.

A background testbench plays the analog half (``tb.stream.closed_loop``: ``dac`` in,
``cmp`` out), another starts conversions (idle gaps, spurious starts while
busy), a sink takes results with backpressure; codes, raw decisions, the
step sequence, ``busy`` and the published timing (``latency_at``,
``period_at``) are checked against ``sar_convert`` and the docs.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.sar import SAR
from model.sar import AnalogFrontEnd, decision_masks, sar_convert
from tb.pysim.testbench import (
    drive_comparator,
    drive_starts,
    simulate,
    stream_get,
    watch,
    with_sync_reset,
)
from tb.stimulus.catalogue import SAR_CASES, SLOW
from tb.stimulus.pauses import PATTERNS, pauses
from tb.stream.closed_loop import ClosedLoop

CASES = sorted(name for name in SAR_CASES if name not in SLOW)


def front_end(case: str, seed: int):
    """The case's config and its analog front end, drawn with the test's seed."""
    cfg, settings = SAR_CASES[case]
    return cfg, AnalogFrontEnd.sample(cfg, seed=seed, **settings)


def run_closed_loop(cfg, fe, v, ks, rng, *, idle="none", backpressure="none", spurious=False):
    """Convert the rows of ``v`` with ``active_steps`` ``ks`` on the RTL.

    Returns (dut, results, log, loop): the result beats in order, the edges
    of accepted starts / presented results / transfers / busy, and the loop.
    """
    dut = SAR(cfg)
    loop = ClosedLoop(dut, fe, v)
    start_rng, sink_rng, junk_rng = rng.spawn(3)
    log, got = {}, []

    async def starts(ctx):
        await drive_starts(
            ctx, dut, ks, pauses(idle, start_rng), spurious_rng=junk_rng if spurious else None
        )

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(ks), pauses(backpressure, sink_rng)))

    async def comparator(ctx):
        await drive_comparator(ctx, dut, loop, idle_rng=junk_rng)

    async def monitor(ctx):
        await watch(
            ctx,
            log,
            start=dut.start & ~dut.busy,
            valid=dut.o.valid,
            fire=dut.o.valid & dut.o.ready,
            busy=dut.busy,
        )

    simulate(
        dut, starts, sink, background=[comparator, monitor], deadline_cycles=100 * len(ks) + 100
    )
    return dut, got, log, loop


def check_results(cfg, fe, v, ks, got, loop) -> None:
    """Codes, raw decisions and the step sequence of every conversion against ``sar_convert``."""
    codes, decisions = sar_convert(cfg, fe, v, ks)
    masks = decision_masks(decisions)
    assert len(got) == len(ks), f"{len(got)} results for {len(ks)} conversions"
    for n, beat in enumerate(got):
        assert loop.steps_seen.get(n) == list(range(ks[n])), (
            f"conversion {n} (active_steps {ks[n]}): steps on dac {loop.steps_seen.get(n)}, "
            f"expected 0..{ks[n] - 1}"
        )
        for field, want in (("codes", codes[n]), ("decisions", masks[n])):
            bad = np.flatnonzero(beat[field] != want)
            assert bad.size == 0, (
                f"conversion {n} (active_steps {ks[n]}) column {bad[0]}: {field} "
                f"{beat[field][bad[0]]:#x}, expected {want[bad[0]]:#x} ({bad.size} columns differ)"
            )


def check_timing(dut, ks, log) -> None:
    """One accepted start per conversion; each result appears ``latency_at(k)`` clocks after its
    start; ``busy`` is high exactly from the clock after the start to the result's transfer."""
    starts, fires = log["start"], log["fire"]
    assert len(starts) == len(ks), f"{len(starts)} starts accepted for {len(ks)} conversions"
    assert len(fires) == len(ks), f"{len(fires)} results transferred for {len(ks)} conversions"
    valid = np.array(log["valid"])
    busy_expected = set()
    for n, (a, f) in enumerate(zip(starts, fires, strict=True)):
        shown = valid[valid > a]
        assert shown.size, f"conversion {n}: no result after its start at edge {a}"
        latency = int(shown[0]) - a
        assert latency == dut.latency_at(ks[n]), (
            f"conversion {n} (active_steps {ks[n]}): result at edge {shown[0]}, start at edge "
            f"{a}: latency {latency}, expected {dut.latency_at(ks[n])}"
        )
        busy_expected.update(range(a + 1, f + 1))
    wrong = sorted(set(log["busy"]) ^ busy_expected)
    assert not wrong, (
        f"busy wrong at edges {wrong[:10]} (high at {sorted(set(log['busy']))[:10]}..., "
        "expected from the clock after each start to the result's transfer)"
    )


def every_k(cfg, rng, extra: int) -> np.ndarray:
    """Every active_steps value once plus ``extra`` random ones, shuffled."""
    ks = np.concatenate([np.arange(1, cfg.steps + 1), rng.integers(1, cfg.steps + 1, extra)])
    return rng.permutation(ks)


@pytest.mark.parametrize("backpressure", PATTERNS)
@pytest.mark.parametrize("idle", PATTERNS)
@pytest.mark.parametrize("case", CASES)
def test_closed_loop_matches_model(case, idle, backpressure, seed):
    """Codes and decisions equal ``sar_convert`` for every active_steps, with idle gaps between
    starts, random starts and active_steps while busy (ignored), and result backpressure."""
    rng = np.random.default_rng(seed)
    cfg, fe = front_end(case, seed)
    ks = every_k(cfg, rng, 3 * cfg.steps)
    v = rng.uniform(-1.05, 1.05, (len(ks), cfg.columns))
    dut, got, log, loop = run_closed_loop(
        cfg, fe, v, ks, rng, idle=idle, backpressure=backpressure, spurious=True
    )
    check_results(cfg, fe, v, ks, got, loop)
    check_timing(dut, ks, log)
    # The patterns reached the pins: idle clocks with the SAR free, results left waiting.
    starts, fires = np.array(log["start"]), np.array(log["fire"])
    shown = np.searchsorted(log["valid"], starts, side="right")
    waited = fires - np.array(log["valid"])[shown]
    assert (idle == "none") == (starts[1:] == fires[:-1] + 1).all(), (
        f"idle {idle!r}: starts at {starts}, previous results left at {fires}"
    )
    assert (backpressure == "none") == (waited == 0).all(), (
        f"backpressure {backpressure!r}: results waited {waited} clocks"
    )


@pytest.mark.parametrize("case", CASES)
def test_full_throughput_period(case, seed):
    """With ``start`` held high and ``o.ready`` always high, a conversion with ``k`` steps is
    followed by the next start exactly ``period_at(k)`` clocks later, for every k."""
    rng = np.random.default_rng(seed)
    cfg, fe = front_end(case, seed)
    ks = every_k(cfg, rng, 2)
    v = rng.uniform(-1, 1, (len(ks), cfg.columns))
    dut, got, log, loop = run_closed_loop(cfg, fe, v, ks, rng)
    check_results(cfg, fe, v, ks, got, loop)
    check_timing(dut, ks, log)
    starts = log["start"]
    for n in range(len(ks) - 1):
        period = starts[n + 1] - starts[n]
        assert period == dut.period_at(ks[n]), (
            f"conversion {n} (active_steps {ks[n]}) started at edge {starts[n]}, the next at "
            f"{starts[n + 1]}: period {period}, expected {dut.period_at(ks[n])}"
        )


def test_result_held_under_backpressure_and_start_ignored():
    """A pending result stays valid and unchanged while ``o.ready`` is low; ``start`` (held high)
    and ``active_steps`` are ignored until it transfers, and ``dac`` stays idle."""
    cfg, _ = SAR_CASES["ideal_binary"]
    dut = SAR(cfg)
    held = dut.latency + 20  # edges with ready low after the start
    rows = []

    async def bench(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.active_steps, cfg.steps)
        ctx.set(dut.cmp, (1 << cfg.columns) - 1)  # every trial kept: full code everywhere
        for edge in range(1, held + 1):
            sampled = await ctx.tick().sample(
                dut.start & ~dut.busy, dut.busy, dut.o.valid, dut.dac, dut.o.payload
            )
            rows.append((edge, *sampled[2:]))
            ctx.set(dut.active_steps, 1)  # a later start with 1 step would change the code
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.start, 0)
        _, _, fire, busy = await ctx.tick().sample(dut.o.valid & dut.o.ready, dut.busy)
        assert fire and busy, f"edge {held + 1}: transfer={fire} busy={busy}, expected 1 1"
        ctx.set(dut.o.ready, 0)
        _, _, busy = await ctx.tick().sample(dut.busy)
        assert not busy, f"edge {held + 2}: busy still high the clock after the transfer"

    simulate(dut, bench, deadline_cycles=held + 10)
    full = {
        "codes": [cfg.full_code] * cfg.columns,
        "decisions": [(1 << cfg.steps) - 1] * cfg.columns,
    }
    for edge, accepted, busy, valid, dac, payload in rows:
        assert accepted == (edge == 1), f"edge {edge}: start accepted={accepted}"
        assert busy == (edge > 1), f"edge {edge}: busy={busy}"
        assert valid == (edge >= 1 + dut.latency), f"edge {edge}: o.valid={valid}"
        if valid:
            assert dac.as_bits() == 0, f"edge {edge}: dac {dac.as_bits():#x} while result pending"
            got = {"codes": list(payload.codes), "decisions": list(payload.decisions)}
            assert got == full, f"edge {edge}: held result {got}, expected {full}"


def test_start_during_reset_waits_for_the_release(seed):
    """``busy`` is high at every clock of a reset (docs/sar.md), so a ``start`` held then is not
    accepted; after the release it is, at the first edge, and the conversion's result is the
    model's. Before the fix ``busy`` was low in reset: the start counted as accepted (by the
    protocol and by every driver) but the reset cleared the sequencer, so no conversion ran
    and no result came."""
    rng = np.random.default_rng(seed)
    cfg, fe = front_end("ideal_binary", seed)
    dut = SAR(cfg)
    top, rst = with_sync_reset(dut)
    loop = ClosedLoop(dut, fe, rng.uniform(-1, 1, (1, cfg.columns)))
    reset_clocks, log, got, during = 3, {}, [], []

    async def bench(ctx):
        ctx.set(rst, 1)
        ctx.set(dut.start, 1)  # offered while reset is high
        ctx.set(dut.active_steps, cfg.steps)
        for _ in range(reset_clocks):
            _, _, busy = await ctx.tick().sample(dut.busy)
            during.append(busy)
        ctx.set(rst, 0)
        _, _, accepted = await ctx.tick().sample(dut.start & ~dut.busy)
        assert accepted, "start not accepted at the first edge after the reset"
        ctx.set(dut.start, 0)
        got.extend(await stream_get(ctx, dut.o, 1, pauses("none", rng)))

    async def comparator(ctx):
        await drive_comparator(ctx, dut, loop)

    async def monitor(ctx):
        await watch(ctx, log, start=dut.start & ~dut.busy)

    simulate(top, bench, background=[comparator, monitor], deadline_cycles=100)
    assert during == [1] * reset_clocks, f"busy during reset: {during}"
    assert log["start"] == [reset_clocks + 1], f"starts accepted at edges {log['start']}"
    check_results(cfg, fe, loop.analog, [cfg.steps], got, loop)
