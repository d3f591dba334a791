"""The shared stream layer in Amaranth's own simulator: drivers, monitors, parameter loader.

The cocotb tier has the same pieces for the generated Verilog; these are their
Amaranth-simulator form, written as async testbench helpers in the style of
the Amaranth stream docs and Glasgow's ``stream_put``/``stream_assert``:

* :func:`simulate` builds the simulator, adds the clock and the testbenches
  and fails with :class:`SimulationDeadline` instead of hanging;
* :func:`stream_put` (source, idle cycles from ``tb.stimulus.pauses``) and
  :func:`stream_get` (sink with backpressure, checking the stream rules);
* :func:`watch` logs the clock edges at which conditions held (transfers,
  accepted starts) on one time base, for latency and throughput checks, and
  :func:`collect` records an observation tap (e.g. the tile's ADC results);
* :func:`write_params` loads NMPU parameters; :class:`PysimParamWriter` also
  writes at random cycles and mirrors the shadow bank;
* :func:`drive_comparator` closes the SAR's analog loop with ``tb.stream.closed_loop``
  and :func:`drive_starts` starts conversions;
* :func:`with_sync_reset` puts a DUT under a ``sync`` domain whose reset a bench drives.

Timing convention: a testbench sets inputs after a clock edge; what counts is
the value *sampled at* the next edge (``ctx.tick().sample(...)``), so the
helpers do not depend on the order in which testbenches run. Edges are
numbered from 1 (the first rising edge of the simulation); :func:`now` is the
last one, for messages.

Waits are one-shot (``await ctx.tick()...``) or ``async for`` loops, never
``TickTrigger.until``/``repeat``: when one testbench fails, the others are
abandoned mid-wait, and in Amaranth 0.5 an abandoned ``until``/``repeat``
raises ``RuntimeError: aclose(): asynchronous generator is already running``
whenever the garbage collector gets to it (with pytest-xdist on CPython 3.11
this has crashed a worker instead of reporting the failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from amaranth.hdl import ClockDomain, Module, Shape
from amaranth.sim import Simulator

from tb.stimulus.params import ParamMirror
from tb.stream.closed_loop import ClosedLoop
from tb.stream.payload import Codec

__all__ = [
    "PERIOD",
    "PysimParamWriter",
    "SimulationDeadline",
    "clocks",
    "collect",
    "drive_comparator",
    "drive_starts",
    "now",
    "present_param_write",
    "simulate",
    "stream_get",
    "stream_put",
    "wait_until",
    "watch",
    "with_sync_reset",
    "write_params",
]

#: Clock period of every simulation (the value only scales waveform time).
PERIOD = 1e-8


_edges = [0]  # clock edges so far of the simulation running in this process


def now() -> int:
    """The number of the last clock edge of the running :func:`simulate` (0 before the first)."""
    return _edges[0]


class SimulationDeadline(AssertionError):
    """The critical testbenches did not finish within the deadline (a hang or a lost beat)."""


def simulate(dut, *testbenches, background: Iterable = (), deadline_cycles: int = 100_000) -> int:
    """Run ``testbenches`` (async ``f(ctx)``) against ``dut`` on one clock until they all return.

    ``background`` testbenches (drivers that never return, such as
    :func:`drive_comparator`) run alongside and stop with the simulation.
    Raises :class:`SimulationDeadline` after ``deadline_cycles`` clocks; an
    exception in any testbench propagates. Returns the clocks simulated.
    """
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    _edges[0] = 0

    async def count_edges(ctx):  # added first, so it runs first after every edge
        async for _ in ctx.tick():
            _edges[0] += 1

    sim.add_testbench(count_edges, background=True)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for testbench in background:
        sim.add_testbench(testbench, background=True)
    while sim.advance():
        if _edges[0] > deadline_cycles:
            raise SimulationDeadline(
                f"testbenches still running after {deadline_cycles} clocks (hang or lost beat?)"
            )
    return _edges[0]


def with_sync_reset(dut):
    """``(top, rst)``: ``dut`` as the only submodule of ``top``, which declares the ``sync``
    domain, and that domain's reset signal, for a bench to drive (``ctx.set(rst, 1)``).

    Unlike ``ResetInserter``, which resets the registers but leaves ``ResetSignal("sync")``
    alone, this is the domain's own reset: logic that reads ``ResetSignal`` (a stream sink
    holding ``ready`` low during reset) sees it. ``simulate(top, ...)``.
    """
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = dut
    return top, domain.rst


def _plain(value):
    """numpy scalars/arrays (also inside dicts and lists) as the ints/lists ``ctx.set`` takes."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


