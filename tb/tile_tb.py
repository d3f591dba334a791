"""cocotb testbench of the whole tile periphery (hw.tile.TilePeriphery) on a capture file.

Per clock (stimulus at the falling edge, sampling at ReadOnly after it, so
what is sampled is what the next rising edge sees, on every simulator):

* analog loop: read the SAR's ``dac`` switch states and answer ``cmp`` from
  the Python analog front end for the conversion being held;
* conversion driver: start the next conversion (one per vector and phase,
  phases back to back) whenever the SAR is idle, optionally after random gaps;
* sink: random backpressure on the NMPU's output;
* monitors and scoreboard: every ADC code and raw decision (``adc_*`` tap) and
  every activation against the golden chain ``sar_convert -> to_signed -> nmpu``.

Settings: JSON in ``$TILE_TB`` (written by ``tb.tile_run``). The hardware's
activations are saved to ``hw_out`` so ``make sim`` measures the hardware, not
the model.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from model.capture import load
from model.nmpu import NMPUConfig, nmpu, param_address
from model.sar import AnalogFrontEnd, SARConfig, sar_convert, to_signed
from tb.sar_bus import dac_states, decision_masks, pack_bits, unpack_payload


class Golden:
    """The golden chain for a capture: ADC codes, decisions and activations."""

    def __init__(self, cap, sar_cfg: SARConfig, nmpu_cfg: NMPUConfig, fe: AnalogFrontEnd, k: int):
        vectors, phases, columns = cap.analog.shape
        self.flat = cap.analog.reshape(vectors * phases, columns)  # conversion n = v*phases + p
        self.codes, dec = sar_convert(sar_cfg, fe, self.flat, active_steps=k)
        self.decisions = decision_masks(dec)
        x = to_signed(sar_cfg, self.codes) if nmpu_cfg.in_signed else self.codes
        self.params = {f: getattr(cap, f) for f in nmpu_cfg.param_fields}
        self.out = nmpu(nmpu_cfg, x.reshape(vectors, phases, columns), **self.params)


class TileBench:
    def __init__(self, dut, settings: dict, seed: int):
        self.dut = dut
        self.cap = load(settings["capture"])
        self.sar_cfg = SARConfig.from_dict(self.cap.sar_config)
        self.nmpu_cfg = NMPUConfig.from_dict(self.cap.nmpu_config)
        fe = settings.get("front_end")
        self.fe = (
            AnalogFrontEnd.sample(self.sar_cfg, **fe) if fe else AnalogFrontEnd.ideal(self.sar_cfg)
        )
        self.k = int(settings.get("active_steps") or self.sar_cfg.steps)
        self.golden = Golden(self.cap, self.sar_cfg, self.nmpu_cfg, self.fe, self.k)
        self.rng = np.random.default_rng(seed)
        self.idle = float(settings.get("idle", 0.0))
        self.backpressure = float(settings.get("backpressure", 0.0))
        self.data_width = len(dut.cfg__data)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        d.start.value = 0
        d.active_steps.value = self.k
        d.cmp.value = 0
        d.o__ready.value = 0
        d.cfg__we.value = 0
        for _ in range(3):
            await FallingEdge(d.clk)
        d.rst.value = 0

    async def load_params(self):
        d = self.dut
        for f, values in self.golden.params.items():
            for c in range(self.nmpu_cfg.columns):
                await FallingEdge(d.clk)
                d.cfg__addr.value = param_address(self.nmpu_cfg, f, c)
                d.cfg__data.value = int(values[c]) & ((1 << self.data_width) - 1)
                d.cfg__we.value = 1
        await FallingEdge(d.clk)
        d.cfg__we.value = 0

    async def run(self) -> dict:
        d, g, ncfg, scfg = self.dut, self.golden, self.nmpu_cfg, self.sar_cfg
        conversions = len(g.flat)
        vectors, lanes, beats = len(g.out), ncfg.lanes, ncfg.beats
        hw_out = np.zeros_like(g.out)
        started = adc_seen = out_beats = cycles = 0
        code_mismatch = dec_mismatch = act_mismatch = 0
        errors: list[str] = []
        limit = 50 * conversions * (scfg.steps + 3 + beats) + 1000
        t0 = time.perf_counter()
        while out_beats < vectors * beats:
            await FallingEdge(d.clk)
            cycles += 1
            assert cycles < limit, (
                f"no progress: {started} started, {adc_seen} converted, {out_beats} beats"
            )
            # analog loop: comparator answers for the conversion the SAR holds
            dac = d.dac.value.to_unsigned()
            if dac:
                states = dac_states(scfg, dac)
                step = int(states.max()).bit_length() - 1
                n = started - 1
                d.cmp.value = pack_bits(self.fe.compare(g.flat[n], states, step, n))
            # conversion driver
            start = (
                started < conversions
                and d.busy.value == 0
                and not (self.idle and self.rng.random() < self.idle)
            )
            d.start.value = int(start)
            started += int(start)
            # sink with backpressure
            ready = not (self.backpressure and self.rng.random() < self.backpressure)
            d.o__ready.value = int(ready)
            await ReadOnly()
            # monitor 1: ADC results entering the serializer
            if d.adc_fire.value == 1:
                codes, dec = unpack_payload(scfg, d.adc_payload.value.to_unsigned())
                n = adc_seen
                bad = np.flatnonzero((codes != g.codes[n]) | (dec != g.decisions[n]))
                code_mismatch += int(np.count_nonzero(codes != g.codes[n]))
                dec_mismatch += int(np.count_nonzero(dec != g.decisions[n]))
                for c in bad[: max(0, 10 - len(errors))]:
                    errors.append(
                        f"conversion {n} column {c}: code {codes[c]} (expected {g.codes[n, c]}), "
                        f"decisions {dec[c]:b} (expected {g.decisions[n, c]:b}, bit i = step i)"
                    )
                adc_seen += 1
            # monitor 2: activations
            if ready and d.o__valid.value == 1:
                if not d.o__payload.value.is_resolvable:
                    d._log.error("X payload %s adc %s", d.o__payload.value, d.adc_payload.value)
                word = d.o__payload.value.to_unsigned()
                v, b = divmod(out_beats, beats)
                w = ncfg.out_width
                for j in range(lanes):
                    raw = (word >> (j * w)) & ((1 << w) - 1)
                    hw_out[v, b * lanes + j] = (
                        raw - (1 << w) if ncfg.out_signed and raw >> (w - 1) else raw
                    )
                last = (word >> (lanes * w)) & 1
                assert last == (b == beats - 1), f"vector {v} beat {b}: last flag {last}"
                want = g.out[v, b * lanes : (b + 1) * lanes]
                got = hw_out[v, b * lanes : (b + 1) * lanes]
                for j in np.flatnonzero(got != want):
                    act_mismatch += 1
                    if len(errors) < 10:
                        errors.append(
                            f"vector {v} column {b * lanes + j}: "
                            f"activation {got[j]}, expected {want[j]}"
                        )
                out_beats += 1
        seconds = time.perf_counter() - t0
        await FallingEdge(d.clk)
        d.o__ready.value = 1
        for _ in range(scfg.steps + 10):  # drain: nothing more may appear
            await ReadOnly()
            assert d.o__valid.value == 0 and d.adc_fire.value == 0, (
                "output beyond the expected stream"
            )
            await FallingEdge(d.clk)
        assert d.frame_error.value == 0 and d.cfg_error.value == 0, "NMPU error flag set"
        for e in errors:
            d._log.error("mismatch: %s", e)
        return {
            "vectors": vectors,
            "conversions": adc_seen,
            "columns": ncfg.columns,
            "codes_checked": adc_seen * scfg.columns,
            "activations_checked": out_beats * lanes,
            "code_mismatches": code_mismatch,
            "decision_mismatches": dec_mismatch,
            "activation_mismatches": act_mismatch,
            "cycles": cycles,
            "seconds": seconds,
            "errors": errors,
        }, hw_out


@cocotb.test()
async def capture_through_tile(dut):
    """A capture through SAR (closed loop) -> serializer -> NMPU, scored by the golden chain."""
    settings = json.loads(os.environ["TILE_TB"])
    seed = cocotb.RANDOM_SEED
    dut._log.info("seed=%d capture=%s", seed, settings["capture"])
    bench = TileBench(dut, settings, seed)
    await bench.reset()
    await bench.load_params()
    figures, hw_out = await bench.run()
    np.save(settings["hw_out"], hw_out)
    with open(settings["summary"], "w") as fh:
        json.dump(figures, fh)
    total = (
        figures["code_mismatches"]
        + figures["decision_mismatches"]
        + figures["activation_mismatches"]
    )
    assert total == 0, f"{total} mismatches; first: {figures['errors']}"
