"""Accuracy of the float reference, the FP16 unit and the fixed-point NMPU on captures.

    .venv/bin/python -m tools.accuracy [--rtl verilator] [captures ...]

For each capture (default: both committed ones) the golden chain
(``model.golden.tile.tile``: SAR model with the front end the capture was calibrated
with, then the unit) runs on every captured vector, once with the NMPU and the capture's
parameters and once with the FP16 unit and the same calibration rounded to binary16
(``model.golden.fp16.fp16_params_from_fixed``). It prints the RMS error against the float
reference (output LSBs) and the digits accuracy of the rest of the network fed each
unit's activations. ``--rtl SIM`` also runs both tiles' RTL on the same vectors
(``tb.runner.run_tile_capture``) and reports its mismatches and accuracy.
:func:`evaluate` is what ``tools.ppa``'s format sweep reuses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import digits
from model.flow.capture import Capture, load
from model.golden.fp16 import fp16_params_from_fixed
from model.golden.tile import tile

REPO = Path(__file__).resolve().parent.parent
CAPTURES = (REPO / "captures" / "builtin_digits.npz", REPO / "captures" / "aihwkit_digits.npz")


def accuracy(cap: Capture, out) -> float:
    """Digits accuracy of the network after the captured layer fed ``out`` (output LSBs)."""
    acc = cap.accuracy(out) if hasattr(cap, "accuracy") else None
    if acc is None:
        mlp = digits.get_mlp(hidden=cap.columns)
        acc = digits.rest_accuracy(mlp, np.asarray(out, np.float64) * cap.scaling["act_lsb"],
                                   cap.labels)  # fmt: skip
    return float(acc)


def chain_outputs(cap: Capture, nmpu_cfg=None, params=None) -> dict[str, np.ndarray]:
    """Golden-chain activations of every vector: ``fixed`` and ``fp16`` (``nmpu_cfg`` /
    ``params`` replace the capture's, e.g. narrowed formats)."""
    cfg = cap.tile_config
    if nmpu_cfg is not None:
        cfg = type(cfg)(cfg.sar, nmpu_cfg)
    params = cap.params() if params is None else params
    fe = AnalogFrontEnd.sample(cfg.sar, **(cap.provenance.get("adc_front_end") or {}))
    fixed = tile(cfg, fe, cap.analog, params).activations
    p16 = fp16_params_from_fixed(cfg.nmpu, params)
    fp16 = tile(cfg, fe, cap.analog, p16, unit="fp16").activations
    return {"fixed": fixed, "fp16": fp16}


def evaluate(cap: Capture, outs: dict[str, np.ndarray]) -> dict[str, dict]:
    """RMS error (output LSBs) and accuracy of each output set, with the float reference."""
    rows = {"float": {"rms_lsb": 0.0, "accuracy": accuracy(cap, cap.reference)}}
    for name, out in outs.items():
        err = np.asarray(out, np.float64) - cap.reference
        rows[name] = {"rms_lsb": float(np.sqrt(np.mean(err**2))), "accuracy": accuracy(cap, out)}
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*", type=Path, default=list(CAPTURES))
    ap.add_argument("--rtl", choices=("icarus", "verilator"), help="also run the tiles' RTL")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print("| capture | vectors | float | FP16 unit | fixed-point NMPU | fixed - FP16 "
          "| RMS err FP16 / fixed (LSB) | RTL |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for path in args.captures:
        cap = load(path)
        outs = chain_outputs(cap)
        rows = evaluate(cap, outs)
        rtl = "not run"
        if args.rtl:
            from tb.runner import run_tile_capture

            notes = []
            for unit in ("fixed", "fp16"):
                build = REPO / "build" / "accuracy" / f"{path.stem}_{unit}"
                _, fig, hw = run_tile_capture(
                    path, sim=args.rtl, build_dir=build, seed=args.seed,
                    front_end=cap.provenance.get("adc_front_end") or {}, unit=unit,
                )  # fmt: skip
                bad = fig["adc_mismatches"] + fig["activation_mismatches"]
                same = np.array_equal(hw, outs[unit])
                notes.append(
                    f"{unit}: {bad} mismatches, acc {100 * accuracy(cap, hw):.2f} %"
                    + ("" if same else " (differs from model!)")
                )
            rtl = f"{args.rtl}: " + "; ".join(notes)
        f, h, x = (100 * rows[k]["accuracy"] for k in ("float", "fp16", "fixed"))
        print(
            f"| {path.name} | {cap.vectors} | {f:.2f} % | {h:.2f} % | {x:.2f} % | "
            f"{x - h:+.2f} pt | {rows['fp16']['rms_lsb']:.3f} / {rows['fixed']['rms_lsb']:.3f} "
            f"| {rtl} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