async def clocks(ctx, count: int) -> None:
    """Let ``count`` clock edges pass (a ``repeat`` that is safe to abandon)."""
    for _ in range(count):
        await ctx.tick()


async def wait_until(ctx, condition: Callable[[], bool]) -> None:
    """Idle (clock by clock) until the Python ``condition()`` holds, e.g. another bench's flag."""
    while not condition():
        await ctx.tick()


async def stream_put(ctx, stream, payloads: Iterable, pauses: Iterator[bool]) -> None:
    """Source: send each payload on ``stream`` (the sender's side of a ``lib.stream``).

    Before presenting a beat, one idle cycle (``valid`` low) per leading True
    of ``pauses``; a presented beat keeps ``valid`` high and the payload
    unchanged until it transfers. A payload is a dict (numpy values allowed)
    or anything ``ctx.set`` takes on the payload view. Returns after the last
    transfer with ``valid`` low.
    """
    for payload in payloads:
        while next(pauses):
            await ctx.tick()
        ctx.set(stream.payload, _plain(payload))
        ctx.set(stream.valid, 1)
        ready = False
        while not ready:
            _, _, ready = await ctx.tick().sample(stream.ready)
        ctx.set(stream.valid, 0)


async def stream_get(
    ctx, stream, count: int, pauses: Iterator[bool], *, name: str = "stream"
) -> list[dict]:
    """Sink: take ``count`` beats from ``stream``, ``ready`` low while ``pauses`` says so.

    Checks the stream rule at every edge: a beat presented without transfer
    must still be presented, unchanged, at the next edge. Returns the
    transferred payloads in order as ``{field: int or int64 array}``
    (``tb.stream.payload.Codec``); ``ready`` is left low.
    """
    codec = Codec(stream.payload.shape())
    got = []
    held = None  # payload bits presented at the last edge without a transfer
    while len(got) < count:
        ready = not next(pauses)
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        bits = payload.as_bits()
        if held is not None:
            assert valid, f"{name}: beat {len(got)} dropped valid at clock {now()} before transfer"
            assert bits == held, (
                f"{name}: beat {len(got)} changed under backpressure at clock {now()}: "
                f"{codec.unpack(bits)} (was {codec.unpack(held)})"
            )
        if valid and ready:
            got.append(codec.unpack(bits))
            held = None
        else:
            held = bits if valid else None
    ctx.set(stream.ready, 0)
    return got


async def watch(ctx, log: dict[str, list[int]], **conditions) -> None:
    """Background monitor: append to ``log[name]`` every edge at which ``conditions[name]`` held.

    Edge numbers are :func:`now`'s, e.g.
    ``watch(ctx, log, start=dut.start & ~dut.busy, out=dut.o.valid & dut.o.ready)``.
    """
    names = list(conditions)
    for name in names:
        log.setdefault(name, [])
    async for _, _, *values in ctx.tick().sample(*conditions.values()):
        for name, value in zip(names, values, strict=True):
            if value:
                log[name].append(now())


async def collect(ctx, fire, payload, out: list) -> None:
    """Background monitor of an observation tap: append ``payload`` (a layout view), decoded to
    ``{field: int or int64 array}``, at every edge where ``fire`` holds."""
    codec = Codec(payload.shape())
    async for _, _, fired, value in ctx.tick().sample(fire, payload):
        if fired:
            out.append(codec.unpack(value.as_bits()))


# -- NMPU parameters ----------------------------------------------------------------


def present_param_write(ctx, port, cfg, name: str, column: int, value: int) -> None:
    """Present the write ``name[column] = value`` on ``port``; it lands at the next edge.

    ``value`` is the raw integer of the field's format, sent in two's
    complement at the full width of the port's ``data``.
    """
    ctx.set(port.addr, cfg.param_address(name, column))
    ctx.set(port.data, int(value) % (1 << Shape.cast(port.data.shape()).width))
    ctx.set(port.we, 1)


async def write_params(ctx, port, cfg, params: dict) -> None:
    """Load every per-column parameter of ``cfg`` through ``port`` (``hw.nmpu`` ParamPortSignature).

    One write per clock at ``cfg.param_address(field, column)``, the raw
    value in two's complement on ``data``; ``we`` is low on return, and the
    last write has landed in the shadow bank.
    """
    for name in cfg.param_fields:
        for column in range(cfg.columns):
            present_param_write(ctx, port, cfg, name, column, params[name][column])
            await ctx.tick()
    ctx.set(port.we, 0)


