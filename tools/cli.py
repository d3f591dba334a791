"""What every command-line tool shares: errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def run(main, argv=None) -> int:
    """Call ``main(argv)``; a ``UsageError`` or ``ValueError`` becomes one line and status 2."""
    try:
        return main(argv)
    except (UsageError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
