"""The integer analog front end and the tile bulk harness (DESIGN 10).

The integer front end (``model.analog.integer_frontend``) is checked against
independent formulas: a plain-Python per-decision comparator and hash, the
ideal quantiser, and the float front end where both must decide alike. The
tile harness (``tb.harness.tile``) runs the closed loop in RTL and is scored
bit-exact against the golden chain on Icarus and Verilator; a deliberately
wrong expectation must be reported by vector, column and stage.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.analog.integer_frontend import (
    COLUMN_ADD,
    COLUMN_MUL,
    FMIX_C1,
    FMIX_C2,
    NOISE_SD,
    STEP_KEY,
    IntegerFrontEnd,
)
from model.golden.tile import TileConfig
from model.nmpu import NMPUConfig
from model.sar import AnalogFrontEnd, SARConfig, ideal_codes, sar_convert
from tb.harness.tile import TileHarness
from tb.runner import run_bench
from tb.stimulus.catalogue import REDUNDANT_10
from tests.harness_failures import expect_one_named_mismatch

M = 0xFFFFFFFF


def py_fmix(h: int) -> int:
    """fmix32 written out again in plain Python (independent of the model's numpy version)."""
    h ^= h >> 16
    h = h * FMIX_C1 % (1 << 32)
    h ^= h >> 13
    h = h * FMIX_C2 % (1 << 32)
    return h ^ (h >> 16)


def py_decision(fe: IntegerFrontEnd, v: float, state: int, step: int, index: int, c: int) -> int:
    """One comparator decision from the documented formula, scalar Python integers only."""
    x = int(np.floor((min(max(v, -1.0), 1.0) + 1.0) * 2 ** (fe.out_width - 1 + fe.frac_bits)))
    d = sum(int(fe.weights[c, i]) for i in range(fe.steps) if state >> i & 1)
    key = py_fmix(py_fmix(index & M) ^ (fe.seed & M) ^ (step * STEP_KEY & M))
    h = py_fmix(key ^ py_fmix((c * COLUMN_MUL + COLUMN_ADD) & M))
    s = sum(h >> (8 * k) & 255 for k in range(4))
    noise = ((s - 510) * fe.noise_scale) >> 16
    return int(x + int(fe.offset[c]) + noise >= d)


def test_compare_matches_per_decision_formula_exhaustively(seed):
    """Every switch state of a 4-step, 3-column front end, many inputs and indices."""
    cfg = SARConfig(columns=3, steps=4, out_width=4)
    rng = np.random.default_rng(seed)
    fe = IntegerFrontEnd.from_analog(
        AnalogFrontEnd.sample(cfg, mismatch=0.1, offset=0.7, noise=0.8, seed=seed), frac_bits=3
    )
    assert fe.noise_scale > 0 and (fe.offset != 0).any()
    vs = np.concatenate([rng.uniform(-1.2, 1.2, 12), np.linspace(-1, 1, 17)])
    for v, state, index in itertools.product(vs, range(1, 16), (0, 7, 2**32 + 5)):
        step = state.bit_length() - 1
        got = fe.compare(np.full(3, v), np.full(3, state), step, index)
        want = [py_decision(fe, v, state, step, index, c) for c in range(3)]
        assert list(got) == want, f"v={v} state={state:04b} index={index}: {got} != {want}"


def test_ideal_integer_front_end_is_the_ideal_quantiser():
    """Nominal binary weights, no offset/noise: every code of a fine input grid is ideal."""
    cfg = SARConfig(columns=4, steps=6, out_width=6)
    fe = IntegerFrontEnd.ideal(cfg, frac_bits=4)
    v = np.linspace(-1.1, 1.1, 4 * 4001).reshape(-1, 4)
    codes, _ = sar_convert(cfg, fe, v)
    np.testing.assert_array_equal(codes, ideal_codes(cfg, v))


@pytest.mark.parametrize("weights", [None, REDUNDANT_10])
def test_equals_float_front_end_on_the_fine_grid(weights, seed):
    """Weights and offsets on the 2**-F grid, no noise: integer and float decide alike."""
    steps = 8 if weights is None else len(weights)
    cfg = SARConfig(columns=5, steps=steps, weights=weights, out_width=8)
    rng = np.random.default_rng(seed)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=0.6, seed=seed)
    F = 6
    snapped = AnalogFrontEnd(
        np.round(fe.weights * 2**F) / 2**F, np.round(fe.offset * 2**F) / 2**F, out_width=8
    )
    ife = IntegerFrontEnd.from_analog(snapped, frac_bits=F)
    v = rng.uniform(-1.05, 1.05, (3000, 5))
    v[::3] = np.round(v[::3] * 2**13) / 2**13  # inputs on the grid: ties
    a = sar_convert(cfg, snapped, v)
    b = sar_convert(cfg, ife, v)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_noise_has_the_requested_rms_and_zero_mean(seed):
    fe = IntegerFrontEnd.from_analog(
        AnalogFrontEnd.sample(SARConfig(columns=64), noise=0.5, seed=seed), frac_bits=8
    )
    n = fe.noise(np.arange(2000), 3) / 256.0  # LSB
    assert abs(n.std() - 0.5) < 0.01, n.std()
    assert abs(n.mean()) < 0.01, n.mean()
    assert abs(fe.noise_rms - 0.5) < 1e-3
    # Draws depend on (index, step), not on how calls are batched.
    np.testing.assert_array_equal(
        fe.noise(np.arange(10, 20), 3), fe.noise(np.arange(2000), 3)[10:20]
    )
    assert not np.array_equal(fe.noise(np.arange(10), 2), fe.noise(np.arange(10), 3))
    assert NOISE_SD > 147


