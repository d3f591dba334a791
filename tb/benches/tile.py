"""cocotb bench of the whole tile periphery (``hw.tile.TilePeriphery``) on a capture file.

Driver: ``ConversionDriver`` converts every vector's phases back to back in
closed loop with the analog front end (idle gaps from a pause pattern); the
``ParamWriter`` loads the capture's NMPU parameters first. Monitors: a
``TapMonitor`` on the SAR's result (``adc_fire``/``adc_payload``) and a
``StreamSink`` on the activations with backpressure. Scoreboards: every ADC
code and raw decision, and every activation, against the golden chain
``model.golden.tile.tile``.

Settings (``$TB_SETTINGS``): ``capture`` path, ``front_end``
(``AnalogFrontEnd.sample`` settings; ``{}`` is the ideal front end),
``active_steps`` (None: all), ``idle`` / ``backpressure`` pause patterns,
``hw_out`` (where the hardware's activations are saved, so ``make sim``
measures the hardware, not the model), ``unit``: ``"fixed"`` (default, the NMPU
with the capture's parameters) or ``"fp16"`` (the FP16 unit, golden chain
``tile(..., unit="fp16")``, the capture's calibration rounded to binary16 by
``model.golden.fp16.fp16_params_from_fixed`` and written as raw patterns).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np

from hw.tile import TilePeriphery
from model.capture import load
from model.files import write_with
from model.fp16 import fp16_params_from_fixed
from model.golden.tile import tile
from model.sar import AnalogFrontEnd, decision_masks
from tb.stimulus.fp16 import FP16PortView, raw_params
from tb.stimulus.pauses import pauses
from tb.stream.bench import Bench, report, settings
from tb.stream.closed_loop import ClosedLoop
from tb.stream.conversion import ConversionDriver
from tb.stream.params import ParamWriter
from tb.stream.payload import port_shape
from tb.stream.ports import StreamSink, TapMonitor
from tb.stream.progress import Progress
from tb.stream.scoreboard import Scoreboard


class TileBench(Bench):
    """The tile with its conversion driver, parameter writer, monitors and scoreboards."""

    def __init__(self, dut, s: dict, seed: int):
        super().__init__(dut, inputs=("start", "cmp", "o__ready", "params__we", "flush"))
        self.capture = cap = load(s["capture"])
        self.config = cfg = cap.tile_config
        unit = s.get("unit", "fixed")
        self.tile = TilePeriphery(cfg, unit)
        self.rng = np.random.default_rng(seed)
        fe = AnalogFrontEnd.sample(cfg.sar, **(s.get("front_end") or {}))
        k = int(s.get("active_steps") or cfg.sar.steps)
        if unit == "fp16":
            fp16_params = fp16_params_from_fixed(cfg.nmpu, cap.params())
            golden = tile(cfg, fe, cap.analog, fp16_params, k, unit="fp16")
            self.params, port_view = raw_params(fp16_params), FP16PortView(cfg.nmpu)
        else:
            self.params, port_view = cap.params(), cfg.nmpu
            golden = tile(cfg, fe, cap.analog, self.params, k)
        self.hw_out = np.zeros_like(golden.activations)

        self.adc_board = Scoreboard("adc", self.log)
        flat_codes = golden.codes.reshape(-1, cfg.columns)
        flat_dec = decision_masks(golden.decisions).reshape(-1, cfg.columns)
        for n in range(len(flat_codes)):
            v, p = divmod(n, cfg.phases)
            self.adc_board.expect(
                f"conversion {n} (vector {v} phase {p})",
                {"codes": flat_codes[n], "decisions": flat_dec[n]},
            )
        self.out_board = Scoreboard("activation", self.log)
        lanes, beats = cfg.nmpu.lanes, cfg.nmpu.beats
        for v, y in enumerate(golden.activations):
            for b in range(beats):
                self.out_board.expect(
                    f"vector {v} beat {b}",
                    {"data": y[b * lanes : (b + 1) * lanes], "last": int(b == beats - 1)},
                    first_column=b * lanes,
                )

        self.writer = ParamWriter(self, port_view)
        loop = ClosedLoop(self.tile.sar, fe, cap.analog.reshape(-1, cfg.columns))
        self.driver = ConversionDriver(
            self, loop, [k] * len(flat_codes), pauses(s.get("idle", "none"), self.rng), self.rng
        )
        self.adc = TapMonitor(
            self, "adc_fire", "adc_payload", port_shape(self.tile, "adc_payload"),
            lambda n, fields, cycle: self.adc_board.observe(fields),
        )  # fmt: skip
        self.sink = StreamSink(
            self, "o", port_shape(self.tile, "o", "payload"),
            pauses(s.get("backpressure", "none"), self.rng), self._output_seen,
        )  # fmt: skip

    def _output_seen(self, n: int, fields: dict, cycle: int) -> None:
        lanes, beats = self.config.nmpu.lanes, self.config.nmpu.beats
        v, b = divmod(n, beats)
        self.hw_out[v, b * lanes : (b + 1) * lanes] = fields["data"]
        self.out_board.observe(fields)

    async def run(self) -> dict:
        cfg = self.config
        await self.reset()
        await self.writer.load(self.params)
        self.driver.start()
        self.adc.start()
        self.sink.start()
        vectors = len(self.hw_out)
        conversions = vectors * cfg.phases
        done = self.sink.expect_count(vectors * cfg.nmpu.beats)
        limit = 50 * conversions * (cfg.sar.steps + 3 + cfg.nmpu.beats) + 1000
        t0, c0 = time.perf_counter(), self.cycle
        progress = Progress(vectors, self.log.info)
        while not done.is_set():
            await self.falling
            progress.update(self.sink.received // cfg.nmpu.beats)
            assert self.cycle - c0 < limit, (
                f"no progress: {self.driver.accepted} started, {self.adc.seen} converted, "
                f"{self.sink.received} beats out"
            )
        seconds, cycles = time.perf_counter() - t0, self.cycle - c0
        await self.cycles(cfg.sar.steps + 10)  # drain: nothing more may appear
        assert self.adc.seen == conversions, f"{self.adc.seen} conversions, {conversions} expected"
        assert self.dut.frame_error.value == 0 and self.dut.param_error.value == 0, (
            "NMPU error flag set"
        )
        return {
            "vectors": vectors,
            "conversions": self.adc.seen,
            "columns": cfg.columns,
            "cycles": cycles,
            "seconds": seconds,
            "errors": self.adc_board.errors + self.out_board.errors,
            **self.adc_board.figures(),
            **self.out_board.figures(),
        }


@cocotb.test()
async def capture_through_tile(dut):
    """A capture through SAR (closed loop) -> serializer -> NMPU, scored by the golden chain."""
    s = settings()
    dut._log.info("seed=%d capture=%s", cocotb.RANDOM_SEED, s["capture"])
    bench = TileBench(dut, s, cocotb.RANDOM_SEED)
    figures = await bench.run()
    write_with(s["hw_out"], lambda fh: np.save(fh, bench.hw_out))
    report({"test": "capture_through_tile", **figures})
    bench.adc_board.assert_clean()
    bench.out_board.assert_clean()
