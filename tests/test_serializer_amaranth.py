"""Fast tier: hw.serializer.CodeSerializer, the SAR-word to NMPU-lane width converter.

Its shapes are those of the serializers the catalogue's NMPUs and tiles
would be fed by (``columns``, ``lanes``, code width, signed view), which
include lanes == columns, one lane, and unsigned codes. Checked: the beats
are the word split into lanes with first/last and the signed view, under
crossed idle and backpressure; full throughput; stream-rule timing; a word offered
during reset is taken after it.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.serializer import CodeSerializer
from tb.pysim.testbench import simulate, stream_get, stream_put, watch, with_sync_reset
from tb.stimulus.catalogue import NMPU_CONFIGS, SLOW, TILE_CONFIGS
from tb.stimulus.pauses import PATTERNS, pauses


def _shapes() -> dict[str, tuple[int, int, int, bool, int]]:
    """(columns, lanes, width, to_signed, phases) of every catalogue NMPU's input, named after
    a user."""
    users = {f"tile_{n}": c.nmpu for n, c in TILE_CONFIGS.items()}
    users.update({n: c for n, c in NMPU_CONFIGS.items() if n not in SLOW})
    shapes = {}
    for name, cfg in sorted(users.items()):
        shape = (cfg.columns, cfg.lanes, cfg.in_width, cfg.in_signed, cfg.phases)
        if shape not in shapes.values():
            shapes[name] = shape
    return shapes


SHAPES = _shapes()


def test_shapes_cover_the_corners():
    """The derived cases include lanes == columns, a single lane and an unsigned view."""
    shapes = SHAPES.values()
    assert any(c == n for c, n, *_ in shapes), f"no lanes == columns case in {SHAPES}"
    assert any(n == 1 for _, n, *_ in shapes), f"no single-lane case in {SHAPES}"
    assert any(not s for *_, s, _ in shapes), f"no unsigned case in {SHAPES}"
    assert any(k > 1 for *_, k in shapes), f"no multi-phase case in {SHAPES}"


def make(name: str) -> CodeSerializer:
    return CodeSerializer(*SHAPES[name])


def random_words(dut: CodeSerializer, rng, count: int) -> np.ndarray:
    """Offset-binary code words [count, columns], with the extreme codes mixed in."""
    top = (1 << dut.width) - 1
    words = rng.integers(0, top, (count, dut.columns), endpoint=True)
    u = rng.random(words.shape)
    words[u < 0.1], words[u > 0.9] = 0, top
    return words


def expected_beats(dut: CodeSerializer, words: np.ndarray) -> list[dict]:
    """Each word split into beats of ``lanes`` codes, in the signed view ``code - 2**(w-1)``
    when ``to_signed``; word ``n`` is phase ``n % phases``, and each beat names its index."""
    view = words - (1 << (dut.width - 1)) if dut.to_signed else words
    beats = dut.columns // dut.lanes
    return [
        {
            "codes": view[n, b * dut.lanes : (b + 1) * dut.lanes],
            "first": int(b == 0),
            "last": int(b == beats - 1),
            "phase": n % dut.phases,
            "beat": b,
        }
        for n in range(len(words))
        for b in range(beats)
    ]


def assert_beats(dut: CodeSerializer, words: np.ndarray, got: list[dict]) -> None:
    want = expected_beats(dut, words)
    beats = dut.columns // dut.lanes
    assert len(got) == len(want), f"{len(got)} output beats, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        n, b = divmod(i, beats)
        for flag in ("first", "last", "phase", "beat"):
            assert g[flag] == w[flag], f"word {n} beat {b}: {flag}={g[flag]}, expected {w[flag]}"
        bad = np.flatnonzero(g["codes"] != w["codes"])
        if bad.size:
            j = bad[0]
            raise AssertionError(
                f"word {n} beat {b} lane {j} (column {b * dut.lanes + j}): code {g['codes'][j]}, "
                f"expected {w['codes'][j]} (input code {words[n, b * dut.lanes + j]})"
            )


@pytest.mark.parametrize("backpressure", PATTERNS)
@pytest.mark.parametrize("idle", PATTERNS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_beats_are_the_word_split_into_lanes(name, idle, backpressure, seed):
    """Output beats are the input words split into lanes, with first/last and the signed view,
    whatever the idle cycles and backpressure (stream rules checked by the sink)."""
    rng = np.random.default_rng(seed)
    src_rng, sink_rng = rng.spawn(2)
    dut = make(name)
    words = random_words(dut, rng, 12)
    got = []

    async def source(ctx):
        payloads = [{"codes": w} for w in words]
        await stream_put(ctx, dut.i, payloads, pauses(idle, src_rng))

    async def sink(ctx):
        beats = len(words) * (dut.columns // dut.lanes)
        got.extend(await stream_get(ctx, dut.o, beats, pauses(backpressure, sink_rng), name="o"))
        ctx.set(dut.o.ready, 1)
        for cycle in range(4):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, f"extra output beat {cycle + 1} clocks after the last one"

    simulate(dut, source, sink, deadline_cycles=100 * len(words) * dut.columns)
    assert_beats(dut, words, got)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_full_throughput(name, seed):
    """Always valid and ready: one beat per clock, ``latency`` clocks after the word is taken,
    and the next word taken at the edge where the previous one's last beat leaves."""
    rng = np.random.default_rng(seed)
    dut = make(name)
    words = random_words(dut, rng, 6)
    beats = dut.columns // dut.lanes
    log, got = {}, []

    async def source(ctx):
        await stream_put(ctx, dut.i, [{"codes": w} for w in words], pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(words) * beats, pauses("none", rng)))

    async def monitor(ctx):
        await watch(ctx, log, i=dut.i.valid & dut.i.ready, o=dut.o.valid & dut.o.ready)

    simulate(dut, source, sink, background=[monitor], deadline_cycles=20 * len(words) * beats)
    assert_beats(dut, words, got)
    t_in, t_out = log["i"], log["o"]
    assert t_out == list(range(t_out[0], t_out[0] + len(words) * beats)), (
        f"output beats not one per clock: edges {t_out}"
    )
    for n, t in enumerate(t_in):
        assert t_out[n * beats] - t == dut.latency, (
            f"word {n}: taken at edge {t}, first beat out at edge {t_out[n * beats]}, "
            f"expected {dut.latency} clocks later"
        )
        if n:
            assert t == t_out[n * beats - 1], (
                f"word {n} taken at edge {t}, word {n - 1}'s last beat left at edge "
                f"{t_out[n * beats - 1]}: the serializer must take it in that same clock"
            )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_held_beat_stable_under_backpressure(name, seed):
    """With ``o.ready`` low, each presented beat stays valid and unchanged, clock after clock,
    and the next word is not taken."""
    rng = np.random.default_rng(seed)
    dut = make(name)
    words = random_words(dut, rng, 2)
    beats = dut.columns // dut.lanes
    want = expected_beats(dut, words)
    stall = 5

    async def bench(ctx):
        ctx.set(dut.i.payload, {"codes": words[0].tolist()})
        ctx.set(dut.i.valid, 1)
        await ctx.tick()  # word 0 taken (the serializer is empty)
        ctx.set(dut.i.payload, {"codes": words[1].tolist()})  # word 1 waits
        for b in range(beats):
            for cycle in range(stall):
                _, _, valid, payload, next_taken = await ctx.tick().sample(
                    dut.o.valid, dut.o.payload, dut.i.ready
                )
                codes = np.array(list(payload.codes))
                assert valid and payload.first == want[b]["first"], (
                    f"beat {b}, stalled clock {cycle}: valid={valid} first={payload.first}"
                )
                assert (codes == want[b]["codes"]).all(), (
                    f"beat {b}, stalled clock {cycle}: codes {codes}, expected {want[b]['codes']}"
                )
                assert not next_taken, f"beat {b}, stalled clock {cycle}: next word taken"
            ctx.set(dut.o.ready, 1)
            await ctx.tick()
            ctx.set(dut.o.ready, 0)

    simulate(dut, bench, deadline_cycles=beats * (stall + 1) + 10)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_valid_does_not_depend_on_ready(name, seed):
    """Toggling ``o.ready`` within a clock never changes ``o.valid`` or the payload, while
    ``i.ready`` follows ``o.ready`` on the last beat (and only there) and is high when empty."""
    rng = np.random.default_rng(seed)
    dut = make(name)
    words = random_words(dut, rng, 1)
    beats = dut.columns // dut.lanes
    rows = []

    def probe(ctx, label):
        """``(o.valid, payload bits, i.ready)`` with o.ready low, then high, in this clock."""
        seen = []
        for ready in (0, 1):
            ctx.set(dut.o.ready, ready)
            seen.append(
                (ctx.get(dut.o.valid), ctx.get(dut.o.payload).as_bits(), ctx.get(dut.i.ready))
            )
        rows.append((label, *seen))

    async def bench(ctx):
        probe(ctx, "empty")
        ctx.set(dut.i.payload, {"codes": words[0].tolist()})
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 0)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for b in range(beats):
            probe(ctx, f"beat {b}")
            ctx.set(dut.o.ready, 1)
            await ctx.tick()

    simulate(dut, bench, deadline_cycles=beats + 10)
    for label, (v0, p0, r0), (v1, p1, r1) in rows:
        assert v0 == v1, f"{label}: o.valid is {v0} with o.ready low but {v1} with it high"
        assert p0 == p1, f"{label}: payload {p0:#x} with o.ready low, {p1:#x} with it high"
        last = label == f"beat {beats - 1}"
        want = (1, 1) if label == "empty" else (0, int(last))
        assert (r0, r1) == want, (
            f"{label}: i.ready is {r0} / {r1} with o.ready low / high, expected {want}"
        )
        assert v0 == (label != "empty"), f"{label}: o.valid={v0}"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_word_offered_during_reset_is_taken_after_it(name, seed):
    """``i.ready`` is low at every clock of a reset (docs/nmpu.md, "Streams during reset"):
    a word offered then is taken at the first edge after the release and comes out whole,
    then the rest. Before the fix ``i.ready`` was high (the serializer is empty in reset) and
    the word was taken into ``word_q``/``full_q`` as the reset cleared them: lost."""
    rng = np.random.default_rng(seed)
    dut = make(name)
    top, rst = with_sync_reset(dut)
    words = random_words(dut, rng, 3)
    beats = dut.columns // dut.lanes
    reset_clocks, log, got, during = 3, {}, [], []

    async def source(ctx):
        ctx.set(rst, 1)
        ctx.set(dut.i.payload, {"codes": words[0].tolist()})  # offered while reset is high
        ctx.set(dut.i.valid, 1)
        for _ in range(reset_clocks):
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            during.append(ready)
        ctx.set(rst, 0)
        await stream_put(ctx, dut.i, [{"codes": w} for w in words], pauses("none", rng))

    async def sink(ctx):
        got.extend(await stream_get(ctx, dut.o, len(words) * beats, pauses("none", rng)))

    async def monitor(ctx):
        await watch(ctx, log, i=dut.i.valid & dut.i.ready)

    simulate(top, source, sink, background=[monitor], deadline_cycles=20 * len(words) * beats)
    assert during == [0] * reset_clocks, f"i.ready during reset: {during}"
    assert log["i"][0] == reset_clocks + 1, f"words taken at edges {log['i']}"
    assert_beats(dut, words, got)
