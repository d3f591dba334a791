"""cocotb bench of the AXI-wrapped NMPU (``hw.axi.nmpu_axi``), driven with cocotbext-axi and
scored by the golden model (``model.nmpu.nmpu``).

``AxiStreamSource`` on ``s_axis`` (idle cycles from ``tb.stimulus.pauses``),
``AxiStreamSink`` on ``m_axis`` (backpressure), ``AxiLiteMaster`` on ``s_axil`` (its AW and W
channels paused independently, so AW and W arrive in either order and cycles apart), and a
monitor that checks on both stream ports that ``tdata``/``tlast`` stay put while ``tvalid``
is high and ``tready`` low. Every test compares each output vector with the model on the
parameters written through AXI4-Lite and read back, and reports a SHA-256 digest of the
outputs so ``tb.runner.simulator_disagreements`` compares the simulators.

Settings (``$TB_SETTINGS``): ``config`` (``NMPUConfig.to_dict()``), ``vectors`` per test.
"""

from __future__ import annotations

import hashlib
import logging
import time

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiResp,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from hw.axi.axis import lane_slot
from hw.axi.regmap import compile_map
from hw.nmpu import NMPU
from model.nmpu import NMPUConfig, nmpu
from tb.stimulus.nmpu import random_codes, random_params
from tb.stimulus.pauses import pauses
from tb.stream.bench import CLOCK_NS, report, settings


class AxiBench:
    """Clock, reset, the three cocotbext-axi bus models, the hold monitor and the model."""

    def __init__(self, dut, config: NMPUConfig, seed: int):
        from cocotb.clock import Clock

        self.dut, self.config = dut, config
        self.latency = len(NMPU.STAGES)  # the wrapper's (it adds no register on the data path)
        self.regmap = compile_map(config, self.latency)  # the map the RTL was built from
        self.rng = np.random.default_rng(seed)
        self.in_bytes = lane_slot(config.in_width) // 8
        self.out_bytes = lane_slot(config.out_width) // 8
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start(start_high=False))
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk,
                                      dut.rst_n, reset_active_level=False)  # fmt: skip
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst_n,
                                  reset_active_level=False)  # fmt: skip
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                                  reset_active_level=False)  # fmt: skip
        for model in (self.source, self.sink, self.axil.write_if, self.axil.read_if):
            model.log.setLevel(logging.WARNING)  # one INFO line per transfer otherwise
        self.params = {f: np.zeros(config.columns, np.int64) for f in config.param_fields}
        self.outputs = bytearray()  # every output byte, for the digest
        self.hold_checks = 0
        for prefix in ("s_axis", "m_axis"):
            cocotb.start_soon(self._hold_monitor(prefix))

    async def reset(self) -> None:
        self.dut.rst_n.value = 0
        for _ in range(4):
            await RisingEdge(self.dut.clk)
        self.dut.rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)

    async def _hold_monitor(self, prefix: str) -> None:
        """``tdata``/``tlast`` held, ``tvalid`` kept, while a beat waits for ``tready``."""
        d = self.dut
        valid, ready = getattr(d, f"{prefix}_tvalid"), getattr(d, f"{prefix}_tready")
        data, last = getattr(d, f"{prefix}_tdata"), getattr(d, f"{prefix}_tlast")
        waiting = None
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if d.rst_n.value != 1:
                waiting = None
                continue
            if waiting is not None:
                self.hold_checks += 1
                now = (valid.value == 1, data.value.to_unsigned(), last.value == 1)
                assert now == waiting, f"{prefix}: beat changed while waiting: {waiting} -> {now}"
            stalled = valid.value == 1 and ready.value != 1
            waiting = (True, data.value.to_unsigned(), last.value == 1) if stalled else None

    # -- stimulus and model ---------------------------------------------------------
    def set_pauses(self, idle: str, backpressure: str) -> None:
        self.source.set_pause_generator(pauses(idle, self.rng))
        self.sink.set_pause_generator(pauses(backpressure, self.rng))

    def frame(self, codes: np.ndarray) -> bytes:
        """One vector [phases, columns] of codes as the input frame's bytes."""
        raw = np.asarray(codes, np.int64).reshape(-1) & ((1 << (8 * self.in_bytes)) - 1)
        return b"".join(int(v).to_bytes(self.in_bytes, "little") for v in raw)

    def decode(self, data: bytes) -> np.ndarray:
        """One output frame's bytes as the vector's outputs (signed when the output is)."""
        cfg, n = self.config, self.out_bytes
        vals = [int.from_bytes(data[i : i + n], "little", signed=cfg.out_signed)
                for i in range(0, len(data), n)]  # fmt: skip
        return np.array(vals, np.int64)

    def expected(self, codes: np.ndarray) -> np.ndarray:
        return nmpu(self.config, codes, **self.params)

    async def write_reg(self, address: int, value: int, strobe_bytes: int = 4) -> AxiResp:
        resp = await self.axil.write(address, int(value).to_bytes(4, "little")[:strobe_bytes])
        return resp.resp

    async def read_reg(self, address: int) -> tuple[int, AxiResp]:
        r = await self.axil.read(address, 4)
        return int.from_bytes(r.data, "little"), r.resp

    async def reg(self, name: str) -> int:
        value, resp = await self.read_reg(self.regmap[name].address)
        assert resp == AxiResp.OKAY, f"{name}: {resp}"
        return value

    async def write_params(self, params: dict) -> None:
        """Write every column of ``params`` through AXI4-Lite; the model follows."""
        for field, values in params.items():
            reg = next(r for r in self.regmap.registers if r.param == field)
            width = reg.fields[0].width
            for col, v in enumerate(values):
                resp = await self.write_reg(reg.address + 4 * col, int(v) & ((1 << width) - 1))
                assert resp == AxiResp.OKAY, f"{field}[{col}]: {resp}"
            self.params[field] = np.array(values, np.int64)

    async def read_back(self) -> None:
        """Every stored parameter reads back as written (sign-extended from its width)."""
        for field, values in self.params.items():
            reg = next(r for r in self.regmap.registers if r.param == field)
            width = reg.fields[0].width
            signed = self.config.param_format(field).signed
            for col, v in enumerate(values):
                raw, resp = await self.read_reg(reg.address + 4 * col)
                assert resp == AxiResp.OKAY
                got = raw - (1 << width) if signed and raw >> (width - 1) else raw
                assert got == v, f"{field}[{col}]: read back {got}, wrote {v}"

    async def run(self, codes: np.ndarray) -> int:
        """Send vectors ``codes``, receive and check one output frame each; returns checks."""
        for vector in codes:
            await self.source.send(AxiStreamFrame(self.frame(vector)))
        want = self.expected(codes)
        for v in range(len(codes)):
            frame = await self.sink.recv()
            self.outputs += bytes(frame.tdata)
            got = self.decode(bytes(frame.tdata))
            assert len(got) == self.config.columns, (
                f"vector {v}: {len(got)} outputs in the frame, expected {self.config.columns}"
            )
            bad = np.flatnonzero(got != want[v])
            assert not bad.size, (
                f"vector {v} column {bad[0]}: got {got[bad[0]]}, expected {want[v][bad[0]]}"
            )
        return len(codes) * self.config.columns

    def finish(self, name: str, **figures) -> None:
        digest = hashlib.sha256(bytes(self.outputs)).hexdigest()
        report({"test": name, "output_digest": digest, "hold_checks": self.hold_checks,
                **figures})  # fmt: skip


