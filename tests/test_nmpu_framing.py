"""Framing, flush and reset of the NMPU (DESIGN 3.4), in Amaranth's simulator.

Streams with beats and phases dropped, duplicated and reordered at random:
``frame_error`` rises exactly when ``model.golden.framing.frame`` says, the
unit emits exactly the beats the framing model predicts (with the values of
``nmpu``), and every vector after the damage comes out right (resync).
A flush aborts the vector in flight and keeps the parameters; a reset keeps
them too, and a write presented during reset lands. A beat offered during reset is not
taken (``i.ready`` low) and transfers after it, in the NMPU and in the FP16 unit.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import ResetInserter, Signal

from hw.fp16.unit import FP16Unit
from hw.nmpu import NMPU
from model.fp16 import fp16_unit
from model.golden.framing import Position, frame
from model.nmpu import NMPUConfig, nmpu
from tb.pysim.testbench import (
    clocks,
    present_param_write,
    simulate,
    stream_get,
    stream_put,
    watch,
    with_sync_reset,
    write_params,
)
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.fp16 import FP16PortView, float16_params, random_fp16_params, raw_params
from tb.stimulus.nmpu import input_beats, random_codes, random_params
from tb.stimulus.params import ParamMirror
from tb.stimulus.pauses import pauses

CONFIGS = ["lanes1_trunc", "lanes_eq_columns_half_even", "phases4_relu_clip", "bitsliced_4x2"]
DAMAGE = (
    "drop_beat",
    "duplicate_beat",
    "swap_beats",
    "drop_phase",
    "duplicate_phase",
    "swap_phases",
)


def damage(cfg, beats: list[dict], rng: np.random.Generator) -> tuple[list[dict], list[str]]:
    """Damage some vectors of a clean beat list (never the last two); returns beats and a log."""
    per_vector = cfg.phases * cfg.beats
    vectors = len(beats) // per_vector
    out, log = [], []
    for v in range(vectors):
        vec = beats[v * per_vector : (v + 1) * per_vector]
        if v < vectors - 2 and rng.random() < 0.5:
            kind = DAMAGE[int(rng.integers(len(DAMAGE)))]
            phase_of = [vec[k * cfg.beats : (k + 1) * cfg.beats] for k in range(cfg.phases)]
            i, j = (int(n) for n in rng.choice(len(vec), 2, replace=len(vec) < 2))
            p, q = (int(n) for n in rng.integers(cfg.phases, size=2))
            if kind == "drop_beat":
                vec = vec[:i] + vec[i + 1 :]
            elif kind == "duplicate_beat":
                vec = vec[: i + 1] + vec[i:]
            elif kind == "swap_beats":
                vec = list(vec)
                vec[i], vec[j] = vec[j], vec[i]
            elif kind == "drop_phase":
                vec = [b for k, ph in enumerate(phase_of) if k != p for b in ph]
            elif kind == "duplicate_phase":
                vec = [b for k, ph in enumerate(phase_of) for b in (ph * (2 if k == p else 1))]
            else:
                phase_of[p], phase_of[q] = phase_of[q], phase_of[p]
                vec = [b for ph in phase_of for b in ph]
            log.append(f"vector {v}: {kind}")
        out.extend(vec)
    return out, log


def expected_outputs(cfg, beats: list[dict], params: dict):
    """The output beats (values and ``last``) and error positions the framing model predicts."""
    positions = [Position(bool(b["first"]), bool(b["last"]), b["phase"], b["beat"]) for b in beats]
    framing = frame(cfg.phases, cfg.beats, positions)
    vectors = max((v for v in framing.vector if v is not None), default=-1) + 1
    codes = np.zeros((vectors, cfg.phases, cfg.columns), np.int64)
    emitted = []  # (vector, beat) of every processed last-phase beat, in order
    for b, v in zip(beats, framing.vector, strict=True):
        if v is None:
            continue
        cols = slice(b["beat"] * cfg.lanes, (b["beat"] + 1) * cfg.lanes)
        codes[v, b["phase"], cols] = b["codes"]
        if b["phase"] == cfg.phases - 1:
            emitted.append((v, b["beat"]))
    y = nmpu(cfg, codes, **params) if vectors else np.zeros((0, cfg.columns), np.int64)
    want = [(y[v, b * cfg.lanes : (b + 1) * cfg.lanes], b == cfg.beats - 1) for v, b in emitted]
    return want, framing.errors


@pytest.mark.parametrize("name", CONFIGS)
def test_damaged_streams_are_flagged_and_recovered(name, seed):
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    beats, log = damage(cfg, input_beats(cfg, random_codes(cfg, rng, 24)), rng)
    want, errors = expected_outputs(cfg, beats, params)
    assert log, "the random damage damaged nothing"
    dut = NMPU(cfg)
    got, flags = [], []

    async def source(ctx):
        await write_params(ctx, dut.params, cfg, params)
        for n, beat in enumerate(beats):
            await stream_put(ctx, dut.i, [beat], pauses("random", rng))
            flags.append((n, ctx.get(dut.frame_error)))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(want), pauses("bursty", rng), name="o"))
        await clocks(ctx, 3 * dut.latency)
        assert not ctx.get(dut.o.valid), f"more output beats than the {len(want)} predicted"

    simulate(dut, source, sink, deadline_cycles=20 * len(beats) + 10 * cfg.columns + 500)
    first_error = errors[0] if errors else None
    rose = next((n for n, flag in flags if flag), None)
    assert rose == first_error, (
        f"frame_error rose after beat {rose}, predicted {first_error}; {log}"
    )
    for k, ((values, last), beat) in enumerate(zip(want, got, strict=True)):
        np.testing.assert_array_equal(beat["data"], values, err_msg=f"output beat {k}; {log}")
        assert beat["last"] == last, f"output beat {k}: last {beat['last']}; {log}"


@pytest.mark.parametrize("name", ["phases4_relu_clip", "lanes1_trunc"])
def test_flush_aborts_the_vector_in_flight_and_keeps_parameters(name, seed):
    """With the sink stalled, a bad beat (frame_error) and then an unfinished vector fill the
    pipeline; a flush drops it all and clears the flag; the next vectors come out right with
    the parameters loaded before the flush."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    codes = random_codes(cfg, rng, 4)
    dut = NMPU(cfg)
    state, got = {}, []
    flushed = []

    async def bench(ctx):
        await write_params(ctx, dut.params, cfg, params)
        first = input_beats(cfg, codes[:1])
        await stream_put(ctx, dut.i, [dict(first[0], first=0)], pauses("none", rng))
        unfinished = first[: min(dut.latency - 1, len(first) - 1)]  # fits in the pipeline
        await stream_put(ctx, dut.i, unfinished, pauses("none", rng))
        await clocks(ctx, 2)
        state["frame_error before flush"] = ctx.get(dut.frame_error)
        state["output waiting before flush"] = ctx.get(dut.o.valid) or cfg.phases > 1
        ctx.set(dut.flush, 1)
        await ctx.tick()
        ctx.set(dut.flush, 0)
        state["frame_error after flush"] = ctx.get(dut.frame_error)
        flushed.append(True)
        await stream_put(ctx, dut.i, input_beats(cfg, codes[1:]), pauses("random", rng))

    async def sink(ctx):
        while not flushed:
            await ctx.tick()
        got.extend(await stream_get(ctx, dut.o, 3 * cfg.beats, pauses("bursty", rng)))
        await clocks(ctx, 3 * dut.latency)
        state["extra output"] = ctx.get(dut.o.valid)

    simulate(dut, bench, sink, deadline_cycles=50 * cfg.columns + 500)
    assert state == {
        "frame_error before flush": 1,
        "output waiting before flush": 1,
        "frame_error after flush": 0,
        "extra output": 0,
    }
    want = nmpu(cfg, codes[1:], **params)  # the parameters survived the flush
    np.testing.assert_array_equal(np.concatenate([b["data"] for b in got]), want.reshape(-1))


