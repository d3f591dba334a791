"""The one-line-error argument parser every command line shares (``python -m model.capture``
and ``tools/``): an error is one line on stderr, ``<prog>: error: <message>``, exit status 2.

It lives in the lowest layer so that ``model``'s own entry point and the tools use one
definition (``tools.cli`` re-exports it).
"""

from __future__ import annotations

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")
