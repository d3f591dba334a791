"""Public capture-file API of DESIGN 5: ``load``, ``save``, ``python -m model.capture``.

Implemented in ``model.flow.capture``.
"""

from model.flow.capture import SCHEMA_VERSION, Capture, load, main, save

__all__ = ["SCHEMA_VERSION", "Capture", "load", "main", "save"]

if __name__ == "__main__":
    raise SystemExit(main())