def test_rejects_what_it_cannot_model():
    fe = AnalogFrontEnd.sample(SARConfig(columns=4), gain=0.1, seed=1)
    with pytest.raises(ValueError, match="gain error"):
        IntegerFrontEnd.from_analog(fe)
    with pytest.raises(ValueError, match="weights must be integers"):
        IntegerFrontEnd(np.ones((4, 8)), np.zeros(4, np.int64))


# ------------------------------------------------------------------- tile harness (RTL)
SMALL = TileConfig(
    SARConfig(columns=16),
    NMPUConfig(columns=16, lanes=4, phases=2, phase_shifts=(1, 0)),
)
FRONT_END = {"mismatch": 0.03, "offset": 0.4, "noise": 0.3, "seed": 3}


def run_small(sim, seed, build_dir, vectors, **extra):
    harness = TileHarness(SMALL, stim_depth=64, out_depth=SMALL.nmpu.beats * 64, frac_bits=8)
    settings = {
        "config": SMALL.to_dict(),
        "stim_depth": 64,
        "out_depth": harness.out_depth,
        "frac_bits": 8,
        "stim_conversions": 48,
        "vectors": vectors,
        "write_rate": 16,
        "front_end": FRONT_END,
        **extra,
    }
    return run_bench(
        "tile_harness", harness, sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )


@pytest.mark.cocotb
@pytest.mark.parametrize("sim, vectors", [("icarus", 40), ("verilator", 2000)])
def test_tile_harness_bit_exact(sim, vectors, seed, build_dir):
    """Closed loop in RTL, all 9 idle x backpressure pairs, random parameter writes and
    active_steps: every ADC code, decision and activation as the golden chain."""
    result, figures = run_small(sim, seed, build_dir, vectors)
    assert result.failed == 0 and len(figures) == 9, figures
    for f in figures:
        assert f["mismatches"] == 0, f
        assert f["beats_out"] == vectors * SMALL.nmpu.beats, f
        assert f["param_writes"] > 0, f
    rate = sum(f["conversions"] for f in figures) / sum(f["seconds"] for f in figures)
    print(f"tile 16x4 harness on {sim}: {9 * vectors * SMALL.phases} conversions, {rate:,.0f}/s")


@pytest.mark.cocotb
@pytest.mark.parametrize("stage", ["activation", "adc code"])
def test_tile_harness_reports_a_wrong_expectation(stage, seed, build_dir):
    """A deliberately wrong expected value fails the run, named by vector, column and stage."""
    corrupt = {"vector": 37, "column": 5, "stage": stage}
    # Icarus: the failure path is the same on both simulators and Icarus builds in seconds.
    expect_one_named_mismatch(
        lambda: run_small(
            "icarus", seed, build_dir, 40, corrupt=corrupt, pairs=[["random", "bursty"]]
        ),
        build_dir,
        f"vector 37 column 5 stage {stage}",
    )
