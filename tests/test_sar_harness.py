"""The SAR bulk harness (DESIGN 10) and the RTL integer comparator it shares with the tile.

``tb.harness.comparator.IntegerComparator`` is checked decision by decision
against ``model.analog.integer_frontend.IntegerFrontEnd.compare`` in Amaranth's
simulator (ties, inputs at both ends of the range, noise keys beyond 2**32).
The SAR harness (``tb.harness.sar``) runs the closed loop in RTL with seeded
idle before each start and backpressure on the SAR's output stream, and is
scored bit-exact (codes and decisions) against ``sar_convert`` on Icarus and
Verilator over the 9 idle x backpressure pairs; a deliberately wrong
expectation must fail the run and be named by conversion, column and stage.
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable

from model.analog.integer_frontend import IntegerFrontEnd
from model.sar import AnalogFrontEnd, SARConfig
from tb.harness.comparator import IntegerComparator
from tb.harness.sar import SARHarness
from tb.pysim.testbench import simulate
from tb.runner import run_bench
from tb.stimulus.catalogue import REDUNDANT_10
from tb.stimulus.pauses import PATTERNS
from tb.stream.payload import Codec
from tests.harness_failures import expect_one_named_mismatch

FRONT_END = {"mismatch": 0.03, "offset": 0.4, "noise": 0.3, "seed": 3}


# ------------------------------------------------------- the comparator, Amaranth simulator
def test_integer_comparator_decides_as_the_model(seed):
    """Every decision of the RTL comparator equals ``IntegerFrontEnd.compare``: random
    trial states of every step, inputs at and beyond both ends, exact ties, keys past 2**32."""
    cfg = SARConfig(columns=5, steps=10, weights=REDUNDANT_10, out_width=8)
    rng = np.random.default_rng(seed)
    fe = IntegerFrontEnd.from_analog(
        AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=0.5, noise=0.5, seed=seed), 8
    )
    dut = IntegerComparator(cfg, frac_bits=8)
    fmt = dut.format
    col_codec = Codec(fmt.column)
    words = [
        col_codec.pack(weights=fe.weights[c], offset=int(fe.offset[c]) + fmt.offset_bias)
        for c in range(cfg.columns)
    ]
    scale = 1 << (fe.out_width - 1 + fe.frac_bits)
    trials, ties, seen = 300, [0], []

    async def bench(ctx):
        noise_bias, rhs_bias = fmt.biases(fe.noise_scale)
        for name, value in (
            ("noise_seed", fe.seed & 0xFFFFFFFF),
            ("noise_scale", fe.noise_scale),
            ("noise_bias", noise_bias),
            ("rhs_bias", rhs_bias),
        ):
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        while not ctx.get(dut.ready):  # the memory the harness holds, read at fe_addr
            ctx.set(dut.fe_data.as_value(), words[ctx.get(dut.fe_addr)])
            await ctx.tick()
        for t in range(trials):
            step = int(rng.integers(0, cfg.steps))
            states = rng.integers(0, 1 << step, cfg.columns) | (1 << step)  # kept bits below
            index = int(rng.integers(0, 1 << 32)) if t % 2 else (1 << 32) - 1 - t
            x = rng.integers(0, 2 * scale + 1, cfg.columns)
            x[rng.random(cfg.columns) < 0.2] = 0
            x[rng.random(cfg.columns) < 0.2] = 2 * scale
            on = rng.random(cfg.columns) < 0.4  # exactly on the threshold, noise included
            tie = fe.dac_level(states) - fe.offset - fe.noise(index, step)
            on &= (tie >= 0) & (tie <= 2 * scale)
            x[on] = tie[on]
            ctx.set(dut.x, [int(v) for v in x])
            ctx.set(dut.index, index)
            ctx.set(dut.sample, 1)
            await ctx.tick()
            ctx.set(dut.sample, 0)
            ctx.set(dut.dac, [int(s) for s in states])
            got = ctx.get(dut.cmp)
            v = x / scale - 1.0  # exact: held_input(v) == x
            want = fe.compare(v, states, step, index)
            ties[0] += int(on.sum())
            seen.append((t, step, index, states, x, got, want))

    simulate(dut, bench, deadline_cycles=10 * trials + 100)
    assert len(seen) == trials
    for t, step, index, states, x, got, want in seen:
        got_bits = [got >> c & 1 for c in range(cfg.columns)]
        assert got_bits == list(want), (
            f"trial {t} step {step} index {index} states {states} X {x}: "
            f"RTL {got_bits}, model {list(want)}"
        )
    assert ties[0] > trials // 2, f"only {ties[0]} exact ties"


def test_harness_rejects_bad_parameters():
    """Bad sizes, configs and ``frac_bits`` fail at construction, naming the parameter."""
    cfg = SARConfig(columns=4)
    cases = [
        (ValueError, "SARHarness.stim_depth", {"stim_depth": 0}),
        (ValueError, "SARHarness.out_depth", {"out_depth": 2.5}),
        (ValueError, "frac_bits", {"frac_bits": -1}),
    ]
    # A Component whose constructor raised is never elaborated: Amaranth would warn.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        for error, match, bad in cases:
            with pytest.raises(error, match=match):
                SARHarness(cfg, **{"stim_depth": 8, "out_depth": 8, **bad})
        with pytest.raises(TypeError, match="SARConfig"):
            SARHarness({"columns": 4}, stim_depth=8, out_depth=8)
        gc.collect()


# ----------------------------------------------------------------- the harness (cocotb)
#: Simulator -> (config, conversions per pattern pair, stim slots, out_depth). Icarus:
#: binary weights; Verilator: redundant weights (saturating correction), more columns.
RUNS = {
    "icarus": (SARConfig(columns=16), 150, 100, 64),
    "verilator": (SARConfig(columns=32, steps=10, weights=REDUNDANT_10), 20_000, 500, 1024),
}


def run_sar(sim, seed, build_dir, conversions=None, **extra):
    cfg, default_conversions, stim_n, out_depth = RUNS[sim]
    stim_depth = 1 << (stim_n - 1).bit_length()
    harness = SARHarness(cfg, stim_depth=stim_depth, out_depth=out_depth, frac_bits=8)
    settings = {
        "config": cfg.to_dict(),
        "stim_depth": stim_depth,
        "out_depth": out_depth,
        "frac_bits": 8,
        "stim_conversions": stim_n,
        "conversions": conversions or default_conversions,
        "front_end": FRONT_END,
        **extra,
    }
    return run_bench(
        "sar_harness", harness, sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_sar_harness_bit_exact(sim, seed, build_dir):
    """Closed loop in RTL, all 9 idle x backpressure pairs, random active_steps, inputs
    beyond full scale and exact ties: every code and decision as ``sar_convert``; full
    rate when nothing pauses, slower when something does."""
    result, figures = run_sar(sim, seed, build_dir)
    conversions = RUNS[sim][1]
    assert result.failed == 0 and len(figures) == len(PATTERNS) ** 2, figures
    by_pair = {f["test"]: f for f in figures}
    for f in figures:
        assert f["mismatches"] == 0, f
        assert f["conversions"] == conversions, f
        assert f["ties"] > 0 and f["beyond_full_scale"] > 0, f
    plain = by_pair["bulk_none_none"]
    # Nothing pauses: the SAR's start-to-start period, plus a few cycles per chunk read back.
    assert plain["cycles"] <= plain["full_rate_cycles"] + 6 * plain["chunks"] + 8, plain
    for f in figures:
        if f is not plain:
            assert f["cycles"] > plain["full_rate_cycles"], f
    rate = sum(f["conversions"] for f in figures) / sum(f["seconds"] for f in figures)
    print(f"SAR {RUNS[sim][0].columns} columns on {sim}: {9 * conversions} conversions, "
          f"{rate:,.0f}/s, {sum(f['ties'] for f in figures)} ties")  # fmt: skip


@pytest.mark.cocotb
@pytest.mark.parametrize("stage", ["code", "decision step 2"])
def test_sar_harness_reports_a_wrong_expectation(stage, seed, build_dir):
    """A deliberately wrong expected value fails the run, named by conversion, column, stage."""
    corrupt = {"conversion": 37, "column": 5, "stage": stage}
    # Icarus: the failure path is the same on both simulators and Icarus builds in seconds.
    expect_one_named_mismatch(
        lambda: run_sar(
            "icarus", seed, build_dir, 60, corrupt=corrupt, pairs=[["random", "bursty"]]
        ),
        build_dir,
        f"conversion 37 column 5 stage {stage}:",
    )
