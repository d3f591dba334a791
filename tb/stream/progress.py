"""Progress lines for long simulations: vectors done, rate, time left.

A bench calls :meth:`Progress.update` as work completes (cheap: it only looks at
the wall clock every call and logs at most once per ``interval`` seconds), so a
``make sim`` that runs for minutes says how far it is. Plain Python (no
cocotb), so it is unit-tested without a simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def format_seconds(s: float) -> str:
    """``75`` -> ``"1 min 15 s"``; ``4000`` -> ``"1 h 07 min"``."""
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


class Progress:
    """Log ``done/total <unit> (pct), rate, time left`` at most every ``interval`` seconds.

    ``log``: a callable taking one string (a cocotb logger's ``info``, or ``print``);
    ``clock``: the time source (``time.perf_counter``; tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        log: Callable[[str], object],
        *,
        unit: str = "vectors",
        interval: float = 5.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.log, self.unit = int(total), log, unit
        self.interval, self.clock = float(interval), clock
        self.t0 = self.last = clock()
        self.lines = 0

    def line(self, done: int, now: float) -> str:
        """The progress text for ``done`` units at time ``now``."""
        elapsed = max(now - self.t0, 1e-9)
        rate = done / elapsed
        pct = 100.0 * done / self.total if self.total else 100.0
        left = (self.total - done) / rate if rate > 0 else float("inf")
        eta = format_seconds(left) if rate > 0 else "unknown"
        return (
            f"progress: {done}/{self.total} {self.unit} ({pct:.0f} %), "
            f"{rate:.3g} {self.unit}/s, about {eta} left"
        )

    def update(self, done: int) -> None:
        """Report ``done`` units finished; logs when ``interval`` has passed since the last line."""
        now = self.clock()
        if now - self.last >= self.interval and done < self.total:
            self.last = now
            self.lines += 1
            self.log(self.line(done, now))
