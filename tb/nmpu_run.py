"""Generate the NMPU's Verilog for a config and run the cocotb testbench on it.

The one entry point that pytest, ``make sim`` and ``make bench`` share.
"""

from __future__ import annotations

import json
from pathlib import Path

from hw.nmpu import NMPU
from hw.verilog import write_verilog
from model.nmpu import NMPUConfig
from tb.runner import RunResult, run_cocotb


def write_nmpu_verilog(cfg: NMPUConfig, path: Path) -> NMPU:
    """Write ``cfg``'s NMPU as Verilog module ``nmpu`` to ``path``; returns the component."""
    dut = NMPU(cfg)
    write_verilog(dut, "nmpu", path)
    return dut


def run_nmpu_tb(
    *,
    sim: str,
    cfg: NMPUConfig,
    build_dir: Path,
    seed: int,
    vectors: int,
    testcase: str | None = None,
    repeats: int = 1,
) -> tuple[RunResult, list[dict]]:
    """Run tb.nmpu_tb on ``sim``; returns the run result and each cocotb test's figures.

    ``repeats`` > 1 makes the full-rate test stream that many fresh stimuli in the
    same simulation (one figure each), for benchmark medians.
    """
    build_dir = Path(build_dir)
    verilog = build_dir / "nmpu.v"
    dut = write_nmpu_verilog(cfg, verilog)
    summary = build_dir / "summary.jsonl"
    summary.unlink(missing_ok=True)
    settings = {
        "config": cfg.to_dict(),
        "vectors": vectors,
        "latency": dut.latency,
        "repeats": repeats,
        "summary": str(summary.resolve()),
    }
    result = run_cocotb(
        sim=sim,
        sources=[verilog],
        toplevel="nmpu",
        test_module="tb.nmpu_tb",
        build_dir=build_dir / sim,
        seed=seed,
        extra_env={"NMPU_TB": json.dumps(settings)},
        testcase=testcase,
    )
    figures = [json.loads(line) for line in summary.read_text().splitlines()]
    return result, figures
