"""cocotb driver of the NMPU's parameter port, with a mirror of the unit's shadow bank.

The one parameter loader of the cocotb benches. The mirror
(``tb.stimulus.params.ParamMirror``) is what the scoreboard predicts with: a
write driven in one cycle lands at the next rising edge, and a vector's first
beat accepted at that same edge does not see it yet (DESIGN 3.4: a write takes
effect for the vectors that start after it), so the mirror takes a write only
after that edge.
"""

from __future__ import annotations

import cocotb
import numpy as np

from model.nmpu import NMPUConfig
from tb.stimulus.params import ParamMirror
from tb.stream.bench import Bench


class ParamWriter:
    """Writes per-column parameters through port ``prefix`` (``addr``, ``data``, ``we``)."""

    def __init__(self, bench: Bench, config: NMPUConfig, prefix: str = "params"):
        dut = bench.dut
        self.bench, self.config = bench, config
        self.addr = getattr(dut, f"{prefix}__addr")
        self.data = getattr(dut, f"{prefix}__data")
        self.we = getattr(dut, f"{prefix}__we")
        self.mask = (1 << config.param_data_width) - 1
        self.mirror = ParamMirror(config)
        self.writes = 0

    def _drive(self, name: str, column: int, value: int) -> None:
        self.addr.value = self.config.param_address(name, column)
        self.data.value = int(value) & self.mask
        self.we.value = 1

    async def load(self, params: dict) -> None:
        """Write every parameter of every column, one write per clock."""
        for name in self.config.param_fields:
            for column, value in enumerate(params[name]):
                await self.bench.falling
                self._drive(name, column, value)
                self.mirror.land(name, column, value)
                self.writes += 1
        await self.bench.falling
        self.we.value = 0

    def snapshot(self) -> dict:
        """The parameters in force for a vector whose first beat transfers now."""
        return self.mirror.snapshot()

    def start_random_writes(self, rate: float, rng: np.random.Generator) -> None:
        """Write a random field/column/value in a ``rate`` fraction of cycles until stopped."""
        self._stopping = False
        self._task = cocotb.start_soon(self._random_writes(rate, rng))

    async def stop_random_writes(self) -> None:
        """Finish the write in flight, mirror it, and release the port."""
        self._stopping = True
        await self._task

    async def _random_writes(self, rate: float, rng: np.random.Generator) -> None:
        landed = None
        while True:
            await self.bench.falling
            if landed is not None:  # driven last cycle, landed at the edge since
                self.mirror.land(*landed)
                landed = None
            if self._stopping:
                self.we.value = 0
                return
            if rng.random() < rate:
                landed = self.mirror.random_write(rng)
                self._drive(*landed)
                self.writes += 1
            else:
                self.we.value = 0
