"""``make bench``: simulation speed and golden-model throughput, as medians of repeats.

    python -m tools.benchmark [--repeats 3] [--vectors N] [--tile-vectors N]
                              [--sar-conversions N] [--out build/reports/bench.json]

Every figure is the median of ``--repeats`` runs in this one process (the closed-loop
``tile32`` rows: one run); the figures and how they are measured are
``flows.benchmark``'s. Prints one row per figure and writes them as JSON to ``--out``.
Exit status 0.
"""

from __future__ import annotations

import sys

from flows.benchmark import DEFAULT_OUT, run_benchmarks
from tools.cli import ArgumentParser


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--vectors",
        type=int,
        default=None,
        help="NMPU vectors per repeat of the per-clock bench (default: 100 on Icarus, 2000 on"
        " Verilator, about a second each: 0.1 s Verilator runs varied 1.6x between runs)",
    )
    parser.add_argument(
        "--tile-vectors",
        type=int,
        default=20_000,
        help="vectors through the 256-column tile harness",
    )
    parser.add_argument(
        "--sar-conversions",
        type=int,
        default=50_000,
        help="conversions through the 256-column SAR harness",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    rows = run_benchmarks(
        repeats=args.repeats,
        vectors=args.vectors,
        tile_vectors=args.tile_vectors,
        sar_conversions=args.sar_conversions,
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
