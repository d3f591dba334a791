"""The rules every config follows: ``from_dict`` takes a JSON object with known keys only
(:func:`known_kwargs`), and the hardware a config describes is elaborated only below a
size limit unless the user allows it (:func:`check_hardware_size`)."""

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


# -- the hardware size rule: one definition for every tool that elaborates RTL ----------

#: Largest estimated hardware size (a config's ``hardware_bits``: ``NMPUConfig``,
#: ``SARConfig``, ``TileConfig``) the tools elaborate without ``--allow-large``: 2.6x the
#: paper's tile (256 columns, 64 lanes, 8-step SAR: 100,544), the largest configuration
#: the project builds. Within it one block elaborates in at most about a minute and half a
#: GB, past it in minutes and GBs (measurements: docs/nmpu.md, "Hardware size").
MAX_HARDWARE_BITS = 1 << 18
#: Above this estimate a tool prints a warning line with it.
WARN_HARDWARE_BITS = MAX_HARDWARE_BITS // 2


def _size_terms(config) -> dict[str, int]:
    """What a config's size scales with: columns, and lanes (NMPU) and steps (SAR)."""
    nmpu, sar = getattr(config, "nmpu", config), getattr(config, "sar", config)
    terms = {"columns": config.columns}
    if hasattr(nmpu, "lanes"):
        terms["lanes"] = nmpu.lanes
    if hasattr(sar, "steps"):
        terms["SAR steps"] = sar.steps
    return terms


def check_hardware_size(config, allow_large: bool = False, what: str | None = None) -> str | None:
    """Apply the hardware size rule to ``config`` (anything with ``hardware_bits``).

    Raises ``ValueError`` (one line naming the config, its estimate and the limit) when the
    estimate is above :data:`MAX_HARDWARE_BITS` and not ``allow_large``. Returns a warning
    line when it is above :data:`WARN_HARDWARE_BITS` (or above the limit, allowed), else
    ``None``. ``what``: a prefix naming where the config came from (e.g. a capture file).
    """
    bits = config.hardware_bits
    terms = _size_terms(config)
    label = f"{type(config).__name__} ({', '.join(f'{v} {k}' for k, v in terms.items())})"
    label = label if what is None else f"{what}: {label}"
    names = list(terms)
    fewer = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    if bits > MAX_HARDWARE_BITS:
        if not allow_large:
            raise ValueError(
                f"{label}: estimated hardware size {bits:,} bits is above the limit of "
                f"{MAX_HARDWARE_BITS:,} (elaboration would take minutes and GBs); pass "
                f"--allow-large to build it anyway, or use fewer {fewer}"
            )
        return (
            f"{label}: estimated hardware size {bits:,} bits, above the limit of "
            f"{MAX_HARDWARE_BITS:,} (--allow-large): elaboration may take minutes and GBs"
        )
    if bits > WARN_HARDWARE_BITS:
        return (
            f"{label}: estimated hardware size {bits:,} bits, {100 * bits // MAX_HARDWARE_BITS}"
            f" % of the limit of {MAX_HARDWARE_BITS:,}: elaboration may take a minute"
        )
    return None
