"""Seeded pause patterns for stream sources (idle cycles) and sinks (backpressure).

Shared by the cocotb and the Amaranth-simulator tiers, and crossed in the
tests: {none, random, bursty} on each side, as verilog-axis crosses its
``idle_inserter`` and ``backpressure_inserter``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PATTERNS = ("none", "random", "bursty")


def pauses(pattern: str, rng: np.random.Generator) -> Iterator[bool]:
    """Endless per-cycle pause flags (True = pause this cycle) for ``pattern``.

    ``none`` never pauses; ``random`` pauses each cycle with probability 0.3;
    ``bursty`` alternates runs of 1-16 active cycles and 1-8 paused ones.
    """
    if pattern not in PATTERNS:
        raise ValueError(f"pause pattern must be one of {PATTERNS}, not {pattern!r}")
    if pattern == "none":
        while True:
            yield False
    if pattern == "random":
        while True:
            for flag in rng.random(256) < 0.3:
                yield bool(flag)
    while True:
        yield from [False] * int(rng.integers(1, 17))
        yield from [True] * int(rng.integers(1, 9))