async def start(dut, idle="none", backpressure="none", *, params=True) -> AxiBench:
    bench = AxiBench(dut, NMPUConfig.from_dict(settings()["config"]), cocotb.RANDOM_SEED)
    await bench.reset()
    bench.set_pauses(idle, backpressure)
    if params:
        await bench.write_params(random_params(bench.config, bench.rng))
    return bench


@cocotb.test()
@cocotb.parametrize(idle=("none", "random", "bursty"), backpressure=("none", "random", "bursty"))
async def traffic(dut, idle: str, backpressure: str):
    """Idle x backpressure; parameters written between vectors take effect for the next ones;
    VECTORS counts the output frames."""
    bench = await start(dut, idle, backpressure)
    n = int(settings()["vectors"])
    checked = await bench.run(random_codes(bench.config, bench.rng, n))
    await bench.write_params(random_params(bench.config, bench.rng))  # between vectors
    await bench.read_back()
    checked += await bench.run(random_codes(bench.config, bench.rng, n))
    assert await bench.reg("VECTORS") == 2 * n
    assert await bench.write_reg(bench.regmap["VECTORS"].address, 0) == AxiResp.OKAY
    assert await bench.reg("VECTORS") == 0, "VECTORS not cleared by a write"
    status = await bench.reg("STATUS")
    assert status == 0, f"STATUS {status:#x} after well-formed traffic"
    bench.finish(f"traffic_{idle}_{backpressure}", checked=checked, vectors=2 * n)


