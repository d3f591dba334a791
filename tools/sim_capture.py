"""``make sim`` on a capture: the tile's RTL against the golden chain, plus what it means
for the network (error against the float reference, digits accuracy)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from model.flow import digits
from model.flow.capture import load
from tb.run import run_tile_capture

REPO = Path(__file__).resolve().parent.parent


def run_capture(
    sim: str, capture: Path, seed: int, front_end: dict | None = None, traffic: bool = True
) -> int:
    """Co-verify ``capture`` on ``sim``; print the figures; 0 iff no mismatch.

    ``front_end``: the ADC analog front end's ``AnalogFrontEnd.sample`` settings;
    ``None`` takes the one the capture was calibrated with, ``{}`` the ideal one.
    """
    t0 = time.perf_counter()
    cap = load(capture)
    if front_end is None:
        front_end = cap.provenance.get("adc_front_end") or {}
    build = REPO / "build" / "sim" / f"tile_{Path(capture).stem}"
    result, fig, hw_out = run_tile_capture(
        capture,
        sim=sim,
        build_dir=build,
        seed=seed,
        front_end=front_end,
        idle="random" if traffic else "none",
        backpressure="random" if traffic else "none",
    )
    wall = time.perf_counter() - t0
    mismatches = fig["adc_mismatches"] + fig["activation_mismatches"]

    # What the hardware's activations mean: error vs float, accuracy of the rest in float.
    err = hw_out.astype(np.float64) - cap.reference
    rms = float(np.sqrt(np.mean(err**2)))
    act_lsb = float(cap.scaling["act_lsb"])
    mlp = digits.get_mlp(hidden=cap.columns)
    prov = cap.provenance
    lines = [
        "== make sim: SAR ADC (closed loop) -> NMPU on captured activations ==",
        f"simulator          : {sim}",
        f"capture            : {capture}",
        f"  analog simulator : {prov.get('simulator')} {json.dumps(prov.get('simulator_version'))}",
        f"  network, layer   : {prov.get('network')}; {prov.get('layer')}",
        f"  noise            : {json.dumps(prov.get('noise'))}",
        f"  seed, command    : {prov.get('seed')}; {prov.get('command')}",
        f"ADC front end      : {json.dumps(front_end) if front_end else 'ideal'}"
        + (" (as calibrated)" if front_end == cap.provenance.get("adc_front_end") else ""),
        f"seed               : {seed}",
        f"vectors x columns  : {fig['vectors']} x {fig['columns']} "
        f"({fig['conversions']} conversions, {fig['adc_values_checked']} codes + decisions, "
        f"{fig['activation_values_checked']} activations + last flags checked)",
        f"mismatches         : {mismatches} (ADC codes or decisions {fig['adc_mismatches']}, "
        f"activations {fig['activation_mismatches']})",
        f"RMS error vs float : {rms:.3f} output LSB (max |err| {np.abs(err).max():.2f} LSB)",
    ]
    if cap.labels is not None:
        acc_float = digits.rest_accuracy(mlp, cap.reference * act_lsb, cap.labels)
        acc_hw = digits.rest_accuracy(mlp, hw_out * act_lsb, cap.labels)
        lines.append(
            f"digits accuracy    : {100 * acc_hw:.2f} % with the hardware's layer-1 activations, "
            f"{100 * acc_float:.2f} % with float layer 1 ({len(cap.labels)} vectors)"
        )
    lines += [
        f"speed              : {fig['cycles'] / fig['seconds']:.0f} clocks/s "
        f"({fig['conversions'] / fig['seconds']:.0f} conversions/s)",
        f"wall time          : {wall:.1f} s (build {result.build_seconds:.1f} s)",
        "RESULT             : " + ("PASS" if mismatches == 0 else "FAIL"),
    ]
    print("\n".join(lines))
    return 0 if mismatches == 0 and result.failed == 0 else 1
