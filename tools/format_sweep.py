"""Accuracy versus NMPU format on a task where formats matter (mnist1d), float / FP16 / fixed.

    .venv/bin/python -m tools.format_sweep [--hidden 64] [--vectors 1000] [--out build/reports]

Trains a 40-N-10 MLP on mnist1d (generated procedurally, no download), runs its first
layer on the built-in crossbar, imports it at each format variant of
``model.flow.mnist1d_task.FORMAT_VARIANTS`` (the two-multiplier unit, and the paper's one
multiply-add per column at narrowing scale and offset formats) and prints the golden
chain's accuracy with the FP16 unit and with the NMPU, beside the float network's. Writes
``format_sweep.json`` and each variant's capture (``format_sweep/<variant>.npz``) under
``--out``. Exit status 0, or 2 with one line on stderr for invalid input.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from model.files import check_output_dir, write_text_atomic
from model.flow.mnist1d_task import TaskSettings, format_sweep
from tools.cli import SEED, ArgumentParser, bounded_int, run, user_input


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument("--hidden", type=bounded_int(1, 4096), default=64, help="layer-1 width")
    ap.add_argument("--vectors", type=bounded_int(1, 1000), default=1000, help="test vectors")
    ap.add_argument("--lanes", type=bounded_int(1, 4096), default=8, help="NMPU lanes")
    ap.add_argument("--seed", type=SEED, default=1, help="crossbar seed")
    args = ap.parse_args(argv)
    with user_input():
        check_output_dir(args.out, "--out")
        settings = TaskSettings(
            hidden=args.hidden, vectors=args.vectors, lanes=args.lanes, seed=args.seed
        )
    print(f"seed {args.seed}", flush=True)
    report = format_sweep(settings, args.out / "format_sweep")
    write_text_atomic(args.out / "format_sweep.json", json.dumps(report, indent=2))
    print("\n".join(table(report)))
    print(f"wrote {args.out}/format_sweep.json and {args.out}/format_sweep/*.npz")
    return 0


def table(report: dict) -> list[str]:
    """The printed table: one row per variant, accuracies in percent with the binomial
    standard error of one accuracy on this many vectors."""
    n = report["settings"]["vectors"]
    rows = report["rows"]
    p = rows[0]["float_accuracy"]
    se = 100 * math.sqrt(max(p * (1 - p), 1e-12) / n)
    lines = [
        report["task"],
        f"float network: {100 * p:.2f} %; one accuracy's standard error on {n} vectors "
        f"~{se:.1f} points (differences between variants below ~2x that are not resolved)",
        f"{'variant':16s} {'function':9s} {'scale':9s} {'offset':8s} {'FP16 %':>7s} "
        f"{'fixed %':>7s} {'fixed-FP16':>10s} {'rms LSB':>8s}",
    ]
    for r in rows:
        f = r["formats"]
        lines.append(
            f"{r['variant']:16s} {r['function']:9s} {f['scale']:9s} {f['offset']:8s} "
            f"{100 * r['fp16_accuracy']:7.2f} {100 * r['fixed_accuracy']:7.2f} "
            f"{100 * (r['fixed_accuracy'] - r['fp16_accuracy']):+10.2f} {r['fixed_rms_lsb']:8.3f}"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
