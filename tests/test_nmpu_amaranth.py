"""Fast tier: hw.nmpu.NMPU in Amaranth's simulator against the golden model ``nmpu()``.

Every catalogue config small enough for the Python simulator, with idle
cycles x backpressure crossed over ``tb.stimulus.pauses.PATTERNS`` and random
mid-stream parameter writes on or off; plus the error flags, the parameter
write timing and the full-rate latency. The cocotb tier repeats the stream
tests on the generated Verilog.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.nmpu import NMPU
from model.nmpu import PARAM_FIELDS, NMPUConfig, nmpu
from tb.pysim.testbench import (
    PysimParamWriter,
    clocks,
    present_param_write,
    simulate,
    stream_get,
    stream_put,
    wait_until,
    watch,
    write_params,
)
from tb.stimulus.catalogue import NMPU_CONFIGS, SLOW
from tb.stimulus.nmpu import (
    extreme_codes,
    extreme_params,
    input_beats,
    random_codes,
    random_params,
)
from tb.stimulus.pauses import PATTERNS, pauses

CONFIGS = sorted(name for name in NMPU_CONFIGS if name not in SLOW)


def assert_outputs(cfg: NMPUConfig, expected: np.ndarray, beats: list[dict]) -> None:
    """Output beats (in order) against ``expected`` [vectors, columns], naming the first error."""
    vectors = expected.shape[0]
    assert len(beats) == vectors * cfg.beats, (
        f"{len(beats)} output beats, expected {vectors * cfg.beats} ({vectors} vectors)"
    )
    for n, beat in enumerate(beats):
        v, b = divmod(n, cfg.beats)
        assert beat["last"] == (b == cfg.beats - 1), (
            f"vector {v} beat {b}: last={beat['last']}, expected {int(b == cfg.beats - 1)}"
        )
    actual = np.array([beat["data"] for beat in beats]).reshape(vectors, cfg.columns)
    bad = np.argwhere(actual != expected)
    if bad.size:
        v, c = bad[0]
        raise AssertionError(
            f"{len(bad)} mismatching outputs; first: vector {v} beat {c // cfg.lanes} column {c}: "
            f"expected {expected[v, c]}, got {actual[v, c]}"
        )


async def drain_and_check_flags(ctx, dut, cycles: int) -> None:
    """With ``o.ready`` high, no further beat appears for ``cycles``; both error flags stay low."""
    ctx.set(dut.o.ready, 1)
    for cycle in range(cycles):
        _, _, valid = await ctx.tick().sample(dut.o.valid)
        assert not valid, f"unexpected output beat {cycle + 1} clocks after the last one"
    assert not ctx.get(dut.frame_error), "frame_error set by a well-formed stream"
    assert not ctx.get(dut.param_error), "param_error set by in-range writes"


def vector_count(cfg: NMPUConfig) -> int:
    """Enough vectors for ~64 input beats (at least 3), keeping the run short."""
    return max(3, 64 // (cfg.phases * cfg.beats))


@pytest.mark.parametrize("writes", [False, True], ids=["no_writes", "writes"])
@pytest.mark.parametrize("backpressure", PATTERNS)
@pytest.mark.parametrize("idle", PATTERNS)
@pytest.mark.parametrize("name", CONFIGS)
def test_nmpu_matches_model(name, idle, backpressure, writes, seed):
    """Every output beat equals ``nmpu()`` with the parameters in force at the vector's first
    beat, under idle cycles, backpressure and (optionally) random writes at any cycle."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    codes = np.concatenate([extreme_codes(cfg), random_codes(cfg, rng, vector_count(cfg))])
    vectors = codes.shape[0]
    dut = NMPU(cfg)
    writer = PysimParamWriter(cfg, random_params(cfg, rng), rng, probability=0.2 if writes else 0.0)
    src_pauses, sink_pauses = pauses(idle, rng), pauses(backpressure, rng)
    got = []

    async def source(ctx):
        await wait_until(ctx, lambda: writer.loaded)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), src_pauses)

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, vectors * cfg.beats, sink_pauses, name="o"))
        await drain_and_check_flags(ctx, dut, 2 * dut.latency)

    async def params(ctx):
        await writer.run(ctx, dut.params, dut.i)

    beats_in = vectors * cfg.phases * cfg.beats
    simulate(
        dut,
        source,
        sink,
        background=[params],
        deadline_cycles=len(PARAM_FIELDS) * cfg.columns + 20 * beats_in + 100,
    )
    assert len(writer.in_force) == vectors, (
        f"{len(writer.in_force)} vector starts seen, expected {vectors}"
    )
    if writes:
        assert writer.writes > 0, "the writer never wrote: the run did not test writes"
    expected = np.concatenate(
        [nmpu(cfg, codes[v : v + 1], **writer.in_force[v]) for v in range(vectors)]
    )
    assert_outputs(cfg, expected, got)


