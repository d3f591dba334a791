"""What every command-line tool shares: errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import sys


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


#: The ``AnalogFrontEnd.sample`` terms a command line can set, as ``--adc-<term>``.
FRONT_END_TERMS = ("mismatch", "offset", "noise", "gain", "compression")


def add_front_end_options(group) -> None:
    """``--adc-mismatch/offset/noise/gain/compression/seed``: the ADC analog front end's
    ``AnalogFrontEnd.sample`` settings (0: the term is off)."""
    helps = {
        "mismatch": "unit-cap relative sigma",
        "offset": "comparator offset sigma, LSB",
        "noise": "comparator noise sigma, LSB",
        "gain": "per-column gain error sigma",
        "compression": "mean per-column compression",
    }
    for term in FRONT_END_TERMS:
        group.add_argument(f"--adc-{term}", type=float, default=0.0, help=helps[term])
    group.add_argument("--adc-seed", type=int, default=0)


@contextlib.contextmanager
def user_input():
    """Inside, a ``ValueError``/``TypeError`` is a problem with the user's input (the config
    classes, capture loader and calibration name the parameter or field): a ``UsageError``.
    Outside, such errors are bugs and keep their traceback."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def run(main, argv=None) -> int:
    """Call ``main(argv)``; a ``UsageError`` or an ``OSError`` (a file that cannot be read)
    becomes one line on stderr and exit status 2."""
    try:
        return main(argv)
    except (UsageError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
