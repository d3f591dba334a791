"""Fast tier: the binary16 operators and the FP16 unit in Amaranth's simulator, against
``model.golden.fp16`` (which ``tests/test_fp16_model.py`` checks against numpy and APyTypes).

The operators are combinational, so one simulated step checks ``LANES`` operand pairs
through ``LANES`` copies of each operator side by side.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.fp16 import ops
from hw.fp16.unit import FP16Unit
from model.golden import fp16 as golden
from model.nmpu import NMPUConfig
from tb.pysim.testbench import ParamWriter, simulate, stream_get, stream_put, wait_until, watch
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.fp16 import (
    SPECIAL_PATTERNS,
    FP16PortView,
    extreme_fp16_params,
    float16_params,
    random_fp16_params,
    raw_params,
)
from tb.stimulus.nmpu import extreme_codes, input_beats, random_codes
from tb.stimulus.pauses import pauses

LANES = 64
SHIFTS = (1, 4, 20)
OUT_RANGES = ((0, 255), (-128, 127), (0, 200))


class OperatorBank(wiring.Component):
    """``LANES`` copies of every operator on the same operand words (16 bits per lane)."""

    def __init__(self):
        ports = {"a": In(16 * LANES), "b": In(16 * LANES), "add": Out(16 * LANES)}
        ports["mul"] = Out(16 * LANES)
        ports.update({f"ldexp{s}": Out(16 * LANES) for s in SHIFTS})
        ports.update({f"int{k}": Out(32 * LANES) for k in range(len(OUT_RANGES))})
        ports["i2f"] = Out(16 * LANES)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for j in range(LANES):
            a, b = self.a.word_select(j, 16), self.b.word_select(j, 16)
            m.d.comb += [
                self.add.word_select(j, 16).eq(ops.add(m, a, b, f"add{j}")),
                self.mul.word_select(j, 16).eq(ops.mul(m, a, b, f"mul{j}")),
                # the low 12 bits of b as a signed 12-bit integer: rounding above 2048
                self.i2f.word_select(j, 16).eq(ops.from_int(m, b[:12], 12, True, f"i2f{j}")),
            ]
            for s in SHIFTS:
                m.d.comb += (
                    getattr(self, f"ldexp{s}")
                    .word_select(j, 16)
                    .eq(ops.ldexp(m, a, s, f"ldexp{s}_{j}"))
                )
            for k, (lo, hi) in enumerate(OUT_RANGES):
                m.d.comb += (
                    getattr(self, f"int{k}")
                    .word_select(j, 32)
                    .eq(ops.to_int(m, a, lo, hi, f"int{k}_{j}"))
                )
        return m


def _pack(values: np.ndarray, width: int) -> int:
    return int.from_bytes(values.astype(f"<u{width // 8}").tobytes(), "little")


def _unpack(word: int, width: int, signed: bool = False) -> np.ndarray:
    raw = np.frombuffer(int(word).to_bytes(width // 8 * LANES, "little"), f"<u{width // 8}")
    return raw.astype(f"<i{width // 8}" if signed else raw.dtype).astype(np.int64)


def run_operators(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Every operator's outputs for operand pairs ``a``, ``b`` (length a multiple of LANES)."""
    dut = OperatorBank()
    names = ["add", "mul", "i2f", *(f"ldexp{s}" for s in SHIFTS)]
    ints = [f"int{k}" for k in range(len(OUT_RANGES))]
    got: dict[str, list] = {n: [] for n in names + ints}

    async def bench(ctx):
        for k in range(0, a.size, LANES):
            ctx.set(dut.a, _pack(a[k : k + LANES], 16))
            ctx.set(dut.b, _pack(b[k : k + LANES], 16))
            for n in names:
                got[n].append(_unpack(ctx.get(getattr(dut, n)), 16))
            for n in ints:
                got[n].append(_unpack(ctx.get(getattr(dut, n)), 32, signed=True))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return {n: np.concatenate(v) for n, v in got.items()}


def check_operators(a: np.ndarray, b: np.ndarray) -> None:
    got = run_operators(a, b)
    code = b.astype(np.int64) & 0xFFF
    code = np.where(code >= 0x800, code - 0x1000, code)
    want = {
        "add": golden.fp16_add(a, b),
        "mul": golden.fp16_mul(a, b),
        "i2f": golden.fp16_from_int(code),
        **{f"ldexp{s}": golden.fp16_ldexp(a, s) for s in SHIFTS},
        **{f"int{k}": golden.to_int_rne(a, lo, hi) for k, (lo, hi) in enumerate(OUT_RANGES)},
    }
    for name, ref in want.items():
        bad = np.flatnonzero(got[name] != ref.astype(np.int64))
        if bad.size:
            i = bad[0]
            raise AssertionError(
                f"{name}: {bad.size} of {a.size} mismatches; first a=0x{int(a[i]):04X} "
                f"b=0x{int(b[i]):04X}: expected {int(ref[i]):#x}, got {int(got[name][i]):#x}"
            )


def test_operators_every_class_pair():
    """All pairs of the special patterns (zeros, subnormals, normals, max, inf, NaN)."""
    a, b = (g.ravel() for g in np.meshgrid(SPECIAL_PATTERNS, SPECIAL_PATTERNS))
    pad = (-a.size) % LANES
    check_operators(np.concatenate([a, a[:pad]]), np.concatenate([b, b[:pad]]))


