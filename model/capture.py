"""Public capture-file API of DESIGN 5: ``load``, ``save``, ``python -m model.capture``.

Implemented in ``model.flow.capture``; this module adds the validating command line::

    python -m model.capture FILE...
"""

from __future__ import annotations

import sys

from model.cli import ArgumentParser
from model.flow.capture import FRONT_END_KEYS, SCHEMA_VERSION, Capture, load, save

__all__ = ["FRONT_END_KEYS", "SCHEMA_VERSION", "Capture", "load", "main", "save"]


def summary_line(name, cap: Capture) -> str:
    """One line describing a loaded capture (what ``python -m model.capture`` prints)."""
    prov = cap.provenance
    head = (
        "no network head"
        if cap.head is None
        else "head "
        + "-".join(str(w.shape[0]) for w, _ in cap.head.layers)
        + f"-{cap.head.classes}"
    )
    return (
        f"{name}: schema {cap.schema_version}, {cap.vectors} vectors x {cap.phases} phases x "
        f"{cap.columns} columns, {head}, "
        f"simulator {prov.get('simulator')} {prov.get('simulator_version', '')}".rstrip()
    )


def main(argv=None) -> int:
    """``python -m model.capture FILE...``: validate captures and print a summary.

    Exit status 0 when every file is valid, else 2, with one line per bad file.
    """
    ap = ArgumentParser(prog="python -m model.capture", description=main.__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    status = 0
    for f in args.files:
        try:
            cap = load(f)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(summary_line(f, cap))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
