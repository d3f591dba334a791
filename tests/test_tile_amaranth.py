"""Fast tier: hw.tile.TilePeriphery (SAR -> serializer -> NMPU) in Amaranth's simulator.

In closed loop with the analog model, against the golden chain
``model.golden.tile.tile``: every ADC code and raw decision from the
``adc_fire``/``adc_payload`` tap and every activation from ``o``, with idle
cycles between starts and backpressure on ``o``; plus the composed latency.
One conversion per phase: vector v, phase p is conversion ``v * phases + p``.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.tile import TilePeriphery
from model.golden.tile import tile
from model.sar import AnalogFrontEnd, decision_masks
from tb.pysim.testbench import (
    collect,
    drive_comparator,
    drive_starts,
    simulate,
    stream_get,
    watch,
    write_params,
)
from tb.stimulus.catalogue import SAR_CASES, TILE_CONFIGS
from tb.stimulus.nmpu import random_params
from tb.stimulus.pauses import PATTERNS, pauses
from tb.stream.closed_loop import ClosedLoop

#: The catalogue's mismatched, noisy front end (settings only; the seed is the test's).
FRONT_END = SAR_CASES["mismatch_noise"][1]


def run_tile(cfg, fe, analog, params, ks, rng, *, idle="none", backpressure="none"):
    """Convert ``analog`` [vectors, phases, columns] (conversion n with ``ks[n]`` steps).

    Returns (dut, adc results, output beats, edge log, loop).
    """
    dut = TilePeriphery(cfg)
    vectors = analog.shape[0]
    loop = ClosedLoop(dut.sar, fe, analog.reshape(vectors * cfg.phases, cfg.columns))
    start_rng, sink_rng, junk_rng = rng.spawn(3)
    adc, got, log = [], [], {}

    async def starts(ctx):
        await write_params(ctx, dut.params, cfg.nmpu, params)
        await drive_starts(ctx, dut, ks, pauses(idle, start_rng), spurious_rng=junk_rng)

    async def sink(ctx):
        beats = vectors * cfg.nmpu.beats
        got.extend(await stream_get(ctx, dut.o, beats, pauses(backpressure, sink_rng), name="o"))
        ctx.set(dut.o.ready, 1)
        for cycle in range(2 * dut.latency):
            _, _, valid, fire = await ctx.tick().sample(dut.o.valid, dut.adc_fire)
            assert not (valid or fire), f"output beyond the expected stream, clock {cycle + 1}"
        assert not ctx.get(dut.frame_error), "frame_error set inside the tile"
        assert not ctx.get(dut.param_error), "param_error set by in-range writes"

    async def comparator(ctx):
        await drive_comparator(ctx, dut, loop, idle_rng=junk_rng)

    async def adc_tap(ctx):
        await collect(ctx, dut.adc_fire, dut.adc_payload, adc)

    async def monitor(ctx):
        await watch(ctx, log, start=dut.start & ~dut.busy, o=dut.o.valid & dut.o.ready)

    conversions = len(ks)
    simulate(
        dut,
        starts,
        sink,
        background=[comparator, adc_tap, monitor],
        deadline_cycles=5 * cfg.columns + 100 * conversions * (cfg.sar.steps + cfg.nmpu.beats),
    )
    return dut, adc, got, log, loop


def check_tile(cfg, fe, analog, params, ks, adc, got, loop) -> None:
    """ADC results, step sequences and activations against ``tile()``."""
    want = tile(cfg, fe, analog, params, active_steps=ks)
    vectors, phases, beats, lanes = analog.shape[0], cfg.phases, cfg.nmpu.beats, cfg.nmpu.lanes
    codes = want.codes.reshape(vectors * phases, cfg.columns)
    masks = decision_masks(want.decisions).reshape(vectors * phases, cfg.columns)
    assert len(adc) == len(ks), f"{len(adc)} ADC results on the tap for {len(ks)} conversions"
    for n, result in enumerate(adc):
        v, p = divmod(n, phases)
        assert loop.steps_seen.get(n) == list(range(ks[n])), (
            f"conversion {n} (vector {v} phase {p}): steps {loop.steps_seen.get(n)}, "
            f"expected 0..{ks[n] - 1}"
        )
        for field, expected in (("codes", codes[n]), ("decisions", masks[n])):
            bad = np.flatnonzero(result[field] != expected)
            assert bad.size == 0, (
                f"conversion {n} (vector {v} phase {p}, active_steps {ks[n]}) column {bad[0]}: "
                f"{field} {result[field][bad[0]]:#x}, expected {expected[bad[0]]:#x}"
            )
    assert len(got) == vectors * beats, f"{len(got)} output beats, expected {vectors * beats}"
    for i, beat in enumerate(got):
        v, b = divmod(i, beats)
        assert beat["last"] == (b == beats - 1), f"vector {v} beat {b}: last={beat['last']}"
        expected = want.activations[v, b * lanes : (b + 1) * lanes]
        bad = np.flatnonzero(beat["data"] != expected)
        assert bad.size == 0, (
            f"vector {v} beat {b} column {b * lanes + bad[0]}: activation "
            f"{beat['data'][bad[0]]}, expected {expected[bad[0]]}"
        )


def stimulus(cfg, rng, vectors: int):
    """Analog inputs [vectors, phases, columns] (a little beyond full scale) and parameters."""
    analog = rng.uniform(-1.05, 1.05, (vectors, cfg.phases, cfg.columns))
    return analog, random_params(cfg.nmpu, rng)


@pytest.mark.parametrize("backpressure", PATTERNS)
@pytest.mark.parametrize("idle", PATTERNS)
@pytest.mark.parametrize("name", sorted(TILE_CONFIGS))
def test_tile_matches_model(name, idle, backpressure, seed):
    """Every ADC code, raw decision and activation equals the golden chain ``tile()``, with
    random active_steps per conversion, idle between starts and backpressure on ``o``."""
    cfg = TILE_CONFIGS[name]
    rng = np.random.default_rng(seed)
    fe = AnalogFrontEnd.sample(cfg.sar, seed=seed, **FRONT_END)
    vectors = 8
    analog, params = stimulus(cfg, rng, vectors)
    ks = rng.integers(1, cfg.sar.steps + 1, vectors * cfg.phases)
    ks[: cfg.phases] = cfg.sar.steps  # the first vector at full resolution
    dut, adc, got, log, loop = run_tile(
        cfg, fe, analog, params, ks, rng, idle=idle, backpressure=backpressure
    )
    check_tile(cfg, fe, analog, params, ks, adc, got, loop)


@pytest.mark.parametrize("reduced", [False, True], ids=["full_steps", "reduced_steps"])
@pytest.mark.parametrize("name", sorted(TILE_CONFIGS))
def test_tile_latency(name, reduced, seed):
    """At full rate, a vector's first output beat appears ``dut.latency`` clocks after the edge
    accepting its last conversion's start (with fewer steps: ``sar.latency_at(k)`` + the rest)."""
    cfg = TILE_CONFIGS[name]
    rng = np.random.default_rng(seed)
    fe = AnalogFrontEnd.sample(cfg.sar, seed=seed, **FRONT_END)
    vectors = 3
    analog, params = stimulus(cfg, rng, vectors)
    k = cfg.sar.steps // 2 if reduced else cfg.sar.steps
    ks = np.full(vectors * cfg.phases, k)
    dut, adc, got, log, loop = run_tile(cfg, fe, analog, params, ks, rng)
    check_tile(cfg, fe, analog, params, ks, adc, got, loop)
    latency = dut.sar.latency_at(k) + dut.serializer.latency + dut.nmpu.latency
    if not reduced:
        assert latency == dut.latency, f"latency {dut.latency}, blocks sum to {latency}"
    starts, outs = log["start"], log["o"]
    gaps = np.diff(starts)
    assert (gaps == dut.sar.period_at(k)).all(), (
        f"starts at edges {starts}: not back to back (period {dut.sar.period_at(k)})"
    )
    for v in range(vectors):
        last = starts[v * cfg.phases + cfg.phases - 1]
        first_out = outs[v * cfg.nmpu.beats]
        assert first_out - last == latency, (
            f"vector {v}: last conversion started at edge {last}, first output at edge "
            f"{first_out}: {first_out - last} clocks, expected {latency}"
        )
