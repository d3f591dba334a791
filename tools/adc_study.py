"""``make adc-study``: ADC-aware training against per-column calibration (DESIGN 9, Ghosh et al.).

    python -m tools.adc_study --out build/reports [--seed S] [--quick] [--rtl-sim SIM ...]
                              [--no-rtl] [--no-area] [--no-sweeps]
                              [--scheduler tcp://HOST:PORT | --workers N | --serial]

For each network (the digits MLP and a small CNN), each ADC non-ideality level and
each ``active_steps`` k, the study measures the test accuracy through the bit-exact
golden chain of the float network (uncalibrated, and with per-column calibration) and
of ADC-aware fine-tuned networks (``model.flow.adc_study``); selected rows also run
through the tile RTL on every ``--rtl-sim``, and the correction stage's area is
synthesised (``flows.adc_study``). First two sweeps on Dask (``flows.adc_study_stats``):
the recipe chosen on the validation split, and the harsh-level MLP rows over 5 training
seeds x 8 unseen ADC instances, which give those rows their mean and 95 % interval and
restate the claims against it. Writes ``<out>/adc_study.json``, ``adc_study.png``
and ``adc_study.md``, prints the table and the goals. ``--quick`` is a small
configuration for the test suite. Everything is seeded (``--seed``, printed). Exit
status 0; 1 when sweep points failed (named, their rows kept: a rerun retries them); 2
with one line on stderr for invalid input.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from flows import REPO
from model.files import check_output_dir
from tools.cli import ArgumentParser, UsageError, bounded_int, run, user_input


def parse_args(argv=None):
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "reports")
    ap.add_argument(
        "--seed", type=int, default=0, help="training/batch seed, 0 to 2**32-1 (printed)"
    )
    ap.add_argument("--quick", action="store_true", help="small configuration (the test's)")
    ap.add_argument(
        "--rtl-sim",
        action="append",
        choices=("icarus", "verilator"),
        help="simulators of the rtl_checked rows (default both; none with --quick)",
    )
    ap.add_argument("--no-rtl", action="store_true", help="skip the RTL check")
    ap.add_argument("--no-area", action="store_true", help="skip the Yosys correction-stage area")
    ap.add_argument(
        "--no-sweeps",
        action="store_true",
        help="skip the recipe and Monte Carlo sweeps (one run, no intervals over seeds)",
    )
    ap.add_argument("--scheduler", help="tcp://HOST:PORT of a running dask scheduler")
    ap.add_argument(
        "--workers", type=bounded_int(1, 1024), help="LocalCluster workers (default: one per core)"
    )
    ap.add_argument("--serial", action="store_true", help="run the sweeps in this process")
    return ap.parse_args(argv)


def _main(argv) -> int:
    args = parse_args(argv)
    with user_input():  # a FIFO or file as the folder: refused before any training
        check_output_dir(args.out, "--out")
    from flows.adc_study import run_study
    from flows.adc_study_stats import SweepFailed
    from model.flow.adc_study import study_config
    from model.flow.adc_study_report import summary, table

    with user_input():  # a seed out of range, before any training
        cfg = study_config(
            args.seed,
            quick=args.quick,
            rtl_sims=args.rtl_sim,
            rtl=not args.no_rtl,
            area=not args.no_area,
        )
    log = functools.partial(print, file=sys.stderr, flush=True)
    try:
        report = run_study(cfg, args.out, log=log, sweeps=not args.no_sweeps,
                           scheduler=args.scheduler, workers=args.workers,
                           serial=args.serial)  # fmt: skip
    except LookupError as exc:  # an RTL row the study does not have
        raise UsageError(str(exc)) from None
    except SweepFailed as exc:  # points failed: named, their rows kept for the rerun
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table(report))
    print(summary(report))
    print(f"seed {cfg.seed}; {report['seconds']} s; wrote {args.out / 'adc_study.json'}, "
          f"adc_study.md and adc_study.png")  # fmt: skip
    return 0


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