def test_reset_keeps_parameters(seed):
    """Reset clears the datapath and the flags, not the parameter banks (docs/nmpu.md)."""
    cfg = NMPU_CONFIGS["odd_columns_one_lane"]  # 3 columns: column 3 is a bad address
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    codes = random_codes(cfg, rng, 2)
    dut = NMPU(cfg)
    rst = Signal()
    got = []

    async def bench(ctx):
        await write_params(ctx, dut.params, cfg, params)
        ctx.set(dut.params.addr, 3)  # column 3 of scale: a bad write, param_error
        ctx.set(dut.params.we, 1)
        await ctx.tick()
        ctx.set(dut.params.we, 0)
        assert ctx.get(dut.param_error)
        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        assert not ctx.get(dut.param_error), "reset clears the error flags"
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, 2 * cfg.beats, pauses("none", rng)))

    simulate(ResetInserter(rst)(dut), bench, sink, deadline_cycles=20 * cfg.columns + 200)
    want = nmpu(cfg, codes, **params)
    np.testing.assert_array_equal(np.concatenate([b["data"] for b in got]), want.reshape(-1))


def test_writes_during_reset_land_as_the_mirror_says(seed):
    """A parameter write presented while reset is high lands like any other (docs/nmpu.md,
    "Framing, flush and reset"): the memories and slot bits are not reset and ``pend`` is
    held clear, so the last write to a column before the first vector is in force, two
    writes to one column included. A write to a missing address during reset is dropped
    without ``param_error`` (held clear). ``ParamMirror``, which every bench predicts with,
    lands every write whatever the reset: the RTL must agree with it."""
    cfg = NMPU_CONFIGS["odd_columns_one_lane"]  # 3 columns: column 3 is a bad address
    rng = np.random.default_rng(seed)
    loaded, codes = random_params(cfg, rng), random_codes(cfg, rng, 8)
    for _ in range(100):  # values whose outputs tell them apart (ReLU and saturation may not)
        new, decoy = random_params(cfg, rng), random_params(cfg, rng)
        y = {k: nmpu(cfg, codes, **p) for k, p in (("l", loaded), ("n", new), ("d", decoy))}
        if all((y["n"][:, c] != y[k][:, c]).any() for c, k in ((0, "l"), (1, "l"), (1, "d"))):
            break
    else:
        raise AssertionError("no parameters that change the outputs")
    # During reset: every field of column 0 once, of column 1 twice (the second wins).
    writes = [(f, 0, new[f][0]) for f in cfg.param_fields]
    writes += [(f, 1, v) for f in cfg.param_fields for v in (decoy[f][1], new[f][1])]
    mirror = ParamMirror(cfg, loaded)
    dut = NMPU(cfg)
    rst = Signal()
    got, state = [], {}

    async def bench(ctx):
        await write_params(ctx, dut.params, cfg, loaded)
        ctx.set(rst, 1)
        await ctx.tick()
        for name, column, value in writes:
            present_param_write(ctx, dut.params, cfg, name, column, value)
            await ctx.tick()
            mirror.land(name, column, value)
        ctx.set(dut.params.addr, 3)  # column 3 of scale: a bad write, during reset
        await ctx.tick()
        ctx.set(dut.params.we, 0)
        await ctx.tick()
        ctx.set(rst, 0)
        state["param_error after reset"] = ctx.get(dut.param_error)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(codes) * cfg.beats, pauses("none", rng)))

    simulate(ResetInserter(rst)(dut), bench, sink, deadline_cycles=20 * cfg.columns + 200)
    assert state == {"param_error after reset": 0}
    in_force = mirror.snapshot()
    for f in cfg.param_fields:
        np.testing.assert_array_equal(in_force[f], [new[f][0], new[f][1], loaded[f][2]], f)
    want = nmpu(cfg, codes, **in_force)
    np.testing.assert_array_equal(np.concatenate([b["data"] for b in got]), want.reshape(-1))


