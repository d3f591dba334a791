"""Build a component's Verilog and run its cocotb bench: the one entry point of pytest,
``make sim`` and ``make bench``.

``run_bench`` writes the component with ``hw.verilog.to_verilog`` (the same
writer as ``make rtl``; a harness gets its bench-only memory dump added),
passes ``settings`` to the bench as ``$TB_SETTINGS``, and returns the run
result with the figures each cocotb test reported.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.lib import wiring

from hw.verilog import to_verilog, write_if_changed
from tb.bench import SETTINGS_ENV
from tb.harness import add_memory_dump
from tb.runner import RunResult, run_cocotb

#: Bench name -> (Verilog top-level name, cocotb test module).
BENCHES = {
    "nmpu": ("nmpu", "tb.nmpu_tb"),
    "sar": ("sar", "tb.sar_tb"),
    "tile": ("tile", "tb.tile_tb"),
    "nmpu_harness": ("nmpu_harness", "tb.harness_tb"),
    "tile_harness": ("tile_harness", "tb.tile_harness_tb"),
    "sar_harness": ("sar_harness", "tb.sar_harness_tb"),
}


def run_bench(
    bench: str,
    component: wiring.Component,
    *,
    sim: str,
    build_dir: Path,
    seed: int,
    settings: dict,
    testcase: str | None = None,
    waves: bool = False,
) -> tuple[RunResult, list[dict]]:
    """Run bench ``bench`` on ``component``'s Verilog with ``sim``; returns (result, figures).

    ``waves``: record a waveform (``result.waves`` is its path).
    """
    toplevel, module = BENCHES[bench]
    build_dir = Path(build_dir)
    text = to_verilog(component, toplevel)
    if getattr(component, "dumped", ()):  # a harness: the memories its bench reads back
        text = add_memory_dump(text, toplevel, component.dumped)
    verilog = write_if_changed(build_dir / f"{toplevel}.v", text)
    summary = (build_dir / "summary.jsonl").resolve()
    summary.unlink(missing_ok=True)
    result = run_cocotb(
        sim=sim,
        sources=[verilog],
        toplevel=toplevel,
        test_module=module,
        build_dir=build_dir / sim,
        seed=seed,
        extra_env={SETTINGS_ENV: json.dumps({**settings, "summary": str(summary)})},
        testcase=testcase,
        waves=waves,
        vpi_public=component.vpi_public(toplevel) if hasattr(component, "vpi_public") else None,
    )
    figures = [json.loads(line) for line in summary.read_text().splitlines()]
    return result, figures


def run_tile_capture(
    capture: Path,
    *,
    sim: str,
    build_dir: Path,
    seed: int,
    front_end: dict | None = None,
    active_steps: int | None = None,
    idle: str = "none",
    backpressure: str = "none",
    unit: str = "fixed",
    waves: bool = False,
):
    """Run one capture through the tile bench; returns (result, figures, hardware activations).

    ``front_end``: ``AnalogFrontEnd.sample`` settings (``{}`` or None: ideal).
    ``unit``: the tile's post-processing unit, ``"fixed"`` (the NMPU, the capture's
    parameters) or ``"fp16"`` (the FP16 baseline, the capture's calibration rounded to
    binary16 by ``model.golden.fp16.fp16_params_from_fixed``).
    """
    import numpy as np

    from hw.tile import TilePeriphery
    from model.flow.capture import load

    build_dir = Path(build_dir)
    hw_out = (build_dir / "hw_out.npy").resolve()
    hw_out.unlink(missing_ok=True)
    settings = {
        "capture": str(Path(capture).resolve()),
        "front_end": front_end or {},
        "active_steps": active_steps,
        "idle": idle,
        "backpressure": backpressure,
        "hw_out": str(hw_out),
        "unit": unit,
    }
    component = TilePeriphery(load(capture).tile_config, unit=unit)
    result, figures = run_bench(
        "tile", component, sim=sim, build_dir=build_dir, seed=seed, settings=settings, waves=waves
    )
    return result, figures[0], np.load(hw_out)
