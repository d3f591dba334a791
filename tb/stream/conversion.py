"""cocotb driver of the SAR's conversion interface: ``start``/``busy`` and the closed analog loop.

One coroutine per clock does both halves of what the analog side of a tile
does: answer the comparator (``dac`` -> ``cmp``, via ``tb.stream.closed_loop``) for
the conversion being held, and start the next conversion when the SAR is idle
(after idle cycles from a pause pattern, optionally with spurious starts
while busy, which the SAR must ignore). Used by the SAR and the tile benches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tb.stream.bench import Bench, Process
from tb.stream.closed_loop import ClosedLoop


class ConversionDriver(Process):
    """Runs conversion ``n`` with ``active_steps[n]`` for every ``n``, in closed loop.

    Members
    -------
    accepted : int
        Starts the SAR accepted so far (conversion ``accepted - 1`` is held).
    accepts : list of (cycle, active_steps on the pins)
        One entry per accepted start.
    """

    def __init__(
        self,
        bench: Bench,
        loop: ClosedLoop,
        active_steps,
        pauses: Iterator[bool],
        rng: np.random.Generator,
        spurious: float = 0.0,
    ):
        dut = bench.dut
        self.bench, self.loop, self.rng = bench, loop, rng
        self.active_steps = [int(k) for k in active_steps]
        self.pauses, self.spurious = pauses, spurious
        self.start_pin, self.k_pins, self.busy = dut.start, dut.active_steps, dut.busy
        self.dac, self.cmp = dut.dac, dut.cmp
        self.cmp_mask = (1 << loop.config.columns) - 1
        self.accepted = 0
        self.accepts: list[tuple[int, int]] = []

    @property
    def finished(self) -> bool:
        return self.accepted == len(self.active_steps)

    def _answer_comparator(self) -> None:
        word = self.loop.answer(self.dac.value.to_unsigned(), self.accepted - 1)
        if word is None:  # not converting: cmp is ignored, drive garbage
            word = int(self.rng.integers(0, 1 << 62)) & self.cmp_mask
        self.cmp.value = word

    def _drive_start(self, busy: bool) -> bool:
        steps = self.loop.config.steps
        if not busy and not self.finished and not next(self.pauses):
            self.start_pin.value, self.k_pins.value = 1, self.active_steps[self.accepted]
            return True
        if busy and self.spurious and self.rng.random() < self.spurious:
            self.start_pin.value, self.k_pins.value = 1, int(self.rng.integers(1, steps + 1))
            return True
        self.start_pin.value = 0
        return False

    async def _run(self) -> None:
        while True:
            await self.bench.falling
            self._answer_comparator()
            busy = self.busy.value == 1
            starting = self._drive_start(busy)
            await self.bench.read_only
            if starting and self.busy.value == 0:
                self.accepts.append((self.bench.cycle, int(self.k_pins.value)))
                self.accepted += 1
