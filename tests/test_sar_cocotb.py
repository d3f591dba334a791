"""SAR back end on the generated Verilog: cocotb closed loop on Icarus and Verilator.

Each case writes ``hw.sar.SAR(cfg)`` as Verilog into its own build folder and
runs ``tb.sar_tb`` (both its tests: full rate, and random gaps/backpressure)
with the case's front end. Every case cycles through all ``active_steps``.
Lint and synthesis of ``sar.v`` are in tests/test_rtl.py with the other blocks.
"""

from __future__ import annotations

import json

import pytest

from hw.sar import SAR
from hw.verilog import to_verilog
from model.sar import SARConfig
from tb.runner import run_cocotb

REDUNDANT_10 = (112, 64, 36, 20, 12, 6, 4, 2, 1, 1)

CASES = {
    "ideal_binary": (SARConfig(columns=32), {}, 60),
    "mismatch_noise": (
        SARConfig(columns=32),
        {"mismatch": 0.03, "offset": 0.5, "noise": 0.3},
        60,
    ),
    "redundant10": (
        SARConfig(columns=16, steps=10, weights=REDUNDANT_10),
        {"mismatch": 0.03, "offset": 0.5, "noise": 0.3},
        60,
    ),
    "default256": (SARConfig(), {"mismatch": 0.02, "offset": 0.5, "noise": 0.3}, 16),
}


def write_verilog(cfg: SARConfig, build_dir) -> str:
    path = build_dir / "sar.v"
    path.write_text(to_verilog(SAR(cfg), "sar"))
    return path


#: Icarus 11 runs wide SAR netlists very slowly: about 600 clocks/s at 32 columns
#: but 1-2 clocks/s at 256 (Verilator: ~4,000), so the 256-column case runs on
#: Verilator only. See docs/tile.md, "Simulation speed".
RUNS = [(sim, case) for case in CASES for sim in ("icarus", "verilator")]
RUNS.remove(("icarus", "default256"))


@pytest.mark.cocotb
@pytest.mark.parametrize("sim, case", RUNS)
def test_sar_closed_loop(sim, case, seed, build_dir):
    cfg, fe, conversions = CASES[case]
    src = write_verilog(cfg, build_dir)
    stats_file = build_dir / "sar_stats.json"
    stats_file.unlink(missing_ok=True)
    params = {
        "cfg": cfg.to_dict(),
        "fe": {**fe, "seed": seed},
        "conversions": conversions,
        "ready_p": 0.6,
        "gap_max": 3,
        "stats_file": str(stats_file),
    }
    result = run_cocotb(
        sim=sim,
        sources=[src],
        toplevel="sar",
        test_module="tb.sar_tb",
        build_dir=build_dir,
        seed=seed,
        extra_env={"SAR_TB_CONFIG": json.dumps(params)},
    )
    assert result.tests == 2 and result.failed == 0
    stats = json.loads(stats_file.read_text())
    assert [s["conversions"] for s in stats] == [conversions, conversions]
    for s in stats:
        print(
            f"{sim} {case} full_rate={s['full_rate']}: {s['conversions_per_s']:.0f} conv/s, "
            f"{s['clocks_per_s']:.0f} clk/s"
        )
