"""SAR back end on the generated Verilog: cocotb closed loop on Icarus and Verilator.

Each catalogue case runs every cocotb test of ``tb/benches/sar.py`` (full rate
with the period check; idle x backpressure crossed, with spurious starts)
with the case's analog front end. Every case cycles through all
``active_steps``. Lint and synthesis of ``sar.v`` are in tests/test_rtl.py.
"""

from __future__ import annotations

import pytest

from hw.sar import SAR
from tb.runner import run_bench_on_every_simulator, simulator_disagreements
from tb.stimulus.catalogue import SAR_CASES
from tb.stimulus.pauses import PATTERNS

#: The 256-column case runs fewer conversions: Icarus evaluates it slowly (docs/tile.md,
#: "Simulation speed"); the SAR harness (tests/test_sar_harness.py) checks it in bulk.
CONVERSIONS = {"default256": 4}
DEFAULT_CONVERSIONS = 24


@pytest.mark.cocotb
@pytest.mark.parametrize("case", list(SAR_CASES))
def test_sar_closed_loop(case, seed, build_dir):
    """The same Verilog on Icarus and on Verilator: each matches the model conversion by
    conversion, and the two converted the same codes."""
    cfg, fe = SAR_CASES[case]
    conversions = CONVERSIONS.get(case, DEFAULT_CONVERSIONS)
    settings = {
        "config": cfg.to_dict(),
        "front_end": {**fe, "seed": seed},
        "conversions": conversions,
    }
    runs = run_bench_on_every_simulator(
        "sar", SAR(cfg), build_dir=build_dir, seed=seed, settings=settings
    )
    crossed = {f"traffic_{i}_{b}" for i in PATTERNS for b in PATTERNS}
    for result, figures in runs.values():
        assert {f["test"] for f in figures} == {"full_rate", *crossed}
        assert result.failed == 0 and result.tests == len(figures)
        for f in figures:
            assert f["conversions"] == f["conversion_checked"] == conversions, f
            assert f["conversion_mismatches"] == 0, f
    assert not simulator_disagreements({sim: figs for sim, (_, figs) in runs.items()})
