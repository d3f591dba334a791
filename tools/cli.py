"""What every command-line tool shares: errors are one line on stderr and exit status 2.

Command-line plumbing only (parsers, option groups, turning bad input into one line);
the work is done by the library (``flows``, ``model.flow``).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from model.capture import FRONT_END_KEYS
from model.cli import ArgumentParser

__all__ = [
    "FRONT_END_TERMS",
    "ArgumentParser",
    "UsageError",
    "add_front_end_options",
    "config_dict",
    "run",
    "user_input",
]


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit status 2."""


#: The ``AnalogFrontEnd.sample`` terms a command line can set, as ``--adc-<term>``
#: (the capture's front-end keys but the seed, which is ``--adc-seed``).
FRONT_END_TERMS = tuple(k for k in FRONT_END_KEYS if k != "seed")


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


def config_dict(path: str | None, sets: list[str], what: str) -> dict:
    """Merge a JSON config file and ``key=value`` overrides (``--<what>-set``) into one dict;
    the value is parsed as JSON when it parses (numbers, booleans, lists), else a string."""
    d: dict = {}
    if path:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{what} config file {path}: {exc}") from None
        if not isinstance(d, dict):
            raise UsageError(f"{what} config file {path}: top level must be an object")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--{what}-set takes key=value, not {item!r}")
        try:
            d[key] = json.loads(value)
        except json.JSONDecodeError:
            d[key] = value
    return d


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
