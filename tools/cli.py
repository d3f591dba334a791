"""What every command-line tool shares: errors are one line on stderr and exit status 2.

Command-line plumbing only (parsers, option groups, turning bad input into one line);
the work is done by the library (``flows``, ``model.flow``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

from model.capture import FRONT_END_KEYS
from model.cli import ArgumentParser
from model.files import check_input_path
from model.golden.config import MAX_HARDWARE_BITS, check_hardware_size

__all__ = [
    "FRONT_END_HELP",
    "FRONT_END_TERMS",
    "SEED",
    "ArgumentParser",
    "UsageError",
    "add_allow_large",
    "add_front_end_options",
    "bounded_float",
    "bounded_int",
    "check_front_end_options",
    "check_hardware",
    "config_dict",
    "run",
    "user_input",
]


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit status 2."""


#: The ``AnalogFrontEnd.sample`` terms a command line can set, as ``--adc-<term>``
#: (the capture's front-end keys but the seed, which is ``--adc-seed``).
FRONT_END_TERMS = tuple(k for k in FRONT_END_KEYS if k != "seed")


#: ``--help`` of each ``--adc-*`` option with its range, the front end's own
#: (``model.analog.sar_frontend.setting_limits``; N = 2**out_width LSB, 256 at 8 bits).
FRONT_END_HELP = {
    "mismatch": "unit-cap relative sigma, 0 to 0.5",
    "offset": "comparator offset sigma, LSB, 0 to N = 2**out_width",
    "noise": "comparator noise sigma, LSB, 0 to N = 2**out_width",
    "gain": "per-column gain error sigma, 0 to 0.5",
    "compression": "mean per-column compression, 0 to N/3 (N = 2**out_width)",
    "seed": "seed of the mismatch/offset draws and key of the noise, 0 to 2**63-1",
}


def add_front_end_options(group) -> None:
    """``--adc-mismatch/offset/noise/gain/compression/seed``: the ADC analog front end's
    ``AnalogFrontEnd.sample`` settings (0: the term is off)."""
    for term in FRONT_END_TERMS:
        group.add_argument(f"--adc-{term}", type=float, default=0.0, help=FRONT_END_HELP[term])
    group.add_argument("--adc-seed", type=int, default=0, help=FRONT_END_HELP["seed"])


def check_front_end_options(sar, settings: dict, prefix: str = "--adc-") -> None:
    """A ``UsageError`` naming the ``<prefix><key>`` option (``--adc-mismatch``) of the first
    ``AnalogFrontEnd.sample`` setting outside the front end's own range for the SAR config
    ``sar``."""
    from model.sar import AnalogFrontEnd

    bad = AnalogFrontEnd.settings_problem(sar, settings)
    if bad is not None:
        raise UsageError(f"{prefix}{bad[0]} {bad[1]}")


def bounded_int(lo: int, hi: int):
    """An argparse ``type=``: an integer in ``[lo, hi]``; anything else is one line naming the
    option (``argument --vectors: must be an integer in [1, 100000], not '0'``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also more than 4300 digits
            value = None
        if value is None or not lo <= value <= hi:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(
                f"must be an integer in [{lo}, {hi}], not {shown!r}"
            ) from None
        return value

    parse.__name__ = f"integer in [{lo}, {hi}]"
    return parse


def bounded_float(lo: float, hi: float = math.inf):
    """An argparse ``type=``: a finite number in ``[lo, hi]`` (``hi`` infinite: no upper
    bound); anything else (``nan``, ``inf``, a word) is one line naming the option
    (``argument --noise: must be a finite number >= 0, not 'nan'``)."""
    where = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and lo <= value <= hi):
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(
                f"must be a finite number {where}, not {shown!r}"
            ) from None
        return value

    parse.__name__ = f"finite number {where}"
    return parse


#: Seeds (numpy and cocotb): 32-bit unsigned.
SEED = bounded_int(0, 2**32 - 1)


def _no_duplicates(pairs: list) -> dict:
    """``json`` ``object_pairs_hook``: an object that names a key twice is an error (json
    would keep the last silently)."""
    d = {}
    for key, value in pairs:
        if key in d:
            raise ValueError(f"key {key!r} appears more than once")
        d[key] = value
    return d


def _parse_json(text: str) -> object:
    """``json.loads`` that refuses duplicate keys; every failure is a ``ValueError``
    (``JSONDecodeError``, too deep (``RecursionError``), an integer of more than 4300
    digits, a duplicate key)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def config_dict(path: str | None, sets: list[str], what: str) -> dict:
    """Merge a JSON config file and ``key=value`` overrides (``--<what>-set``) into one dict;
    the value is parsed as JSON when it parses (numbers, booleans, lists), else a string.

    A file that is missing or not a regular file (a FIFO, a directory: checked before it
    is opened, ``model.files.check_input_path``) is a ``UsageError`` naming
    ``--<what>-config``; one that cannot be read or parsed (not UTF-8, invalid or too deeply
    nested JSON, a duplicate key, not an object) a ``UsageError`` naming the file, a value
    that is valid JSON but unusable one naming ``--<what>-set``."""
    d: dict = {}
    if path:
        try:
            check_input_path(path, f"--{what}-config")
        except (OSError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        try:
            d = _parse_json(Path(path).read_text())
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise UsageError(f"{what} config file {path}: {exc}") from None
        if not isinstance(d, dict):
            raise UsageError(
                f"{what} config file {path}: top level must be an object, not {type(d).__name__}"
            )
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--{what}-set takes key=value, not {item!r}")
        try:
            d[key] = _parse_json(value)
        except json.JSONDecodeError:
            d[key] = value
        except ValueError as exc:
            raise UsageError(f"--{what}-set {key}: {exc}") from None
    return d


def add_allow_large(parser) -> None:
    """``--allow-large``: build hardware above the size limit (``check_hardware``)."""
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="build hardware whose estimated size (NMPUConfig/SARConfig.hardware_bits) is "
        f"above {MAX_HARDWARE_BITS:,} bits (docs/nmpu.md, Hardware size)",
    )


def check_hardware(*configs, allow_large: bool, what: str | None = None) -> None:
    """Apply the hardware size rule (``model.golden.config.check_hardware_size``) to every
    config, before anything is built: a ``UsageError`` past the limit without
    ``allow_large``, a warning line on stderr near it."""
    for config in configs:
        with user_input():
            warning = check_hardware_size(config, allow_large, what)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)


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
