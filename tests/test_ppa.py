"""A quick ``make ppa`` with the gate-level sign-off: the one-lane configuration of both units
through the OSU 0.18 um flow (Yosys, OpenSTA), gate-level simulation against the golden
model, and the secondary flows (generic CMOS, ECP5).

Yosys, the OSU 0.18 um cells and OpenSTA are located (or installed) the way the Makefile
does it (``tools/ensure_apt.sh``, which ``make test`` runs first); when that fails the test
fails with apt's message, since a sign-off that cannot run must not pass as skipped. The full
``make ppa`` (paper configuration) is a command, not a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flows.ppa import run_ppa, summary
from flows.stdcell import LIBERTY
from flows.synthesis import storage_bits
from model.nmpu import NMPUConfig

REPO = Path(__file__).resolve().parent.parent
FIELDS = (
    "function", "lanes", "columns", "pipeline_stages", "area_um2", "storage_um2", "cells",
    "flip_flops", "storage_bits", "fmax_mhz", "power_mw", "activity", "energy_pj_per_column",
    "cycles_per_vector", "gls_mismatches", "generic", "ecp5",
)  # fmt: skip
#: Vectors of the gate-level simulations (4 columns each): every output checked.
GLS_VECTORS = 16


@pytest.fixture(scope="module")
def tools():
    needed = (("yosys", "yosys"), (str(LIBERTY), "qflow-tech-osu018"), ("sta", "opensta"))
    args = [x for cmd, pkg in needed for x in (cmd, pkg, "make ppa and its gate-level test")]
    proc = subprocess.run(["bash", str(REPO / "tools/ensure_apt.sh"), *args], capture_output=True)
    assert proc.returncode == 0, (
        "the PPA tools are missing and could not be installed (run `make deps` or apt-get "
        f"install yosys qflow-tech-osu018 opensta): {proc.stderr.decode()[-500:]}"
    )
    return shutil.which("yosys")


def test_quick_ppa_report_with_gate_level_signoff(tools, build_dir, seed):
    returned, rows = run_ppa(
        build_dir, lane_only=True, sweep=False, folded=False, gls_vectors=GLS_VECTORS, seed=seed
    )
    printed = "\n".join(summary(returned, rows))
    print(printed)
    report = json.loads((build_dir / "ppa.json").read_text())
    assert report["library"] == "osu018_stdcells" and report["corner"] == "typical"
    assert (build_dir / "ppa.png").stat().st_size > 1000
    cfg = NMPUConfig(columns=4, lanes=1)
    for unit in ("fixed", "fp16"):
        u = report["units"][unit]
        assert set(FIELDS) <= set(u), sorted(set(FIELDS) - set(u))
        # Gate-level sign-off: the mapped netlist equals the golden model on every output.
        assert u["gls_mismatches"] == 0, (unit, u["gls"])
        # Every output beat's data (columns) and `last` flag.
        assert u["gls"]["values_checked"] == GLS_VECTORS * (cfg.columns + cfg.beats), u["gls"]
        assert u["activity"] == "gls"
        # The counters saw the stream: beats plus latency and drain, and nets that toggle.
        assert u["gls"]["clock_edges"] >= GLS_VECTORS * cfg.beats, u["gls"]
        assert 0.01 < u["gls"]["mean_activity"] < 1.0, u["gls"]
        # Area: datapath + parameter store; the store holds every parameter bit in flip-flops.
        assert u["area_um2"] == pytest.approx(u["logic_um2"] + u["storage_um2"], abs=1)
        assert u["storage_bits"] == storage_bits(unit, cfg)
        assert u["flip_flops"] > u["storage_bits"], u
        assert 1e4 < u["storage_um2"] < u["area_um2"] and u["logic_um2"] > 1e4, u
        assert u["cell_counts"]["DFFPOSX1"] == u["flip_flops"]
        # Timing and power in a plausible range for 0.18 um; simulated activity is counted.
        assert 10 < u["fmax_mhz"] < 500 and u["worst_path_ns"] == pytest.approx(
            1e3 / u["fmax_mhz"], rel=0.01
        )
        assert 0.1 < u["power_default_mw"] < 1000 and 0.1 < u["power_gls_mw"] < 1000, u
        assert u["power_mw"] == u["power_gls_mw"] != u["power_default_mw"]
        e = u["power_mw"] / u["fmax_mhz"] * 1e3 * u["cycles_per_vector"] / cfg.columns
        assert u["energy_pj_per_column"] == pytest.approx(e, rel=1e-3)
        assert u["cycles_per_vector"] == cfg.phases * cfg.beats
        assert u["pipeline_stages"] >= 3
        # Secondary flows: generic CMOS keeps the parameters in memories; ECP5 ran.
        g = u["generic"]
        assert g["memories"] == len(cfg.param_fields) and g["transistors"] > g["cells"] > 1000
        assert u["ecp5"]["lut4"] > 100 and u["ecp5"]["fmax_mhz"] > 5, u["ecp5"]
    r = report["ratios"]
    fixed, fp16 = report["units"]["fixed"], report["units"]["fp16"]
    assert r["area_fp16_over_fixed"] == pytest.approx(
        fp16["area_um2"] / fixed["area_um2"], abs=0.01
    )
    # Two binary16 multiply-adds against integer ones: larger and slower on one library.
    assert r["area_fp16_over_fixed"] > 1.0 and r["fmax_fixed_over_fp16"] > 1.0, r
    assert r["throughput_per_area_fixed_over_fp16"] > 1.0 and r["energy_fp16_over_fixed"] > 1.0
    assert set(r["generic"]) == {"area_fp16_over_fixed_datapath", "area_fp16_over_fixed_total"}
    assert "throughput_fixed_over_fp16_equal_area" not in json.dumps(report)  # no hybrid ratio
    # System level (extrapolated): FP16 at the NMPU's 64 lanes is the equal-lane ratio.
    system = {row["fp16_lanes"]: row for row in report["system"]}
    assert sorted(system) == [1, 4, 16, 64], system
    assert system[64]["throughput_ratio"] == pytest.approx(r["fmax_fixed_over_fp16"], abs=0.02)
    one_lane = system[1]["throughput_ratio"]
    assert one_lane == pytest.approx(64 * system[64]["throughput_ratio"], rel=0.01), system
    assert "paper 7.8x" in printed and "paper 139.0x" in printed, printed
    assert "EXTRAPOLATED" in printed and "0 mismatches" in printed


def test_paper_unit_is_one_multiply_add_at_the_sweeps_formats():
    """The folded unit ``make ppa`` compares: no batch-norm stage (one multiplier), no
    stage-1 cut, the format sweep's accuracy-neutral scale and offset, integer outputs,
    and everything else (columns, lanes, phases) as given."""
    from flows.ppa import PAPER_UNIT, paper_unit
    from model.flow.mnist1d_task import FORMAT_VARIANTS

    base = NMPUConfig(columns=16, lanes=4, phases=2, phase_shifts=(1, 0))
    cfg = paper_unit(base)
    assert not cfg.bn and cfg.param_fields == ("scale", "offset")
    assert (cfg.mid_lsb_cut, cfg.mid_round_bits, cfg.out_lsb_cut) == (0, 0, 0)
    for field, value in FORMAT_VARIANTS[PAPER_UNIT].items():
        assert str(getattr(cfg, field)) == str(value), (field, getattr(cfg, field), value)
    assert cfg.out_frac == 0 and cfg.out_round_bits == cfg.frac_y
    assert (cfg.columns, cfg.lanes, cfg.phases, cfg.phase_shifts) == (16, 4, 2, (1, 0))
