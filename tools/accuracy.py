"""Accuracy of the float reference, the FP16 unit and the fixed-point NMPU on captures.

    .venv/bin/python -m tools.accuracy [--rtl verilator] [captures ...]

For each capture (default: both committed ones) the golden chain runs on every
captured vector with the NMPU and with the FP16 unit (``model.flow.accuracy``); the
table gives the RMS error against the float reference (output LSBs) and the digits
accuracy of the rest of the network fed each unit's activations. ``--rtl SIM`` also
runs both tiles' RTL on the same vectors and reports its mismatches and accuracy
(``flows.accuracy``); a capture above ``make sim``'s size guard, or whose tile is above the
hardware size limit (docs/nmpu.md, "Hardware size"), is then refused unless
``--allow-large``. Exit status 0, or 2 with one line on stderr for invalid input (every
capture is loaded and checked before the first row is computed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows.accuracy import HEADER, table_row
from flows.sim_capture import check_size
from model.capture import load
from model.flow.accuracy import CAPTURES
from tools.cli import SEED, ArgumentParser, run, user_input


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*", type=Path, default=list(CAPTURES))
    ap.add_argument("--rtl", choices=("icarus", "verilator"), help="also run the tiles' RTL")
    ap.add_argument("--seed", type=SEED, default=1)
    ap.add_argument(
        "--allow-large",
        action="store_true",
        help="with --rtl: run captures above make sim's size guard (vectors x phases x columns "
        "> 2**19) and tiles above the hardware size limit (docs/nmpu.md, Hardware size)",
    )
    args = ap.parse_args(argv)
    warnings = []
    with user_input():  # a bad capture is one line naming it, before any row is computed
        for path in args.captures:
            cap = load(path)
            if args.rtl:  # the RTL run of make sim: the same size rules, before any build
                warnings.append(check_size(cap, args.allow_large))
    for warning in filter(None, warnings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    print("\n".join(HEADER))
    for path in args.captures:
        print(table_row(path, args.rtl, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
