"""SAR ADC characterisation report: ``python -m tools.adc_report --out build/reports``.

Samples one mismatch instance of the analog front end and writes, to ``--out``,
``adc_report.json`` and the ``sar_*.png`` plots (static figures with the comparator
noise off, noise figures, the sine test, ENOB per ``active_steps``, the early-stop
error; see ``model.flow.adc_report``), and prints a summary and the
ENOB-per-active_steps table. Exit status 0, or 2 with one line on stderr for invalid
input, before any work: an option outside its range (the front-end terms take the front
end's own ranges, ``model.analog.sar_frontend.settings_problem``; ``--steps`` and
``--weights`` the ``SARConfig`` rules), a ramp of more than ``MAX_RAMP`` points per code
(``--columns`` x ``--per-code``), ``--out`` that exists and is not a directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model.files import check_output_dir
from model.flow.adc_report import write_report
from model.golden.sar import MAX_COLUMNS, MAX_STEPS
from model.sar import EARLY_STOP_FILLS, SARConfig
from tools.cli import (
    ArgumentParser,
    UsageError,
    bounded_float,
    bounded_int,
    check_front_end_options,
    run,
    user_input,
)

#: Most ``--columns`` x ``--per-code``: the static test's ramp holds ``per_code`` points per
#: code and column (4096 columns x 32, or 64 x 2048: about a minute and 1.3 GB).
MAX_RAMP = 1 << 17


def weights(text: str) -> tuple[int, ...]:
    """``--weights 128,64,...``: comma-separated integers (their rules are ``SARConfig``'s)."""
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:  # also an integer of more than 4300 digits
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise argparse.ArgumentTypeError(
            f"must be integers separated by commas, not {shown!r}"
        ) from None


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument(
        "--columns",
        type=bounded_int(1, MAX_COLUMNS),
        default=64,
        help=f"columns of the sampled instance, 1 to {MAX_COLUMNS}",
    )
    real = bounded_float(0.0)  # the ranges: the front end's own (settings_problem, below)
    ap.add_argument(
        "--mismatch", type=real, default=0.03, help="unit-capacitor relative sigma, 0 to 0.5"
    )
    ap.add_argument(
        "--offset", type=real, default=0.5, help="comparator offset sigma, LSB, 0 to 256"
    )
    ap.add_argument("--noise", type=real, default=0.3, help="comparator noise rms, LSB, 0 to 256")
    ap.add_argument(
        "--seed", type=bounded_int(0, 2**63 - 1), default=1, help="front-end seed, 0 to 2**63-1"
    )
    ap.add_argument(
        "--steps",
        type=bounded_int(1, MAX_STEPS),
        default=8,
        help="SAR steps (other than 8: give --weights)",
    )
    ap.add_argument(
        "--weights", type=weights, default=None,
        help="comma-separated step weights (default binary)",
    )  # fmt: skip
    ap.add_argument(
        "--per-code",
        type=bounded_int(1, MAX_RAMP),
        default=32,
        help=f"ramp points per LSB (static); --columns x --per-code at most {MAX_RAMP}",
    )
    ap.add_argument(
        "--early-stop-fill",
        choices=EARLY_STOP_FILLS,
        default=EARLY_STOP_FILLS[0],
        help="what an approximate conversion adds for its skipped steps (docs/sar.md)",
    )
    args = ap.parse_args(argv)
    with user_input():  # a FIFO or file as the folder
        check_output_dir(args.out, "--out")
        sar = SARConfig(
            columns=args.columns,
            steps=args.steps,
            weights=args.weights,
            early_stop_fill=args.early_stop_fill,
        )
    front_end = {"mismatch": args.mismatch, "offset": args.offset, "noise": args.noise}
    check_front_end_options(sar, {**front_end, "seed": args.seed}, prefix="--")
    if args.columns * args.per_code > MAX_RAMP:
        raise UsageError(
            f"--columns {args.columns} x --per-code {args.per_code} = "
            f"{args.columns * args.per_code} ramp points per code: at most {MAX_RAMP} "
            "(memory grows with it); use fewer columns or points"
        )
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    _, lines = write_report(args.out, **settings)
    print("\n".join(lines))
    print(f"wrote {args.out}/sar_*.png and adc_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
