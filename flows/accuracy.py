"""The accuracy table of ``tools.accuracy``: the golden chain's units on captures
(``model.flow.accuracy``), optionally with both tiles' RTL on the same vectors.

Why here: ``rtl=SIM`` runs the fixed-point and the FP16 tile's RTL
(``tb.runner.run_tile_capture``) and reports their mismatches and accuracy, checking
that the RTL's activations equal the golden chain's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flows import REPO
from model.capture import Capture, load
from model.flow.accuracy import accuracy, chain_outputs, evaluate

#: The table's header lines.
HEADER = (
    "| capture | vectors | float | FP16 unit | fixed-point NMPU | fixed - FP16 "
    "| RMS err FP16 / fixed (LSB) | RTL |",
    "|---|---|---|---|---|---|---|---|",
)


def rtl_notes(cap: Capture, outs: dict[str, np.ndarray], sim: str, seed: int) -> str:
    """Both tiles' RTL on ``cap``: mismatches and accuracy per unit, and whether the RTL's
    activations differ from the golden chain's ``outs``."""
    from tb.runner import run_tile_capture

    path = Path(cap.path)
    notes = []
    for unit in ("fixed", "fp16"):
        build = REPO / "build" / "accuracy" / f"{path.stem}_{unit}"
        _, fig, hw = run_tile_capture(
            path, sim=sim, build_dir=build, seed=seed,
            front_end=cap.provenance.get("adc_front_end") or {}, unit=unit,
            tile_config=cap.tile_config,
        )  # fmt: skip
        bad = fig["adc_mismatches"] + fig["activation_mismatches"]
        same = np.array_equal(hw, outs[unit])
        notes.append(
            f"{unit}: {bad} mismatches, acc {100 * accuracy(cap, hw):.2f} %"
            + ("" if same else " (differs from model!)")
        )
    return f"{sim}: " + "; ".join(notes)


def table_row(path: Path, rtl: str | None = None, seed: int = 1) -> str:
    """One capture's row of the table (``rtl``: also run the RTL on that simulator)."""
    cap = load(path)
    outs = chain_outputs(cap)
    rows = evaluate(cap, outs)
    notes = rtl_notes(cap, outs, rtl, seed) if rtl else "not run"
    f, h, x = (100 * rows[k]["accuracy"] for k in ("float", "fp16", "fixed"))
    return (
        f"| {Path(path).name} | {cap.vectors} | {f:.2f} % | {h:.2f} % | {x:.2f} % | "
        f"{x - h:+.2f} pt | {rows['fp16']['rms_lsb']:.3f} / {rows['fixed']['rms_lsb']:.3f} "
        f"| {notes} |"
    )
