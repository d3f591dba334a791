"""What every cocotb bench shares: settings, clock, reset, the drive/sample convention, figures.

Convention (all benches, all simulators): stimulus is driven just after the
falling clock edge; monitors sample in the ``ReadOnly`` phase after it, when
everything the next rising edge will see has settled. A handshake sampled
there (``valid & ready``) is exactly the transfer of the next rising edge.

Settings arrive as one JSON object in ``$TB_SETTINGS`` (written by
``tb.runner.run_bench``); each cocotb test appends one JSON line of figures to
``settings["summary"]``.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

SETTINGS_ENV = "TB_SETTINGS"
CLOCK_NS = 10


def settings() -> dict:
    """This run's settings (``{}`` when run outside ``tb.runner``)."""
    return json.loads(os.environ.get(SETTINGS_ENV, "{}"))


def report(figures: dict) -> None:
    """Append one test's figures to the summary file (read by ``tb.runner.run_bench``)."""
    path = settings().get("summary")
    if path:
        # Appended one JSON line per test, not written through model.files' temporary
        # file: each test of a run adds its line to the same file, and the runner deletes
        # it before the run and reads it only after the simulator has exited.
        with open(path, "a") as fh:
            fh.write(json.dumps(figures) + "\n")


class Bench:
    """Clock, reset and the edge triggers of one DUT.

    Drivers and monitors are built in the bench's constructor and started
    (their ``start()``) after :meth:`reset`, so nothing is driven or counted
    while the DUT is held in reset.

    ``inputs``: the DUT's input ports to hold at 0 during reset (flattened
    Verilog names, e.g. ``"i__valid"``). ``clock``: cocotb's clock
    implementation, ``"py"`` (a coroutine; the default, safe with Python
    driving every cycle) or ``"gpi"`` (toggled in C++ by the simulator
    interface: for harnesses, where Python waits for ``done`` only).
    """

    def __init__(self, dut, inputs: tuple[str, ...] = (), clock: str = "py"):
        self.dut = dut
        self.log = dut._log
        self.falling = FallingEdge(dut.clk)
        self.read_only = ReadOnly()
        self.inputs = inputs
        # Inputs defined, reset held, before the first rising edge: the clock starts low.
        # An edge with undriven (X) inputs loads X on Icarus into a reset-less register
        # whose next state reads them (the NMPU's slot bits with one column, which then
        # stay X: docs/toolchain.md); Verilator, two-state, reads 0.
        for name in inputs:
            getattr(dut, name).value = 0
        dut.rst.value = 1
        clk = Clock(dut.clk, CLOCK_NS, unit="ns", impl=clock)
        cocotb.start_soon(clk.start(start_high=False))

    @property
    def cycle(self) -> int:
        """Clock cycles since time 0 (the rising edge that ends the current cycle)."""
        return int(get_sim_time("ns")) // CLOCK_NS

    async def reset(self, cycles: int = 3) -> None:
        """Hold reset for ``cycles`` rising edges, inputs low; release after a falling edge."""
        d = self.dut
        for name in self.inputs:
            getattr(d, name).value = 0
        d.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(d.clk)
        await self.falling
        d.rst.value = 0

    async def cycles(self, n: int) -> None:
        for _ in range(n):
            await self.falling


class Process:
    """A driver or monitor of a bench: built with the bench, started after its reset."""

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self):
        """Start driving or monitoring (after the bench's reset); returns self."""
        cocotb.start_soon(self._run())
        return self