@cocotb.test()
async def full_rate(dut):
    """Always-valid input, always-ready output: one beat per clock through the wrapper."""
    bench = await start(dut)
    cfg, n = bench.config, int(settings()["vectors"])
    codes = random_codes(cfg, bench.rng, n)
    beats = n * cfg.phases * cfg.beats
    taken = []  # cycle of every input beat's handshake

    async def count_beats():
        while len(taken) < beats:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.s_axis_tvalid.value == 1 and dut.s_axis_tready.value == 1:
                taken.append(_cycle())

    counter = cocotb.start_soon(count_beats())
    t0 = time.perf_counter()
    checked = await bench.run(codes)
    await counter
    seconds = time.perf_counter() - t0
    cycles = taken[-1] - taken[0] + 1
    assert cycles == beats, f"{cycles} clocks for {beats} input beats: idle inserted"
    bench.finish("full_rate", checked=checked, cycles=cycles, beats=beats, seconds=seconds)


@cocotb.test()
async def writes_during_vectors(dut):
    """Parameter writes while vectors stream (idle and backpressure random): each vector sees
    exactly the writes that landed before its first beat was accepted (DESIGN 3.4)."""
    bench = await start(dut, "random", "random")
    cfg, n = bench.config, int(settings()["vectors"])
    codes = random_codes(cfg, bench.rng, n)
    # Sampled together after each rising edge: a new write response means the write landed
    # at that edge; a first beat seen handshaking transfers at the next edge.
    starts, landed = [], []

    async def watch():
        beat, bvalid_q = 0, False
        while len(starts) < n:
            await RisingEdge(dut.clk)
            await ReadOnly()
            bvalid = dut.s_axil_bvalid.value == 1
            if bvalid and not bvalid_q:
                landed.append(_cycle())
            bvalid_q = bvalid and dut.s_axil_bready.value != 1
            if dut.s_axis_tvalid.value == 1 and dut.s_axis_tready.value == 1:
                if beat == 0:
                    starts.append(_cycle())
                beat = (beat + 1) % (cfg.phases * cfg.beats)

    writes = []  # (field, column, value) in bus order
    new = random_params(cfg, bench.rng)

    async def writer():
        while len(starts) < n:
            field = cfg.param_fields[int(bench.rng.integers(len(cfg.param_fields)))]
            col = int(bench.rng.integers(cfg.columns))
            reg = next(r for r in bench.regmap.registers if r.param == field)
            width = reg.fields[0].width
            writes.append((field, col, int(new[field][col])))
            await bench.write_reg(reg.address + 4 * col, int(new[field][col]) & ((1 << width) - 1))

    watcher = cocotb.start_soon(watch())
    w = cocotb.start_soon(writer())
    for vector in codes:
        await bench.source.send(AxiStreamFrame(bench.frame(vector)))
    frames = [await bench.sink.recv() for _ in range(n)]
    await watcher
    await w
    assert len(landed) >= len(writes) - 1, f"{len(landed)} write responses for {len(writes)}"
    mixed = 0
    for v, frame in enumerate(frames):
        got = bench.decode(bytes(frame.tdata))
        bench.outputs += bytes(frame.tdata)
        p = {f: a.copy() for f, a in bench.params.items()}
        for (field, col, value), cycle in zip(writes[: len(landed)], landed, strict=True):
            if cycle <= starts[v]:
                p[field][col] = value
        want = nmpu(cfg, codes[v : v + 1], **p)[0]
        bad = np.flatnonzero(got != want)
        assert not bad.size, (
            f"vector {v} column {bad[0]}: got {got[bad[0]]}, expected {want[bad[0]]} "
            f"(writes landed before its start: {sum(c <= starts[v] for c in landed)})"
        )
        mixed += 0 < sum(c <= starts[v] for c in landed) < len(landed)
    assert mixed, "no vector started between two parameter writes"
    bench.finish("writes_during_vectors", vectors=n, writes=len(writes), mixed=mixed)


