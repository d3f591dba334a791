"""cocotb drivers for ``amaranth.lib.stream`` ports: a source with idle cycles, a sink with
backpressure, both packing/unpacking payloads from the port's Amaranth layout.

Amaranth flattens a stream port ``i`` to ``i__valid``, ``i__ready`` and
``i__payload``. Timing follows ``tb.stream.bench``: drive after the falling edge,
sample at ``ReadOnly``. The source keeps ``valid`` high and the payload
unchanged until its beat transfers (it only pauses between beats); the sink
checks the same rule on the DUT's output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from cocotb.triggers import Event

from tb.stream.bench import Bench, Process
from tb.stream.payload import Codec


class _StreamEnd(Process):
    """One end of stream ``prefix``: its three flattened signals and the payload codec.

    ``pauses``: per-cycle pause flags (``tb.stimulus.pauses.pauses``); ``on_transfer`` is
    called as ``on_transfer(index, payload fields, cycle)`` for every beat that
    transfers, in the ``ReadOnly`` phase of its cycle.
    """

    def __init__(
        self,
        bench: Bench,
        prefix: str,
        layout,
        pauses: Iterator[bool],
        on_transfer: Callable | None = None,
    ):
        dut = bench.dut
        self.bench, self.prefix = bench, prefix
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.codec = Codec(layout)
        self.pauses = pauses
        self.on_transfer = on_transfer


class StreamSource(_StreamEnd):
    """Drives stream ``prefix`` of the DUT from a queue of payload dicts; pauses are idle
    cycles between beats."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue: deque = deque()
        self.sent = 0
        self.cycles_ready_low = 0  # cycles a presented beat waited

    def send(self, **fields) -> None:
        self.queue.append((fields, self.codec.pack(**fields)))

    @property
    def idle(self) -> bool:
        return not self.queue

    async def _run(self) -> None:
        presenting = False
        while True:
            await self.bench.falling
            if not presenting and self.queue and not next(self.pauses):
                self.payload.value = self.queue[0][1]
                presenting = True
            self.valid.value = int(presenting)
            await self.bench.read_only
            if presenting:
                if self.ready.value == 1:
                    fields, _ = self.queue.popleft()
                    if self.on_transfer is not None:
                        self.on_transfer(self.sent, fields, self.bench.cycle)
                    self.sent += 1
                    presenting = False
                else:
                    self.cycles_ready_low += 1


class StreamSink(_StreamEnd):
    """Takes beats from stream ``prefix`` of the DUT; pauses are backpressure. Checks the
    stream rule that a beat, once valid, stays valid and unchanged until it transfers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = 0
        self.presented_at = 0  # cycle the beat being taken was first valid
        self.target: int | None = None
        self.done = Event()

    def expect_count(self, count: int) -> Event:
        """An event set once ``count`` beats have been taken."""
        self.target = count
        self.done = Event()  # a fresh one: an earlier target's event stays set
        if self.received >= count:
            self.done.set()
        return self.done

    async def _run(self) -> None:
        stalled = None  # payload of a beat presented but not taken last cycle
        while True:
            await self.bench.falling
            ready = not next(self.pauses)
            self.ready.value = int(ready)
            await self.bench.read_only
            if self.valid.value != 1:
                assert stalled is None, (
                    f"{self.prefix}: cycle {self.bench.cycle}: valid dropped before the beat "
                    "transferred"
                )
                continue
            word = self.payload.value.to_unsigned()
            assert stalled is None or word == stalled, (
                f"{self.prefix}: cycle {self.bench.cycle}: payload changed from {stalled:#x} to "
                f"{word:#x} while waiting for ready"
            )
            if stalled is None:
                self.presented_at = self.bench.cycle
            if not ready:
                stalled = word
                continue
            stalled = None
            if self.on_transfer is not None:
                self.on_transfer(self.received, self.codec.unpack(word), self.bench.cycle)
            self.received += 1
            if self.target is not None and self.received >= self.target:
                self.done.set()


class TapMonitor(Process):
    """Passive monitor of an observation tap: ``payload`` is taken in every cycle ``fire`` is high.

    ``on_fire(index, fields, cycle)`` runs for each; the payload is unpacked with
    the tap's Amaranth layout.
    """

    def __init__(self, bench: Bench, fire: str, payload: str, layout, on_fire: Callable):
        self.bench = bench
        self.fire = getattr(bench.dut, fire)
        self.payload = getattr(bench.dut, payload)
        self.codec = Codec(layout)
        self.on_fire = on_fire
        self.seen = 0

    async def _run(self) -> None:
        while True:
            await self.bench.falling
            await self.bench.read_only
            if self.fire.value == 1:
                fields = self.codec.unpack(self.payload.value.to_unsigned())
                self.on_fire(self.seen, fields, self.bench.cycle)
                self.seen += 1
