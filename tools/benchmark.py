"""``make bench``: simulation speed and golden-model throughput, as medians of repeats.

    python -m tools.benchmark [--repeats 3] [--vectors N] [--tile-vectors N]
                              [--sar-conversions N] [--sweep-points N] [--only sweep]
                              [--out build/reports/bench.json]

Every figure is the median of ``--repeats`` runs in this one process (the closed-loop
``tile32`` rows: one run); the figures and how they are measured are
``flows.benchmark``'s. Prints one row per figure and writes them as JSON to ``--out``.
Exit status 0, or 2 with one line on stderr when ``--out`` is not a regular file (a
directory, a FIFO), before anything runs.
"""

from __future__ import annotations

import sys

from flows.benchmark import DEFAULT_OUT, run_benchmarks
from model.files import check_output_path
from tools.cli import ArgumentParser, bounded_int, run, user_input


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=bounded_int(1, 100), default=3)
    parser.add_argument(
        "--vectors",
        type=bounded_int(1, 1_000_000),
        default=None,
        help="NMPU vectors per repeat of the per-clock bench (default: 100 on Icarus, 2000 on"
        " Verilator, about a second each: 0.1 s Verilator runs varied 1.6x between runs)",
    )
    parser.add_argument(
        "--tile-vectors",
        type=bounded_int(1, 100_000_000),
        default=20_000,
        help="vectors through the 256-column tile harness",
    )
    parser.add_argument(
        "--sar-conversions",
        type=bounded_int(1, 100_000_000),
        default=50_000,
        help="conversions through the 256-column SAR harness",
    )
    parser.add_argument(
        "--sweep-points",
        type=bounded_int(0, 10_000),
        default=16,
        help="points of the Dask scaling sweep, 1 then 2 workers (0: skip it)",
    )
    parser.add_argument(
        "--only", choices=("all", "sweep"), default="all", help="sweep: the scaling sweep alone"
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    with user_input():  # a directory or FIFO: refused before minutes of benchmarks
        check_output_path(args.out, "--out")
    rows = run_benchmarks(
        repeats=args.repeats,
        vectors=args.vectors,
        tile_vectors=args.tile_vectors,
        sar_conversions=args.sar_conversions,
        sweep_points=args.sweep_points,
        only=args.only,
        out=args.out,
        log=print,
    )
    print(f"\n== make bench: medians of {args.repeats} repeats (tile32: one run) ==")
    for row in rows:
        print(f"{row['name']:40s} {row['value']:>14,.1f} {row['unit']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
