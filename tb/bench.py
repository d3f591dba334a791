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
import numpy as np
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


def read_dump(path, width: int, *, four_state: bool) -> np.ndarray:
    """The words of a memory dump (:func:`tb.harness.add_memory_dump`) as bytes
    [words, 4 * ceil(width / 32)], least significant first (for
    :meth:`tb.payload.Codec.unpack_bytes`).

    Each 32-bit group of a word is a little-endian word (``%u``), followed by
    its X/Z bits when ``four_state`` (``%z``); bits above ``width`` are
    ignored. A word with X or Z bits, or a file that is not whole words, raises
    ``ValueError`` naming the file and the word, never a silent number.
    """
    groups = -(-width // 32)
    per_group = 2 if four_state else 1
    raw = np.fromfile(path, np.uint32)
    if raw.size % (per_group * groups):
        raise ValueError(f"{path}: {raw.size * 4} bytes is not whole {width}-bit words")
    pairs = raw.reshape(-1, groups, per_group)
    if width % 32:  # bits above the word in its top group are not defined (Icarus: garbage)
        pairs[:, -1, :] &= np.uint32((1 << (width % 32)) - 1)
    if four_state:
        unknown = np.flatnonzero(pairs[:, :, 1].any(axis=1))
        if unknown.size:
            raise ValueError(f"{path}: word {unknown[0]} has X or Z bits")
    values = np.ascontiguousarray(pairs[:, :, 0]).astype("<u4")
    return values.view(np.uint8).reshape(len(values), 4 * groups)


class MemoryDump:
    """Reads a harness's memories back in one go: the simulator writes them to files.

    ``await dump()`` raises the harness's ``dump`` input for one rising edge,
    at which the block :func:`tb.harness.add_memory_dump` adds writes each
    memory to ``<name>.bin`` (in C++ or C), and returns ``{name: bytes
    [words, ...]}`` (see :func:`read_dump`). Reading the words over VPI instead costs a
    binary string per word, parsed in Python: 60 % of the NMPU harness's time.
    """

    def __init__(self, bench: Bench, widths: dict[str, int]):
        self.bench = bench
        self.widths = widths

    async def __call__(self) -> dict[str, np.ndarray]:
        dut = self.bench.dut
        dut.dump.value = 1
        await self.bench.falling  # the rising edge in between wrote the files
        dut.dump.value = 0
        four_state = not cocotb.SIM_NAME.lower().startswith("verilator")
        return {
            name: read_dump(f"{name}.bin", w, four_state=four_state)
            for name, w in self.widths.items()
        }


def mismatch_indices(got: np.ndarray, want) -> np.ndarray:
    """Indices [k, ndim] where ``got != want`` (``np.argwhere``, 50x faster when equal)."""
    diff = got != want
    return np.argwhere(diff) if diff.any() else np.empty((0, diff.ndim), np.int64)


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
