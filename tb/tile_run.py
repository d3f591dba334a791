"""Generate the tile periphery's Verilog for a capture's configs and run tb.tile_tb on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hw.tile import TilePeriphery
from hw.verilog import write_verilog
from model.capture import load
from model.nmpu import NMPUConfig
from model.sar import SARConfig
from tb.runner import RunResult, run_cocotb


def run_tile_tb(
    *,
    sim: str,
    capture: Path,
    build_dir: Path,
    seed: int,
    front_end: dict | None = None,
    active_steps: int | None = None,
    idle: float = 0.0,
    backpressure: float = 0.0,
) -> tuple[RunResult, dict, np.ndarray]:
    """Run one capture through the tile on ``sim``; returns (run, figures, hardware outputs)."""
    cap = load(capture)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    verilog = build_dir / "tile.v"
    tile = TilePeriphery(SARConfig.from_dict(cap.sar_config), NMPUConfig.from_dict(cap.nmpu_config))
    write_verilog(tile, "tile", verilog)
    summary, hw_out = build_dir / "summary.json", build_dir / "hw_out.npy"
    for p in (summary, hw_out):
        p.unlink(missing_ok=True)
    settings = {
        "capture": str(Path(capture).resolve()),
        "front_end": front_end,
        "active_steps": active_steps,
        "idle": idle,
        "backpressure": backpressure,
        "summary": str(summary.resolve()),
        "hw_out": str(hw_out.resolve()),
    }
    result = run_cocotb(
        sim=sim,
        sources=[verilog],
        toplevel="tile",
        test_module="tb.tile_tb",
        build_dir=build_dir / sim,
        seed=seed,
        extra_env={"TILE_TB": json.dumps(settings)},
    )
    return result, json.loads(summary.read_text()), np.load(hw_out)
