"""SAR back end on the generated Verilog: cocotb closed loop on Icarus and Verilator.

Each catalogue case runs every cocotb test of ``tb/benches/sar.py`` (full rate
with the period check; idle x backpressure crossed, with spurious starts)
with the case's analog front end. Every case cycles through all
``active_steps``. Lint and synthesis of ``sar.v`` are in tests/test_rtl.py.
"""

from __future__ import annotations

import pytest

from hw.sar import SAR
from tb.runner import SIMULATORS, run_bench
from tb.stimulus.catalogue import SAR_CASES
from tb.stimulus.pauses import PATTERNS

CONVERSIONS = {"default256": 12}
DEFAULT_CONVERSIONS = 24

#: Icarus runs the 256-column SAR too slowly for CI (see docs/tile.md, "Simulation
#: speed"), so that case runs on Verilator only.
RUNS = [(sim, case) for case in SAR_CASES for sim in SIMULATORS]
RUNS.remove(("icarus", "default256"))


@pytest.mark.cocotb
@pytest.mark.parametrize("sim, case", RUNS)
def test_sar_closed_loop(sim, case, seed, build_dir):
    cfg, fe = SAR_CASES[case]
    conversions = CONVERSIONS.get(case, DEFAULT_CONVERSIONS)
    settings = {
        "config": cfg.to_dict(),
        "front_end": {**fe, "seed": seed},
        "conversions": conversions,
    }
    result, figures = run_bench(
        "sar", SAR(cfg), sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )
    crossed = {f"traffic_{i}_{b}" for i in PATTERNS for b in PATTERNS}
    assert {f["test"] for f in figures} == {"full_rate", *crossed}
    assert result.failed == 0 and result.tests == len(figures)
    for f in figures:
        assert f["conversions"] == f["conversion_checked"] == conversions, f
        assert f["conversion_mismatches"] == 0, f
