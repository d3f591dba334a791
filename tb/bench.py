"""What every cocotb bench shares: settings, clock, reset, the drive/sample convention, figures.

Convention (all benches, all simulators): stimulus is driven just after the
falling clock edge; monitors sample in the ``ReadOnly`` phase after it, when
everything the next rising edge will see has settled. A handshake sampled
there (``valid & ready``) is exactly the transfer of the next rising edge.

Settings arrive as one JSON object in ``$TB_SETTINGS`` (written by
``tb.run.run_bench``); each cocotb test appends one JSON line of figures to
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
    """This run's settings (``{}`` when run outside ``tb.run``)."""
    return json.loads(os.environ.get(SETTINGS_ENV, "{}"))


def report(figures: dict) -> None:
    """Append one test's figures to the summary file (read by ``tb.run.run_bench``)."""
    path = settings().get("summary")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(figures) + "\n")


class WordReader:
    """Reads words of one memory (an array handle) as unsigned integers, fast.

    Reads each word as the simulator's binary string through a cached handle:
    cocotb's ``.value`` builds a ``LogicArray`` per read and its indexing looks
    the word up again, together 75 % of a harness's read-back time. A word
    holding X or Z raises ``ValueError`` naming it, never a silent number.
    """

    def __init__(self, array):
        self.array = array
        self.words: dict[int, object] = {}

    def read(self, indices) -> list[int]:
        out = []
        for i in indices:
            word = self.words.get(i)
            if word is None:
                word = self.words[i] = self.array[i]._handle
            bits = word.get_signal_val_binstr()
            try:
                out.append(int(bits, 2))
            except ValueError:
                raise ValueError(f"{self.array._path}[{i}] is not a number: {bits!r}") from None
        return out


async def next_chunk(dut, bench: Bench) -> None:
    """Pulse a harness's ``resume`` (start recording the next chunk) and let it act.

    Harnesses register their inputs, so ``resume`` clears the chunk a cycle later.
    """
    dut.resume.value = 1
    await bench.falling
    dut.resume.value = 0
    await bench.falling


def harness_clock() -> str:
    """The clock implementation for a harness bench on this simulator.

    ``"gpi"`` on Verilator, where a Python clock would cap a harness at a few
    10^4 cycles/s. ``"py"`` on Icarus: there the C++ clock reorders the bench's
    writes against the edges (parameter writes went missing), and Icarus's own
    evaluation, not the clock, sets the pace.
    """
    return "gpi" if cocotb.SIM_NAME.lower().startswith("verilator") else "py"


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
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns", impl=clock).start())

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