@pytest.mark.parametrize("corner", ["min", "max"])
@pytest.mark.parametrize("name", CONFIGS)
def test_nmpu_extreme_params(name, corner, seed):
    """Every field at its format's min (or max) with extreme and random codes: saturation and
    the widest intermediates, where a too-narrow signal would wrap."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    codes = np.concatenate([extreme_codes(cfg), random_codes(cfg, rng, 2)])
    params = extreme_params(cfg, corner)
    dut = NMPU(cfg)
    got = []

    async def source(ctx):
        await write_params(ctx, dut.params, cfg, params)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(codes) * cfg.beats, pauses("random", rng)))

    simulate(dut, source, sink, deadline_cycles=5 * cfg.columns + 50 * len(codes) * cfg.beats)
    assert_outputs(cfg, nmpu(cfg, codes, **params), got)


@pytest.mark.parametrize("name", CONFIGS)
def test_nmpu_full_rate_latency(name, seed):
    """With no pauses the NMPU takes one beat per clock, and output beat b of a vector appears
    ``dut.latency`` clocks after the edge accepting beat b of its last phase."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    codes = random_codes(cfg, rng, 3)
    params = random_params(cfg, rng)
    dut = NMPU(cfg)
    log, got = {}, []

    async def source(ctx):
        await write_params(ctx, dut.params, cfg, params)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(codes) * cfg.beats, pauses("none", rng)))

    async def monitor(ctx):
        await watch(ctx, log, i=dut.i.valid & dut.i.ready, o=dut.o.valid & dut.o.ready)

    simulate(dut, source, sink, background=[monitor], deadline_cycles=5 * cfg.columns + 500)
    assert_outputs(cfg, nmpu(cfg, codes, **params), got)
    t_in, t_out = np.array(log["i"]), np.array(log["o"])
    gaps = np.flatnonzero(np.diff(t_in) != 1)
    assert gaps.size == 0, f"input stalled after beat {gaps[0] if gaps.size else ''}: {t_in}"
    for n, t in enumerate(t_out):
        v, b = divmod(n, cfg.beats)
        last_phase_beat = (v * cfg.phases + cfg.phases - 1) * cfg.beats + b
        assert t - t_in[last_phase_beat] == dut.latency, (
            f"vector {v} beat {b}: output at edge {t}, its last-phase input at edge "
            f"{t_in[last_phase_beat]}: latency {t - t_in[last_phase_beat]}, "
            f"expected {dut.latency}"
        )


def _distinct_value(cfg, codes, params, name, column):
    """A raw value for ``name[column]`` that changes the output of ``codes`` (one vector)."""
    fmt = cfg.param_format(name)
    before = nmpu(cfg, codes, **params)
    for value in (fmt.max_raw, fmt.min_raw, 0, 1 << fmt.frac_bits):
        changed = {f: v.copy() for f, v in params.items()}
        changed[name][column] = value
        if not np.array_equal(nmpu(cfg, codes, **changed), before):
            return value, changed
    raise AssertionError(f"no value of {name}[{column}] changes the output; pick other codes")