@pytest.mark.parametrize("unit", ["nmpu", "fp16"])
def test_beat_offered_during_reset_is_taken_after_it(unit, seed):
    """A source may offer a beat while the unit is held in reset (docs/nmpu.md, "Framing,
    flush and reset"): ``i.ready`` is low at every clock of the reset, so nothing transfers
    into registers the reset is clearing; after the release the same beat transfers first
    and every vector comes out right (nothing lost). Before the fix ``i.ready`` was high
    during reset (``o.valid`` is reset to 0) and the beat was accepted and dropped."""
    cfg = NMPUConfig(columns=8, lanes=4, phases=2)
    rng = np.random.default_rng(seed)
    codes = random_codes(cfg, rng, 3)
    if unit == "nmpu":
        dut, port_cfg, params = NMPU(cfg), cfg, random_params(cfg, rng)
        want = nmpu(cfg, codes, **params)
    else:
        raw = raw_params(random_fp16_params(cfg, rng))
        dut, port_cfg, params = FP16Unit(cfg), FP16PortView(cfg), raw
        want = fp16_unit(cfg, codes, **float16_params(raw))
    top, rst = with_sync_reset(dut)
    beats = input_beats(cfg, codes)
    reset_clocks, got, log, during = 4, [], {}, []

    async def bench(ctx):
        await write_params(ctx, dut.params, port_cfg, params)
        ctx.set(rst, 1)
        ctx.set(dut.i.payload, {k: np.asarray(v).tolist() for k, v in beats[0].items()})
        ctx.set(dut.i.valid, 1)  # beat 0 offered while reset is high
        for _ in range(reset_clocks):
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            during.append(ready)
        ctx.set(rst, 0)
        log["released"] = len(log["i"])  # transfers before the release (none)
        await stream_put(ctx, dut.i, beats, pauses("none", rng))  # beats[0] still presented

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(codes) * cfg.beats, pauses("none", rng)))

    async def monitor(ctx):
        await watch(ctx, log, i=dut.i.valid & dut.i.ready)

    simulate(top, bench, sink, background=[monitor], deadline_cycles=2_000)
    assert during == [0] * reset_clocks, f"i.ready during reset: {during}"
    assert log["released"] == 0 and len(log["i"]) == len(beats), log
    np.testing.assert_array_equal(np.concatenate([b["data"] for b in got]), want.reshape(-1))