def test_operators_random_pairs(seed):
    """Uniform patterns and pairs with nearby exponents (cancellation, carries, ties)."""
    rng = np.random.default_rng(seed)
    n = 100 * LANES
    a = rng.integers(0, 0x10000, n).astype(np.uint16)
    b = rng.integers(0, 0x10000, n).astype(np.uint16)
    near = (a.astype(np.int64) + rng.integers(-2048, 2048, n)) & 0xFFFF
    b[n // 2 :] = (near[n // 2 :] ^ (rng.integers(0, 2, n - n // 2) << 15)).astype(np.uint16)
    check_operators(a, b)


def test_operators_one_operand_every_pattern():
    """Every one of the 65536 patterns +/* 1.0 (and every pattern's conversions)."""
    b = np.arange(0x10000, dtype=np.uint16)
    check_operators(b, np.full_like(b, 0x3C00))


# -- the unit --------------------------------------------------------------------------

UNIT_CONFIGS = {
    "lanes1_trunc": NMPU_CONFIGS["lanes1_trunc"],
    "phases4_relu_clip": NMPUConfig(
        columns=8, lanes=4, phases=4, activation="relu_clip", relu_max=200
    ),
    "bitsliced_4x2": NMPUConfig(
        columns=8, lanes=4, phases=2, phase_shifts=(4, 0), in_width=4, in_signed=False
    ),
    "posneg_no_activation": NMPUConfig(
        columns=8, lanes=2, phases=2, phase_signs=(1, -1), activation="none"
    ),
    "no_batchnorm": NMPUConfig(columns=8, lanes=8, phases=3, bn=False, activation="none"),
    "odd_columns_one_lane": NMPU_CONFIGS["odd_columns_one_lane"],
    "no_correction": NMPUConfig(columns=8, lanes=4, phases=2, correction=False),
}


@pytest.mark.parametrize(
    "traffic", [("none", "none", 0.0), ("random", "bursty", 0.2), ("bursty", "random", 0.2)]
)
@pytest.mark.parametrize("name", list(UNIT_CONFIGS))
def test_unit_matches_model(name, traffic, seed):
    """Output beats equal ``fp16_unit()`` with the parameters in force at each vector's first
    beat, under idle cycles, backpressure and random parameter writes; and at full rate one
    beat per clock with the published latency."""
    cfg = UNIT_CONFIGS[name]
    idle, backpressure, write_rate = traffic
    rng = np.random.default_rng(seed)
    vectors = max(4, 48 // (cfg.phases * cfg.beats))
    codes = np.concatenate([extreme_codes(cfg), random_codes(cfg, rng, vectors)])
    corner = extreme_fp16_params(cfg, "max")
    params = random_fp16_params(cfg, rng)
    params = {f: np.where(rng.random(cfg.columns) < 0.1, corner[f], v) for f, v in params.items()}
    dut = FP16Unit(cfg)
    writer = ParamWriter(FP16PortView(cfg), raw_params(params), rng, probability=write_rate)
    got, log = [], {}

    async def source(ctx):
        await wait_until(ctx, lambda: writer.loaded)
        await stream_put(ctx, dut.i, input_beats(cfg, codes), pauses(idle, rng))

    async def sink(ctx):
        n = len(codes) * cfg.beats
        got.extend(await stream_get(ctx, dut.o, n, pauses(backpressure, rng), name="o"))
        ctx.set(dut.o.ready, 1)
        for _ in range(2 * dut.latency):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "an output beat more than the vectors sent"
        assert not ctx.get(dut.frame_error) and not ctx.get(dut.param_error)

    async def params_port(ctx):
        await writer.run(ctx, dut.params, dut.i)

    async def monitor(ctx):
        await watch(ctx, log, i=dut.i.valid & dut.i.ready, o=dut.o.valid & dut.o.ready)

    simulate(dut, source, sink, background=[params_port, monitor], deadline_cycles=20_000)
    assert len(writer.in_force) == len(codes)
    want = np.concatenate(
        [
            golden.fp16_unit(cfg, codes[v : v + 1], **float16_params(writer.in_force[v]))
            for v in range(len(codes))
        ]
    )
    assert len(got) == len(codes) * cfg.beats
    for n, beat in enumerate(got):
        v, b = divmod(n, cfg.beats)
        assert beat["last"] == (b == cfg.beats - 1), f"vector {v} beat {b}: last={beat['last']}"
    actual = np.array([beat["data"] for beat in got]).reshape(want.shape)
    bad = np.argwhere(actual != want)
    assert not bad.size, (
        f"{len(bad)} mismatches; first vector {bad[0][0]} column {bad[0][1]}: "
        f"expected {want[tuple(bad[0])]}, got {actual[tuple(bad[0])]}"
    )
    if cfg.columns >= 8:  # not a degenerate run: outputs besides the saturation values
        assert len(np.unique(actual)) > 3, "(almost) every output saturated"
    if idle == "none" and backpressure == "none":
        t_in, t_out = np.array(log["i"]), np.array(log["o"])
        assert np.all(np.diff(t_in) == 1), "input stalled at full rate"
        last_phase = [
            (v * cfg.phases + cfg.phases - 1) * cfg.beats + b
            for v in range(len(codes))
            for b in range(cfg.beats)
        ]
        lat = t_out - t_in[last_phase]
        assert np.all(lat == dut.latency), f"latencies {set(lat.tolist())}, not {dut.latency}"


def test_unit_flags_bad_parameter_address():
    cfg = NMPUConfig(columns=3, lanes=1, bn=False)
    dut = FP16Unit(cfg)

    async def bench(ctx):
        ctx.set(dut.params.addr, cfg.param_address("scale", 2) + 1)  # column 3 does not exist
        ctx.set(dut.params.data, 0x3C00)
        ctx.set(dut.params.we, 1)
        await ctx.tick()
        ctx.set(dut.params.we, 0)
        await ctx.tick()
        assert ctx.get(dut.param_error) == 1

    simulate(dut, bench, deadline_cycles=10)
