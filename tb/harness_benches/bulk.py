"""The loop every harness bench runs, and what it reads back with.

A harness bench (``tb.harness_benches.nmpu``, ``.sar``, ``.tile``) loads the
harness's memories, raises ``go`` and then runs :class:`BulkRun`: for every
chunk it waits for ``done``, has the simulator write the recorded memories to
files (:class:`MemoryDump`), lets the bench score the chunk in numpy through its
:class:`~tb.stream.scoreboard.Scoreboard`, and pulses ``resume``. Python
touches the simulation once per chunk, not once per clock (docs/verification.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge, with_timeout

from tb.harness.write_replay import MASK64
from tb.stimulus.pauses import PATTERNS
from tb.stream.bench import Bench, report, settings
from tb.stream.scoreboard import Scoreboard


def pattern_pairs() -> list[tuple[str, str]]:
    """The (idle, backpressure) pattern pairs to run: the settings' ``pairs``, else all."""
    return [tuple(p) for p in settings().get("pairs", [])] or [
        (idle, bp) for idle in PATTERNS for bp in PATTERNS
    ]


def harness_seed() -> int:
    """The harness's 64-bit xorshift seed from cocotb's seed (never 0, which would stick)."""
    return (cocotb.RANDOM_SEED % MASK64) | 1


def harness_clock() -> str:
    """The clock implementation for a harness bench on this simulator.

    ``"gpi"`` on Verilator, where a Python clock would cap a harness at a few
    10^4 cycles/s. ``"py"`` on Icarus: there the C++ clock reorders the bench's
    writes against the edges (parameter writes went missing), and Icarus's own
    evaluation, not the clock, sets the pace.
    """
    return "gpi" if cocotb.SIM_NAME.lower().startswith("verilator") else "py"


def read_dump(path, width: int, *, four_state: bool) -> np.ndarray:
    """The words of a memory dump (:func:`tb.harness.common.add_memory_dump`) as bytes
    [words, 4 * ceil(width / 32)], least significant first (for
    :meth:`tb.stream.payload.Codec.unpack_bytes`).

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
    at which the block :func:`tb.harness.common.add_memory_dump` adds writes each
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


class BulkRun:
    """One cocotb test's run of a harness, chunk by chunk, scored through ``scoreboard``.

    ``memories``: name -> word width of the memories read back per chunk.
    ``chunk_timeout_ns``: fail instead of waiting forever for a chunk (None: no bound).
    """

    def __init__(
        self,
        bench: Bench,
        memories: dict[str, int],
        scoreboard: Scoreboard,
        *,
        chunk_timeout_ns: int | None = None,
    ):
        self.bench = bench
        self.dump = MemoryDump(bench, memories)
        self.scoreboard = scoreboard
        self.chunk_timeout_ns = chunk_timeout_ns
        self.chunks = 0
        self.seconds = self.sim_seconds = self.check_seconds = self.dump_seconds = 0.0
        self.start_cycle = bench.cycle

    async def run(self, total: int, score: Callable[[int, int, dict], int]) -> int:
        """Run chunks until ``total`` items (vectors or conversions) are scored; returns the count.

        ``score(first, n, mems)`` scores a chunk of ``n`` recorded output words whose
        first item is ``first``, from ``mems`` (name -> bytes [words, ...]), and
        returns the number of items the chunk held.
        """
        dut, bench = self.bench.dut, self.bench
        first, t0 = 0, time.perf_counter()
        while first < total:
            t_wait = time.perf_counter()
            if dut.done.value != 1:
                done = RisingEdge(dut.done)
                if self.chunk_timeout_ns is None:
                    await done
                else:
                    await with_timeout(done, self.chunk_timeout_ns, "ns")
            await bench.falling
            t_read = time.perf_counter()
            self.sim_seconds += t_read - t_wait
            n = int(dut.out_count.value)
            assert n > 0, f"done with an empty chunk after {first} items"
            mems = await self.dump()
            self.dump_seconds += time.perf_counter() - t_read
            first += score(first, n, mems)
            self.chunks += 1
            # Harnesses register their inputs: resume clears the chunk a cycle later.
            dut.resume.value = 1
            await bench.falling
            dut.resume.value = 0
            await bench.falling
            self.check_seconds += time.perf_counter() - t_read
        self.seconds = time.perf_counter() - t0
        return first

    def finish(self, figures: dict) -> None:
        """Report the test's figures (with the run's timing and the scoreboard's counts) and
        fail on any mismatch or on an expected item that never arrived."""
        sb = self.scoreboard
        report(
            {
                **figures,
                "chunks": self.chunks,
                "cycles": self.bench.cycle - self.start_cycle,
                "seconds": self.seconds,
                "sim_seconds": self.sim_seconds,
                "check_seconds": self.check_seconds,
                "dump_seconds": self.dump_seconds,
                "values_checked": sb.values_checked,
                "mismatches": sb.mismatches,
                "errors": sb.errors,
                "output_digest": sb.digest(),
            }
        )
        sb.assert_clean()