class PysimParamWriter:
    """Loads ``params``, then writes random values at random cycles while vectors stream.

    The Amaranth-simulator form of ``tb.stream.params.ParamWriter``, on the same
    :class:`~tb.stimulus.params.ParamMirror` semantics: it records, per vector, the
    parameters in force for it (``in_force[v]``): a write takes effect for the vectors
    whose first beat is accepted *after* it; the first beat accepted at the same edge
    as a write does not see it (``hw.nmpu.NMPU.params``).

    Run :meth:`run` as a background testbench; sources wait for
    :attr:`loaded` (``await wait_until(ctx, lambda: writer.loaded)``).
    ``probability`` is the chance of a write per clock (0: load only).
    """

    def __init__(self, cfg, params: dict, rng: np.random.Generator, *, probability: float = 0.2):
        self.cfg, self.rng, self.probability = cfg, rng, probability
        self.mirror = ParamMirror(cfg, params)
        self.in_force: list[dict[str, np.ndarray]] = []
        self.loaded = False
        self.writes = 0  # random writes issued after the load

    async def run(self, ctx, port, stream) -> None:
        """Drive ``port``; watch ``stream`` (the NMPU's input) for accepted first beats."""
        await write_params(ctx, port, self.cfg, self.mirror.shadow)
        self.loaded = True
        first_beats = 0
        while True:
            write = self.probability > 0 and self.rng.random() < self.probability
            if write:
                name, column, value = self.mirror.random_write(self.rng)
                present_param_write(ctx, port, self.cfg, name, column, value)
            else:
                ctx.set(port.we, 0)
            _, _, valid, ready, first = await ctx.tick().sample(
                stream.valid, stream.ready, stream.payload.first
            )
            vector_start = False
            if valid and ready and first:
                vector_start = first_beats % self.cfg.phases == 0
                first_beats += 1
            if vector_start:  # snapshot before this edge's write: it is not seen
                self.in_force.append(self.mirror.snapshot())
            if write:
                self.mirror.land(name, column, value)
                self.writes += 1


# -- SAR closed loop -----------------------------------------------------------------


async def drive_comparator(
    ctx, dut, loop: ClosedLoop, *, idle_rng: np.random.Generator | None = None
) -> None:
    """Background driver of the analog half: every clock, ``cmp`` answers ``dac``.

    ``dut`` has ``start``, ``busy``, ``dac`` and ``cmp`` (a ``SAR`` or the tile).
    The conversion being held is the number of accepted starts (``start &
    ~busy`` at an edge) minus one; :meth:`ClosedLoop.answer` gives the
    decisions. While ``dac`` is idle, ``cmp`` gets random bits from
    ``idle_rng`` (if given), which the SAR must ignore.
    """
    columns = Shape.cast(dut.cmp.shape()).width
    accepted = 0
    async for _, _, start, busy in ctx.tick().sample(dut.start, dut.busy):
        accepted += bool(start and not busy)
        word = loop.answer(ctx.get(dut.dac).as_bits(), accepted - 1)
        if word is not None:
            ctx.set(dut.cmp, word)
        elif idle_rng is not None:
            ctx.set(dut.cmp, int(idle_rng.integers(0, 1 << columns)))


async def drive_starts(
    ctx,
    dut,
    active_steps: Iterable[int],
    pauses: Iterator[bool],
    *,
    spurious_rng: np.random.Generator | None = None,
) -> None:
    """Start one conversion per entry of ``active_steps``, in order (``dut``: a SAR or the tile).

    In a clock where ``busy`` is low, ``pauses`` decides: idle (``start``
    low) or start the next conversion with its ``active_steps``. In a clock
    where ``busy`` is high, ``start`` stays high (so with no pauses it is held
    high throughout, the full-rate case), or with ``spurious_rng`` gets
    random ``start`` and ``active_steps``; the SAR must ignore both. Times of
    accepted starts: :func:`watch`.
    """
    width = Shape.cast(dut.active_steps.shape()).width
    pending = iter(active_steps)
    k = next(pending, None)
    while k is not None:
        if ctx.get(dut.busy) and spurious_rng is not None:
            ctx.set(dut.start, int(spurious_rng.integers(2)))
            ctx.set(dut.active_steps, int(spurious_rng.integers(1 << width)))
        elif not ctx.get(dut.busy) and next(pauses):
            ctx.set(dut.start, 0)
        else:
            ctx.set(dut.start, 1)
            ctx.set(dut.active_steps, int(k))
        _, _, start, busy = await ctx.tick().sample(dut.start, dut.busy)
        if start and not busy:
            k = next(pending, None)
    ctx.set(dut.start, 0)
