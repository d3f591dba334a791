"""The one rule every config's ``from_dict`` follows: a JSON object with known keys only."""

from __future__ import annotations

import dataclasses
from typing import Any


def known_kwargs(cls, d: Any) -> dict[str, Any]:
    """Check ``d`` is a dict of ``cls``'s constructor fields; returns a copy to pass on.

    Raises ``ValueError`` naming the config class and every unknown key.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, not {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown parameter(s) {unknown}")
    return dict(d)