@cocotb.test()
async def reads_during_vectors(dut):
    """Read-back and byte-strobed writes while vectors stream at full rate: every read returns
    what is stored, the outputs stay right, and each read-back (a read, or a write strobing
    part of a field) costs the input stream exactly one clock: it borrows the parameter
    memories' read port (``hw.param_store``), so ``s_axis_tready`` is low for that clock."""
    bench = await start(dut)
    cfg, n = bench.config, int(settings()["vectors"])
    codes = random_codes(cfg, bench.rng, n)
    beats = n * cfg.phases * cfg.beats
    taken, stalls = [], []  # clocks of input handshakes; clocks with tvalid and no tready

    async def watch():
        while len(taken) < beats:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.s_axis_tvalid.value == 1:
                (taken if dut.s_axis_tready.value == 1 else stalls).append(_cycle())

    reads = strobed = 0

    async def reader():
        nonlocal reads, strobed
        while len(taken) < beats // 2:  # while the stream runs (the source sends n vectors)
            field = cfg.param_fields[int(bench.rng.integers(len(cfg.param_fields)))]
            col = int(bench.rng.integers(cfg.columns))
            reg = next(r for r in bench.regmap.registers if r.param == field)
            width = reg.fields[0].width
            stored = int(bench.params[field][col]) & ((1 << width) - 1)
            raw, resp = await bench.read_reg(reg.address + 4 * col)
            assert resp == AxiResp.OKAY and raw == stored, (
                f"{field}[{col}] read during vectors: {raw:#x} ({resp}), stored {stored:#x}"
            )
            reads += 1
            if width > 8:  # byte 0 rewritten with its own value: a read-modify-write
                await bench.axil.write(reg.address + 4 * col, bytes([stored & 0xFF]))
                strobed += 1

    watcher = cocotb.start_soon(watch())
    r = cocotb.start_soon(reader())
    checked = await bench.run(codes)
    await watcher
    await r
    window = [c for c in stalls if taken[0] < c < taken[-1]]
    assert reads and window, f"{reads} reads, {len(window)} stalled clocks inside the stream"
    assert len(window) <= reads + strobed, (
        f"{len(window)} stalled clocks for {reads} reads and {strobed} byte-strobed writes"
    )
    assert taken[-1] - taken[0] + 1 == beats + len(window), "idle beyond the read-backs"
    await bench.read_back()
    bench.finish("reads_during_vectors", checked=checked, reads=reads, strobed=strobed,
                 stalled=len(window))  # fmt: skip


def _cycle() -> int:
    return int(cocotb.utils.get_sim_time("ns")) // CLOCK_NS


@cocotb.test()
async def framing(dut):
    """tlast early and late: FRAME_ERRORS counts each, STATUS.frame_error is sticky (W1C,
    irq), and the next vector is right."""
    bench = await start(dut)
    cfg = bench.config
    codes = random_codes(cfg, bench.rng, 3)
    beat_bytes = cfg.lanes * bench.in_bytes
    assert cfg.phases > 1, "the framing test cuts a vector in phase 0: it needs two phases"
    early = bench.frame(codes[0])[: beat_bytes * max(1, cfg.beats - 1)]  # cut in phase 0
    await bench.source.send(AxiStreamFrame(early))
    checked = await bench.run(codes[1:2])
    assert await bench.reg("FRAME_ERRORS") == 1
    # Late: the whole vector, then two more beats before tlast (dropped).
    late = bench.frame(codes[0]) + bytes(2 * beat_bytes)
    await bench.source.send(AxiStreamFrame(late))
    got = bench.decode(bytes((await bench.sink.recv()).tdata))  # the vector came out whole
    assert np.array_equal(got, bench.expected(codes[0:1])[0]), "late-tlast vector wrong"
    checked += await bench.run(codes[2:3])
    assert await bench.reg("FRAME_ERRORS") == 2
    # Any write clears a counter.
    assert await bench.write_reg(bench.regmap["FRAME_ERRORS"].address, 0) == AxiResp.OKAY
    assert await bench.reg("FRAME_ERRORS") == 0, "FRAME_ERRORS not cleared by a write"
    status = bench.regmap["STATUS"]
    fe = status.field("frame_error").mask
    assert (await bench.reg("STATUS")) & fe, "STATUS.frame_error not set"
    assert dut.irq.value == 1, "irq low with a sticky flag set"
    await bench.write_reg(status.address, 0)  # writing 0 clears nothing
    assert (await bench.reg("STATUS")) & fe
    await bench.write_reg(status.address, fe)  # W1C
    assert not (await bench.reg("STATUS")) & fe
    assert dut.irq.value == 0
    bench.finish("framing", checked=checked)


