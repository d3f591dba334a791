"""``make sweep``: a design-space or Monte Carlo sweep, every point a task on Dask.

    python -m tools.sweep [SPEC] [--out DIR] [--scheduler tcp://HOST:PORT | --workers N |
                          --serial]

Reads the TOML spec (default ``sweeps/quick.toml``; format in ``docs/sweeps.md``), runs
every point not yet finished in ``--out`` (default ``build/sweeps/<name>``) on a
``LocalCluster`` of single-threaded worker processes (one per core, started and stopped
here), on the running cluster of ``--scheduler``, or in this process (``--serial``), and
writes each point's row to ``<out>/points/<id>.parquet`` as it finishes (``flows.sweep``).
Prints progress on stderr, then the summary table (mean and 95 % CI over the seed axes),
and writes ``summary.md``, ``summary.json`` and ``accuracy_vs_active_steps.png``.

Exit status 0; 1 when a point failed (each named, its error in its row; a rerun retries
it); 2 with one line on stderr for an invalid spec or option.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows import REPO
from model.files import check_output_dir
from tools.cli import ArgumentParser, UsageError, bounded_int, run

DEFAULT_SPEC = REPO / "sweeps" / "quick.toml"


def parse_args(argv=None):
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "spec",
        nargs="?",
        type=Path,
        default=DEFAULT_SPEC,
        help="sweep spec (TOML), default sweeps/quick.toml",
    )
    ap.add_argument("--out", type=Path, help="results folder (default build/sweeps/<name>)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="attach to a running dask scheduler, tcp://HOST:PORT")
    where.add_argument(
        "--workers",
        type=bounded_int(1, 1024),
        help="workers of the embedded LocalCluster (default: one per core)",
    )
    where.add_argument("--serial", action="store_true", help="no Dask: every point in this process")
    return ap.parse_args(argv)


def _main(argv) -> int:
    args = parse_args(argv)
    from flows.sweep import run_sweep
    from flows.sweep_report import write_report
    from flows.sweep_spec import SpecError, load

    try:
        spec = load(args.spec)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if args.scheduler is not None and not args.scheduler.startswith(("tcp://", "tls://")):
        raise UsageError(f"--scheduler must be tcp://HOST:PORT, not {args.scheduler!r}")
    out = args.out or REPO / "build" / "sweeps" / spec.name
    try:
        check_output_dir(out, "--out")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = run_sweep(
        spec, out, scheduler=args.scheduler, workers=args.workers, serial=args.serial
    )
    report = write_report(spec, result, out)
    print(report["markdown"])
    rate = result["points_per_second"]
    print(
        f"\n{result['points']} points ({result['ran']} run, {result['skipped']} already "
        f"finished) in {result['seconds']:.1f} s"
        + (f", {rate:.2f} points/s" if rate else "")
        + f" on {result['scheduler']}; task time {result['task_seconds']:.1f} s"
        + (f" (workers busy {100 * result['utilisation']:.0f} %)" if result["utilisation"] else "")
        + "; "
        f"commit {result['git_commit']}"
    )
    print(
        f"wrote {out}/points/*.parquet, summary.md, summary.json"
        + (f", {report['plot'].name}" if report["plot"] else "")
    )
    if result["failed"]:
        print(f"{len(result['failed'])} points failed (a rerun retries them):", file=sys.stderr)
        for label, (pid, err) in zip(result["failed_labels"], result["failed"], strict=True):
            print(f"  {pid} {label}: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
