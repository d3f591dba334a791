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
