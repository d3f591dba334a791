"""SAR ADC characterisation report: ``python -m tools.adc_report --out build/reports``.

Samples one mismatch instance of the analog front end and writes, to ``--out``,
``adc_report.json`` and the ``sar_*.png`` plots (static figures with the comparator
noise off, noise figures, the sine test, ENOB per ``active_steps``, the early-stop
error; see ``model.flow.adc_report``), and prints a summary and the
ENOB-per-active_steps table. Exit status 0, or 2 with one line on stderr when ``--out``
exists and is not a directory (before any work).
"""

from __future__ import annotations

from pathlib import Path

from model.files import check_output_dir
from model.flow.adc_report import write_report
from tools.cli import ArgumentParser, run, user_input


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument("--columns", type=int, default=64, help="columns of the sampled instance")
    ap.add_argument("--mismatch", type=float, default=0.03, help="unit-capacitor relative sigma")
    ap.add_argument("--offset", type=float, default=0.5, help="comparator offset sigma, LSB")
    ap.add_argument("--noise", type=float, default=0.3, help="comparator noise rms, LSB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument(
        "--weights", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
        help="comma-separated step weights (default binary)",
    )  # fmt: skip
    ap.add_argument("--per-code", type=int, default=32, help="ramp points per LSB (static)")
    args = ap.parse_args(argv)
    with user_input():
        check_output_dir(args.out, "--out")
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    _, lines = write_report(args.out, **settings)
    print("\n".join(lines))
    print(f"wrote {args.out}/sar_*.png and adc_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
