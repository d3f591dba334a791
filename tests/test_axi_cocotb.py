"""Slow tier: the AXI-wrapped NMPU (``hw.axi.nmpu_axi``) on Icarus and Verilator, driven by
cocotbext-axi and scored by the golden model (``tb/benches/axi.py``).

One small configuration (8 columns, 2 lanes, two bit-sliced phases), one build per
simulator, every cocotb test of the bench in that one run: idle x backpressure with
parameter writes between vectors and read-back, writes during vectors, read-back during
vectors, full rate, tlast
early and late, flush and busy, and the register map (every register and field at its
address with its access type, SLVERR everywhere else, wstrb, AW/W order). Then the AXI
tile on the first vectors of ``make sim``'s default capture, in closed loop with a sampled
ADC front end (Icarus only: see the test).
"""

from __future__ import annotations

import pytest

from hw.axi.nmpu_axi import NMPUAxi
from hw.axi.tile_axi import TileAxi
from model.capture import load
from model.nmpu import NMPUConfig
from tb.runner import REPO, run_bench, run_bench_on_every_simulator, simulator_disagreements

CONFIG = NMPUConfig(columns=8, lanes=2, phases=2, phase_shifts=(4, 0), in_width=4, in_signed=False)
PATTERNS = ("none", "random", "bursty")
TESTS = {
    *(f"traffic_{i}_{b}" for i in PATTERNS for b in PATTERNS),
    "full_rate",
    "writes_during_vectors",
    "reads_during_vectors",
    "framing",
    "flush_and_busy",
    "register_map",
}


@pytest.mark.cocotb
def test_axi_wrapper_matches_model(seed, build_dir):
    runs = run_bench_on_every_simulator(
        "nmpu_axi", NMPUAxi(CONFIG), build_dir=build_dir, seed=seed,
        settings={"config": CONFIG.to_dict(), "vectors": 6},
    )  # fmt: skip
    for sim, (result, figures) in runs.items():
        assert result.failed == 0 and {f["test"] for f in figures} == TESTS, (sim, figures)
        assert result.tests == len(TESTS)
        by = {f["test"]: f for f in figures}
        assert all(by[f"traffic_{i}_{b}"]["checked"] == 12 * CONFIG.columns
                   for i in PATTERNS for b in PATTERNS)  # fmt: skip
        assert by["traffic_random_random"]["hold_checks"] > 0, "no stall was ever checked"
        assert by["full_rate"]["cycles"] == by["full_rate"]["beats"]
        assert by["reads_during_vectors"]["stalled"] > 0, by["reads_during_vectors"]
        print(f"{sim}: {result.tests} cocotb tests, build {result.build_seconds:.1f} s, "
              f"run {result.test_seconds:.1f} s; register_map {by['register_map']}")  # fmt: skip
    assert not simulator_disagreements({sim: figs for sim, (_, figs) in runs.items()})


@pytest.mark.cocotb
def test_axi_tile_runs_the_capture(seed, build_dir):
    capture = REPO / "captures" / "builtin_digits.npz"
    settings = {
        "capture": str(capture), "vectors": 8, "idle": "random", "backpressure": "random",
        "front_end": {"mismatch": 0.02, "offset": 0.5, "noise": 0.2, "seed": seed},
    }  # fmt: skip
    # Icarus only: a Verilator build of the 32-column tile costs 20-30 s of the test budget;
    # the wrapper's logic is the NMPU wrapper's, which runs on both simulators above.
    result, figures = run_bench(
        "tile_axi", TileAxi(load(capture).tile_config), sim="icarus", build_dir=build_dir,
        seed=seed, settings=settings,
    )  # fmt: skip
    assert result.failed == 0 and result.tests == 1
    assert figures[0]["vectors"] == 8 and figures[0]["columns"] == 32, figures
    print(f"icarus: run {result.test_seconds:.1f} s, {figures[0]}")
