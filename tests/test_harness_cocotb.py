"""Bulk regressions through the NMPU harness (DESIGN 10): Python out of the clock loop.

Every ``make test`` checks at least 10**6 output beats on Verilator and
10**5 on Icarus across the shared catalogue, each configuration crossing
idle x backpressure ({none, random, bursty} from the harness's LFSRs) with
random parameter writes, 0 mismatches. The per-clock benches
(tests/test_nmpu_cocotb.py) keep the protocol corner cases.
"""

from __future__ import annotations

import pytest

from tb.harness.nmpu import NMPUHarness
from tb.runner import run_bench
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.pauses import PATTERNS

#: (simulator, catalogue name) -> output beats to check (split over the 9 pattern pairs).
RUNS = {
    ("verilator", "paper_default"): 360_000,
    ("verilator", "lanes1_trunc"): 108_000,
    ("verilator", "lanes_eq_columns_half_even"): 108_000,
    ("verilator", "phases4_relu_clip"): 108_000,
    ("verilator", "bitsliced_4x2"): 108_000,
    ("verilator", "posneg_pair_no_activation"): 108_000,
    ("verilator", "no_batchnorm"): 108_000,
    ("verilator", "unsigned_input"): 108_000,
    ("icarus", "lanes1_trunc"): 54_000,
    ("icarus", "odd_columns_one_lane"): 54_000,
    ("icarus", "one_column"): 18_000,
    ("verilator", "one_column"): 18_000,
}
MIN_BEATS = {"verilator": 10**6, "icarus": 10**5}


def checked_vectors(sim: str, name: str) -> int:
    """Vectors per cocotb test: whole vectors, so the beats checked may round down."""
    return RUNS[sim, name] // (len(PATTERNS) ** 2 * NMPU_CONFIGS[name].beats)


def test_runs_reach_the_regression_targets():
    """The beats the runs below check (whole vectors per pattern pair) reach the targets."""
    for sim, target in MIN_BEATS.items():
        total = sum(
            len(PATTERNS) ** 2 * checked_vectors(s, name) * NMPU_CONFIGS[name].beats
            for s, name in RUNS
            if s == sim
        )
        assert total >= target, f"{sim}: {total} output beats < {target}"


@pytest.mark.cocotb
@pytest.mark.parametrize("sim, name", list(RUNS))
def test_nmpu_bulk_regression(sim, name, seed, build_dir):
    cfg = NMPU_CONFIGS[name]
    pairs = len(PATTERNS) ** 2
    vectors = checked_vectors(sim, name)
    stim_vectors = max(1, 2048 // (cfg.phases * cfg.beats))
    out_depth = cfg.beats * (4096 // cfg.beats)  # whole vectors per chunk
    harness = NMPUHarness(
        cfg, stim_depth=stim_vectors * cfg.phases * cfg.beats, out_depth=out_depth
    )
    settings = {
        "config": cfg.to_dict(),
        "stim_depth": harness.stim_depth,
        "out_depth": harness.out_depth,
        "stim_vectors": stim_vectors,
        "vectors": vectors,
        "write_rate": 8,
    }
    result, figures = run_bench(
        "nmpu_harness", harness, sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )
    assert result.failed == 0 and len(figures) == pairs
    for f in figures:
        assert f["mismatches"] == 0, f
        assert f["beats_out"] == vectors * cfg.beats, f
        assert f["param_writes"] > 0, f
    rate = sum(f["beats_in"] for f in figures) / sum(f["seconds"] for f in figures)
    print(f"{name} on {sim}: {pairs * vectors * cfg.beats} output beats, {rate:,.0f} in-beats/s")
