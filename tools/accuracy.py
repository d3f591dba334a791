"""Accuracy of the float reference, the FP16 unit and the fixed-point NMPU on captures.

    .venv/bin/python -m tools.accuracy [--rtl verilator] [captures ...]

For each capture (default: both committed ones) the golden chain runs on every
captured vector with the NMPU and with the FP16 unit (``model.flow.accuracy``); the
table gives the RMS error against the float reference (output LSBs) and the digits
accuracy of the rest of the network fed each unit's activations. ``--rtl SIM`` also
runs both tiles' RTL on the same vectors and reports its mismatches and accuracy
(``flows.accuracy``). Exit status 0, or 2 with one line on stderr for invalid input (every
capture is loaded before the first row is computed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows.accuracy import HEADER, table_row
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
    args = ap.parse_args(argv)
    with user_input():  # a bad capture is one line naming it, before any row is computed
        for path in args.captures:
            load(path)
    print("\n".join(HEADER))
    for path in args.captures:
        print(table_row(path, args.rtl, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