@cocotb.test()
async def flush_and_busy(dut):
    """A vector held in the pipeline by backpressure keeps STATUS.busy high; CTRL.flush
    (a single pulse, reads 0) drops it once the beat already presented is taken: busy
    falls, only that beat comes out, the next vector is right."""
    bench = await start(dut)
    cfg = bench.config
    codes = random_codes(cfg, bench.rng, 2)
    bench.sink.clear_pause_generator()  # else the generator overrides ``pause`` every clock
    bench.sink.pause = True
    await bench.source.send(AxiStreamFrame(bench.frame(codes[0])))
    await bench.source.wait()  # every beat taken: it fits in the pipeline (test config)
    for _ in range(2 * bench.latency):
        await RisingEdge(dut.clk)
    busy = bench.regmap["STATUS"].field("busy").mask
    assert (await bench.reg("STATUS")) & busy, "busy low with a vector in the pipeline"
    ctrl = bench.regmap["CTRL"]
    assert await bench.write_reg(ctrl.address, 1) == AxiResp.OKAY
    assert await bench.reg("CTRL") == 0, "CTRL.flush (singlepulse) reads back non-zero"
    assert (await bench.reg("STATUS")) & busy, "flushed with an output beat still presented"
    bench.sink.pause = False
    for _ in range(4):
        await RisingEdge(dut.clk)
    assert not (await bench.reg("STATUS")) & busy, "busy after a flush"
    # The beat presented when the flush came is not withdrawn (AXI4-Stream): it goes out,
    # without tlast, so the sink sees it at the head of vector 1's frame; nothing else does.
    beat = cfg.lanes * bench.out_bytes
    await bench.source.send(AxiStreamFrame(bench.frame(codes[1])))
    data = bytes((await bench.sink.recv()).tdata)
    bench.outputs += data
    stray = 0 if cfg.beats == 1 else beat
    assert len(data) == stray + cfg.columns * bench.out_bytes, f"frame of {len(data)} bytes"
    want = bench.expected(codes[0:1])[0][: cfg.lanes]
    assert np.array_equal(bench.decode(data[:stray]), want[: stray // bench.out_bytes])
    got = bench.decode(data[stray:])
    assert np.array_equal(got, bench.expected(codes[1:2])[0]), "vector after the flush wrong"
    checked = cfg.columns
    assert await bench.reg("FRAME_ERRORS") == 0, "a flush counted as a frame error"
    assert await bench.reg("VECTORS") == 1
    assert bench.sink.empty(), "output after the expected frames"
    bench.finish("flush_and_busy", checked=checked)


@cocotb.test()
async def register_map(dut):
    """Every register of the map at its address with its access type, nothing else mapped:
    reset values, write effects per kind, wstrb, SLVERR (and counting) elsewhere."""
    bench = await start(dut, params=False)
    rmap, rng = bench.regmap, bench.rng
    cfg = bench.config
    checks = 0
    for reg in rmap.registers:
        if reg.param is not None:
            continue
        value = await bench.reg(reg.name)
        for f in reg.fields:
            got = (value & f.mask) >> f.lsb
            if f.kind in ("const", "control", "w1c", "counter", "pulse"):
                assert got == f.reset, f"{reg.name}.{f.name}: reset {got}, expected {f.reset}"
                checks += 1
        if all(f.kind in ("const", "status") for f in reg.fields):  # read-only: writes ignored
            assert await bench.write_reg(reg.address, 0xFFFFFFFF) == AxiResp.OKAY
            assert await bench.write_reg(reg.address, 0) == AxiResp.OKAY
            after = await bench.reg(reg.name)
            const = sum(f.reset << f.lsb for f in reg.fields if f.kind == "const")
            cmask = sum(f.mask for f in reg.fields if f.kind == "const")
            assert after & cmask == const, f"{reg.name}: read-only bits changed by a write"
            checks += 1
    # Identification and elaboration config, from the config (not from the map's resets).
    want = {
        ("ID", "magic"): 0x4E4D5055,
        ("VERSION", "major"): 1,
        ("CONFIG_SIZE", "columns"): cfg.columns,
        ("CONFIG_SIZE", "lanes"): cfg.lanes,
        ("CONFIG_FORMAT", "phases"): cfg.phases,
        ("CONFIG_FORMAT", "in_width"): cfg.in_width,
        ("CONFIG_FORMAT", "out_width"): cfg.out_width,
        ("CONFIG_FORMAT", "latency"): bench.latency,
        ("CONFIG_FORMAT", "correction"): int(cfg.correction),
        ("CONFIG_FORMAT", "bn"): int(cfg.bn),
        **{("CONFIG_PARAMS", f"{p}_w"): cfg.param_format(p).width if p in cfg.param_fields
           else 0 for p in ("scale", "offset", "bn_scale", "bn_offset")},
    }  # fmt: skip
    for (name, field), value in want.items():
        f = rmap[name].field(field)
        got = ((await bench.reg(name)) & f.mask) >> f.lsb
        assert got == value, f"{name}.{field}: {got}, expected {value}"
        checks += 1
    # Counters: BUS_ERRORS counts the SLVERR accesses below; any write clears it.
    unmapped = _unmapped_probes(rmap, cfg, rng)
    for address in unmapped:
        resp = await bench.write_reg(address, 0xFFFFFFFF)
        assert resp == AxiResp.SLVERR, f"write {address:#x}: {resp}, expected SLVERR"
        value, resp = await bench.read_reg(address)
        assert resp == AxiResp.SLVERR, f"read {address:#x}: {resp}, expected SLVERR"
        assert value == 0, f"read {address:#x}: data {value:#x} with SLVERR"
    for reg in rmap.registers:  # the writes changed nothing that is mapped
        if reg.param is None and reg.name not in ("STATUS", "BUS_ERRORS"):
            want = sum(f.reset << f.lsb for f in reg.fields)
            assert await bench.reg(reg.name) == want, f"{reg.name} changed by unmapped writes"
    assert await bench.reg("BUS_ERRORS") == 2 * len(unmapped)
    bus_error = rmap["STATUS"].field("bus_error").mask
    assert await bench.reg("STATUS") & bus_error
    assert await bench.write_reg(rmap["BUS_ERRORS"].address, 0x12345678) == AxiResp.OKAY
    assert await bench.reg("BUS_ERRORS") == 0, "BUS_ERRORS not cleared by a write"
    await bench.write_reg(rmap["STATUS"].address, bus_error)
    assert not await bench.reg("STATUS") & bus_error, "STATUS.bus_error not cleared (W1C)"
    # Parameter arrays: every column of every field present, with wstrb byte merging.
    for reg in rmap.registers:
        if reg.param is None:
            continue
        width = reg.fields[0].width
        mask = (1 << width) - 1
        for col in range(reg.count):
            a, b = (int(x) for x in rng.integers(0, 1 << 32, size=2))
            assert await bench.write_reg(reg.address + 4 * col, a) == AxiResp.OKAY
            value, _ = await bench.read_reg(reg.address + 4 * col)
            assert value == a & mask, f"{reg.name}[{col}]: read {value:#x}, wrote {a & mask:#x}"
            # Byte 0 only (wstrb 0b0001): the other bytes keep the stored value.
            await bench.axil.write(reg.address + 4 * col, bytes([b & 0xFF]))
            value, _ = await bench.read_reg(reg.address + 4 * col)
            want = ((a & ~0xFF) | (b & 0xFF)) & mask
            assert value == want, f"{reg.name}[{col}] wstrb 1: {value:#x}, expected {want:#x}"
            checks += 2
    # AW and W in either order and cycles apart (independent pauses on the two channels).
    wif = bench.axil.write_if
    wif.aw_channel.set_pause_generator(pauses("bursty", rng))
    wif.w_channel.set_pause_generator(pauses("random", rng))
    reg = next(r for r in rmap.registers if r.param is not None)
    mask = (1 << reg.fields[0].width) - 1
    values = [int(x) for x in rng.integers(0, 1 << 32, size=reg.count)]
    for col, v in enumerate(values):
        assert await bench.write_reg(reg.address + 4 * col, v) == AxiResp.OKAY
    for col, v in enumerate(values):
        got, _ = await bench.read_reg(reg.address + 4 * col)
        assert got == v & mask, f"paused AW/W: {reg.name}[{col}] {got:#x} != {v & mask:#x}"
    wif.aw_channel.clear_pause_generator()
    wif.w_channel.clear_pause_generator()
    bench.finish("register_map", checks=checks, unmapped=len(unmapped))


def _unmapped_probes(rmap, cfg, rng) -> list[int]:
    """Addresses that must answer SLVERR: the words next to every register and array, the
    column just past each array, the absent parameter windows, and random words."""
    mapped = rmap.word_addresses()
    top = 1 << rmap.addr_width
    probes = set()
    for reg in rmap.registers:
        for a in (reg.address - 4, reg.addresses()[-1] + 4):
            probes.add(a % top)
    for base in (0x4000, 0x8000, 0xC000, 0x10000):
        probes.add(base + 4 * cfg.columns)
    probes.update(int(a) * 4 for a in rng.integers(0, top // 4, size=24))
    return sorted(a for a in probes if a not in mapped)
