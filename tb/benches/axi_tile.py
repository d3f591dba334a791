"""cocotb bench of the AXI-wrapped tile (``hw.axi.tile_axi``) on a capture, as ``make sim``
runs it, scored by the golden chain (``model.golden.tile.tile``).

Parameters and ``ADC_CTRL.active_steps`` go in through ``AxiLiteMaster``; the conversions run
in closed loop with the capture's analog front end (``tb.stream.conversion``, the tile
bench's driver); the activations come out of ``m_axis`` into an ``AxiStreamSink`` with
backpressure, one frame per vector. ``active_steps`` is set one below a full conversion,
so a register that did not reach the SAR (reset value: full) would show.

Settings: ``capture`` (path), ``vectors`` (the first ones of the capture), ``front_end``
(``AnalogFrontEnd.sample`` settings), ``backpressure``, ``idle``.
"""

from __future__ import annotations

import hashlib
import logging

import cocotb
import numpy as np
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamSink

from hw.axi.axis import lane_slot
from hw.axi.tile_axi import TileAxi
from model.capture import load
from model.golden.tile import tile
from model.sar import AnalogFrontEnd
from tb.stimulus.pauses import pauses
from tb.stream.bench import Bench, report, settings
from tb.stream.closed_loop import ClosedLoop
from tb.stream.conversion import ConversionDriver


class _Held:
    """``active_steps`` as the conversion driver sees it: a register, not a pin (the driver
    writes and reads ``.value``; the SAR takes the register's value)."""

    def __init__(self, value: int):
        self.value = value


class _RegisterSteps:
    """The bench as the conversion driver sees it: the DUT's pins, with ``active_steps`` held
    in :class:`_Held` (the wrapper has no such pin: Verilator would not find it)."""

    def __init__(self, bench: Bench, k: int):
        self._bench = bench
        pins = {name: getattr(bench.dut, name) for name in ("start", "busy", "dac", "cmp")}
        self.dut = type("Pins", (), {**pins, "active_steps": _Held(k)})()

    def __getattr__(self, name):
        return getattr(self._bench, name)


@cocotb.test()
async def capture_through_axi_tile(dut):
    """The capture's first vectors through the AXI tile: activations exact, VECTORS counts."""
    s = settings()
    cap = load(s["capture"])
    cfg = cap.tile_config
    n = int(s["vectors"])
    analog = cap.analog[:n]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    wrapper = TileAxi(cfg)
    rmap = wrapper.regmap
    k = cfg.sar.steps - 1
    fe = AnalogFrontEnd.sample(cfg.sar, **s["front_end"])
    golden = tile(cfg, fe, analog, cap.params(), k)

    bench = Bench(dut, inputs=("start", "cmp", "m_axis_tready", "s_axil_awvalid",
                               "s_axil_wvalid", "s_axil_arvalid"))  # fmt: skip
    dut.rst_n.value = 0
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                         reset_active_level=False)  # fmt: skip
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst_n,
                         reset_active_level=False)  # fmt: skip
    for model in (axil.write_if, axil.read_if, sink):
        model.log.setLevel(logging.WARNING)
    sink.set_pause_generator(pauses(s.get("backpressure", "none"), rng))
    await bench.cycles(4)
    dut.rst_n.value = 1
    await bench.cycles(2)

    async def reg(name: str) -> int:
        r = await axil.read(rmap[name].address, 4)
        assert r.resp == AxiResp.OKAY, f"{name}: {r.resp}"
        return int.from_bytes(r.data, "little")

    assert await reg("ID") == 0x54494C45, "ID.magic is not 'TILE'"
    adc = await reg("ADC_CONFIG")
    assert adc == cfg.sar.steps | cfg.sar.out_width << 8, f"ADC_CONFIG {adc:#x}"
    assert await reg("ADC_CTRL") == cfg.sar.steps, "ADC_CTRL.active_steps reset is not full"
    for field, values in cap.params().items():
        r = next(r for r in rmap.registers if r.param == field)
        mask = (1 << r.fields[0].width) - 1
        for col, v in enumerate(values):
            await axil.write(r.address + 4 * col, (int(v) & mask).to_bytes(4, "little"))
    await axil.write(rmap["ADC_CTRL"].address, k.to_bytes(4, "little"))
    assert await reg("ADC_CTRL") == k

    loop = ClosedLoop(wrapper.tile.sar, fe, analog.reshape(-1, cfg.columns))
    driver = ConversionDriver(_RegisterSteps(bench, k), loop, [k] * (n * cfg.phases),
                              pauses(s.get("idle", "none"), rng), rng)  # fmt: skip
    driver.start()
    out_bytes = lane_slot(cfg.nmpu.out_width) // 8
    digest = hashlib.sha256()
    for v in range(n):
        data = bytes((await sink.recv()).tdata)
        digest.update(data)
        got = np.array([int.from_bytes(data[i : i + out_bytes], "little",
                                       signed=cfg.nmpu.out_signed)
                        for i in range(0, len(data), out_bytes)])  # fmt: skip
        want = golden.activations[v]
        assert len(got) == cfg.columns, f"vector {v}: frame of {len(got)} outputs"
        bad = np.flatnonzero(got != want)
        assert not bad.size, (
            f"vector {v} column {bad[0]}: got {got[bad[0]]}, expected {want[bad[0]]}"
        )
    assert await reg("VECTORS") == n
    assert await reg("FRAME_ERRORS") == 0
    report({"test": "capture_through_axi_tile", "vectors": n, "columns": cfg.columns,
            "active_steps": k, "output_digest": digest.hexdigest()})  # fmt: skip
