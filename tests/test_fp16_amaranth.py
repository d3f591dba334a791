"""Fast tier: the binary16 operators and the FP16 unit in Amaranth's simulator, against
``model.golden.fp16`` (which ``tests/test_fp16_model.py`` checks against numpy and APyTypes).

The operators are combinational, so one simulated step checks ``LANES`` operand pairs
through ``LANES`` copies of each operator side by side (``tb.harness.fp16_ops``).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.fp16.unit import FP16Unit
from model.fp16 import fp16_unit
from model.nmpu import NMPUConfig
from tb.harness.fp16_ops import OUTPUTS, OperatorBank, first_mismatch, pack_lanes, unpack_lanes
from tb.pysim.testbench import PysimParamWriter, simulate, stream_get, stream_put, wait_until, watch
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

LANES = 16


def run_operators(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Every operator's outputs for operand pairs ``a``, ``b`` (length a multiple of LANES)."""
    dut = OperatorBank(LANES)
    got: dict[str, list] = {n: [] for n in OUTPUTS}

    async def bench(ctx):
        for k in range(0, a.size, LANES):
            ctx.set(dut.a, pack_lanes(a[k : k + LANES], 16))
            ctx.set(dut.b, pack_lanes(b[k : k + LANES], 16))
            for n, (bits, signed) in OUTPUTS.items():
                got[n].append(unpack_lanes(ctx.get(getattr(dut, n)), bits, LANES, signed))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return {n: np.concatenate(v) for n, v in got.items()}


def test_operators_every_class_pair():
    """All pairs of the special patterns (zeros, subnormals, normals, max, inf, NaN). The
    sweeps over every pattern and random pairs run on Icarus and Verilator
    (tests/test_fp16_ops_cocotb.py): Amaranth's simulator took 4 minutes for them."""
    a, b = (g.ravel() for g in np.meshgrid(SPECIAL_PATTERNS, SPECIAL_PATTERNS))
    pad = (-a.size) % LANES
    a, b = np.concatenate([a, a[:pad]]), np.concatenate([b, b[:pad]])
    error = first_mismatch(a, b, run_operators(a, b))
    assert error is None, error


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
    writer = PysimParamWriter(FP16PortView(cfg), raw_params(params), rng, probability=write_rate)
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
            fp16_unit(cfg, codes[v : v + 1], **float16_params(writer.in_force[v]))
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