def test_write_takes_effect_for_the_next_vector(seed):
    """A write at the edge accepting a vector's first beat is not seen by that vector, only
    by the vectors started after it (the shadow -> active bank rule)."""
    cfg = NMPU_CONFIGS["no_batchnorm"]
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    codes = random_codes(cfg, rng, 1).repeat(3, axis=0)  # three equal vectors
    column = int(rng.integers(cfg.columns))
    value, changed = _distinct_value(cfg, codes[:1], params, "scale", column)
    dut = NMPU(cfg)
    got, accepted = [], []

    async def source(ctx):
        await write_params(ctx, dut.params, cfg, params)
        for n, beat in enumerate(input_beats(cfg, codes)):
            if n == cfg.phases * cfg.beats:  # the first beat of vector 1
                present_param_write(ctx, dut.params, cfg, "scale", column, value)
            else:
                ctx.set(dut.params.we, 0)
            ctx.set(dut.i.payload, {k: np.asarray(x).tolist() for k, x in beat.items()})
            ctx.set(dut.i.valid, 1)
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            accepted.append(ready)
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.params.we, 0)

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(codes) * cfg.beats, pauses("none", rng)))

    simulate(dut, source, sink, deadline_cycles=5 * cfg.columns + 500)
    assert all(accepted), f"input not ready at full rate: {accepted}"
    expected = np.concatenate(
        [nmpu(cfg, codes[:2], **params), nmpu(cfg, codes[2:], **changed)]
    )  # vector 1 started at the write's edge: old values; vector 2: new
    assert_outputs(cfg, expected, got)


@pytest.mark.parametrize(
    "name, bad",
    [
        ("odd_columns_one_lane", "missing_column"),
        ("no_batchnorm", "missing_field"),
        ("no_correction", "missing_field"),
    ],
)
@pytest.mark.parametrize("fault", ["first", "last"])
def test_error_flags(name, bad, fault, seed):
    """A write to a missing column or field sets the sticky param_error and is dropped; a beat
    whose ``first``/``last`` flag disagrees with the beat count sets the sticky frame_error."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    codes = random_codes(cfg, rng, 1)
    if bad == "missing_column":  # a column slot the address field has room for but no column
        assert cfg.columns < 1 << cfg.param_column_bits
        address = (PARAM_FIELDS.index("scale") << cfg.param_column_bits) | cfg.columns
    else:  # a field this config does not store (no batch-norm, or no correction)
        missing = [f for f in PARAM_FIELDS if f not in cfg.param_fields]
        assert missing, f"{name} stores every field"
        address = cfg.param_address(missing[0], 0)
    dut = NMPU(cfg)
    flags, got = {}, []

    async def bench(ctx):
        await write_params(ctx, dut.params, cfg, params)
        flags["param_error after good writes"] = ctx.get(dut.param_error)
        ctx.set(dut.params.addr, address)
        ctx.set(dut.params.data, (1 << len(dut.params.data)) - 1)
        ctx.set(dut.params.we, 1)
        await ctx.tick()
        ctx.set(dut.params.we, 0)
        flags["param_error after the bad write"] = ctx.get(dut.param_error)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses("none", rng))
        await clocks(ctx, dut.latency + cfg.beats)
        flags["frame_error after a good vector"] = ctx.get(dut.frame_error)
        beat = input_beats(cfg, codes)[0]
        beat[fault] = not beat[fault]  # beat 0 of the next vector with a wrong flag
        await stream_put(ctx, dut.i, [beat], pauses("none", rng))
        await ctx.tick()
        flags["frame_error after the bad beat"] = ctx.get(dut.frame_error)
        await clocks(ctx, 10)
        flags["frame_error 10 clocks later"] = ctx.get(dut.frame_error)
        flags["param_error at the end"] = ctx.get(dut.param_error)

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, cfg.beats, pauses("none", rng)))

    simulate(dut, bench, sink, deadline_cycles=10 * cfg.columns + 200)
    assert flags == {
        "param_error after good writes": 0,
        "param_error after the bad write": 1,
        "frame_error after a good vector": 0,
        "frame_error after the bad beat": 1,
        "frame_error 10 clocks later": 1,
        "param_error at the end": 1,
    }
    assert_outputs(cfg, nmpu(cfg, codes, **params), got)  # the bad write changed nothing
