"""cocotb side of the tile bulk harness (``tb.tile_harness.TileHarness``): load, wait, read back.

Python touches the simulation once per chunk: it loads the analog stimulus
(held inputs ``X`` and ``active_steps`` per conversion), the integer front
end's per-column weights and offsets and the NMPU's initial parameters,
starts the run, and for every chunk waits for ``done``, reads the
activations (``out_mem``), the ADC results of the chunk's conversions
(``adc_mem``) and the write log (``vec_log``) back, and scores them against
``model.golden.tile.tile`` with the same ``IntegerFrontEnd``. A mismatch is
reported by vector, column and stage (``adc code`` / ``adc decisions`` of a
phase, or ``activation``).

Settings (``$TB_SETTINGS``): ``config`` (``TileConfig.to_dict``), ``stim_depth``,
``out_depth``, ``frac_bits``, ``stim_conversions``, ``vectors``, ``write_rate``,
``front_end`` (``AnalogFrontEnd.sample`` settings, quantised by
``IntegerFrontEnd.from_analog``), ``pairs`` ((idle, backpressure) patterns,
default all), ``approximate`` (random ``active_steps`` per conversion, default
true), optionally ``corrupt`` (``{"vector", "column", "stage"}``: a
deliberately wrong expectation, to show the harness can fail).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from amaranth.hdl import unsigned
from cocotb.triggers import RisingEdge

from model.analog.integer_frontend import IntegerFrontEnd
from model.analog.sar_frontend import AnalogFrontEnd
from model.golden.nmpu import NMPUConfig
from model.golden.sar import SARConfig, decision_masks
from model.golden.tile import TileConfig, tile
from tb.bench import Bench, MemoryDump, harness_clock, next_chunk, report, settings
from tb.closed_loop_start import front_end_inputs, load_and_go, load_stimulus_and_front_end
from tb.harness import CORE, MASK64, WriteReplay
from tb.params import ParamWriter
from tb.pauses import PATTERNS
from tb.payload import Codec, port_shape
from tb.stimulus import random_params
from tb.tile_harness import TileHarness

PAIRS = [tuple(p) for p in settings().get("pairs", [])] or [
    (idle, bp) for idle in PATTERNS for bp in PATTERNS
]
#: Mismatches listed in the log and the figures (all are counted).
MAX_LISTED = 10


def tile_config(d: dict) -> TileConfig:
    return TileConfig(SARConfig.from_dict(d["sar"]), NMPUConfig.from_dict(d["nmpu"]))


def compare_chunk(cfg: TileConfig, got: dict, want, first_vector: int, corrupt=None) -> list:
    """(vector, column, stage, expected, got) of every mismatch in a chunk, earliest stage first.

    ``got``: ``codes`` [v, phases, columns], ``decisions`` (masks, same shape),
    ``activations`` [v, columns]; ``want``: ``TileOutputs``. ``corrupt``
    alters one expected value first (a test that the check can fail).
    """
    exp = {
        "codes": want.codes.copy(),
        "decisions": decision_masks(want.decisions),
        "activations": want.activations.copy(),
    }
    if corrupt:
        v = corrupt["vector"] - first_vector
        if 0 <= v < len(exp["activations"]):
            stage, c = corrupt["stage"], corrupt["column"]
            key = {"adc code": "codes", "adc decisions": "decisions"}.get(stage, "activations")
            if key == "activations":
                exp[key][v, c] += 1
            else:
                exp[key][v, 0, c] ^= 1
    out = []
    for key, stage in (("codes", "adc code"), ("decisions", "adc decisions")):
        for v, p, c in np.argwhere(got[key] != exp[key]):
            out.append(
                (first_vector + v, c, f"{stage} (phase {p})", exp[key][v, p, c], got[key][v, p, c])
            )
    for v, c in np.argwhere(got["activations"] != exp["activations"]):
        out.append(
            (first_vector + v, c, "activation", exp["activations"][v, c], got["activations"][v, c])
        )
    return sorted(out, key=lambda e: (e[0], e[1]))


@cocotb.test()
@cocotb.parametrize(pair=PAIRS)
async def bulk(dut, pair: tuple[str, str]):
    """Convert ``vectors`` vectors in closed loop with idle x backpressure and parameter writes."""
    idle, backpressure = pair
    s = settings()
    cfg = tile_config(s["config"])
    nm, sar = cfg.nmpu, cfg.sar
    harness = TileHarness(
        cfg, stim_depth=s["stim_depth"], out_depth=s["out_depth"], frac_bits=s["frac_bits"]
    )
    fmt = harness.format
    seed = (cocotb.RANDOM_SEED % MASK64) | 1  # a 64-bit xorshift state must not be 0
    rng = np.random.default_rng(seed)
    dut._log.info("seed=%d pair=%s", seed, pair)
    fe = IntegerFrontEnd.from_analog(
        AnalogFrontEnd.sample(sar, **s.get("front_end", {})), s["frac_bits"]
    )
    bench = Bench(dut, inputs=("go", "load", "resume", "params__we"), clock=harness_clock())
    core = getattr(dut, CORE)  # the harness's memories live here
    await bench.reset()

    # Load: analog stimulus (inputs beyond full scale included), front end, parameters.
    stim_n = int(s["stim_conversions"])
    analog = rng.uniform(-1.05, 1.05, (stim_n, cfg.columns))
    grid = rng.random(analog.shape) < 0.25  # some inputs exactly on DAC levels (ties)
    fine = 1 << (sar.out_width - 1 + fe.frac_bits)
    analog[grid] = np.round(analog[grid] * fine) / fine
    if s.get("approximate", True):
        steps = rng.integers(1, sar.steps + 1, stim_n)
    else:
        steps = np.full(stim_n, sar.steps)
    load_stimulus_and_front_end(core, fmt, fe, analog, steps)
    initial = random_params(nm, rng)
    await ParamWriter(bench, nm).load(initial)
    replay = WriteReplay(nm, initial, seed)

    vectors = int(s["vectors"])
    first_index = int(rng.integers(0, 1 << 31))
    await load_and_go(
        dut,
        bench,
        {
            "vectors": vectors,
            "stim_conversions": stim_n,
            "seed": seed,
            "idle_pattern": PATTERNS.index(idle),
            "bp_pattern": PATTERNS.index(backpressure),
            "write_rate": int(s["write_rate"]),
            **front_end_inputs(fmt, fe, first_index),
        },
    )

    out_codec = Codec(port_shape(harness.dut, "o", "payload"))
    adc_codec = Codec(port_shape(harness.dut, "adc_payload"))
    dump = MemoryDump(
        bench, {"out_mem": out_codec.width, "adc_mem": adc_codec.width, "vec_log": 32}
    )
    log_mask, adc_mask = harness.log_depth - 1, harness.adc_depth - 1
    P, beats = cfg.phases, nm.beats
    first_vector, checked, errors, mismatches = 0, 0, [], 0
    t0, c0, sim_seconds = time.perf_counter(), bench.cycle, 0.0
    while first_vector < vectors:
        t_wait = time.perf_counter()
        if dut.done.value != 1:
            await RisingEdge(dut.done)
        await bench.falling
        sim_seconds += time.perf_counter() - t_wait
        n = int(dut.out_count.value)
        assert n % beats == 0, f"chunk of {n} beats is not whole vectors"
        nv = n // beats
        convs = np.arange(first_vector * P, (first_vector + nv) * P)
        adc_total = int(dut.adc_total.value)
        assert adc_total - convs[0] <= harness.adc_depth, (
            f"ADC ring overrun: {adc_total} conversions, chunk starts at {convs[0]}"
        )
        mems = await dump()
        out = out_codec.unpack_bytes(mems["out_mem"][:n])
        adc = adc_codec.unpack_bytes(mems["adc_mem"][convs & adc_mask])
        vids = np.arange(first_vector, first_vector + nv)
        counts = Codec(unsigned(32)).unpack_bytes(mems["vec_log"])[""][vids & log_mask]
        params = replay.for_vectors(counts)
        slots = convs % stim_n
        want = tile(
            cfg, fe, analog[slots].reshape(nv, P, cfg.columns), params,
            steps[slots], first_index=first_index + int(convs[0]),
        )  # fmt: skip
        got = {
            "codes": adc["codes"].reshape(nv, P, cfg.columns),
            "decisions": adc["decisions"].reshape(nv, P, cfg.columns),
            "activations": out["data"].reshape(nv, cfg.columns),
        }
        bad = compare_chunk(cfg, got, want, first_vector, s.get("corrupt"))
        last = out["last"].reshape(nv, beats)
        for v, b in np.argwhere(last != (np.arange(beats) == beats - 1)):
            bad.append((first_vector + v, b * nm.lanes, f"last flag of beat {b}", 1 - last[v, b],
                        last[v, b]))  # fmt: skip
        mismatches += len(bad)
        for v, c, stage, e, g in bad[: max(0, MAX_LISTED - len(errors))]:
            errors.append(f"vector {v} column {c} stage {stage}: expected {e}, got {g}")
        checked += n
        first_vector += nv
        await next_chunk(dut, bench)
    seconds = time.perf_counter() - t0
    for e in errors:
        dut._log.error("mismatch: %s", e)
    report(
        {
            "test": f"bulk_{idle}_{backpressure}",
            "vectors": vectors,
            "conversions": vectors * P,
            "columns": cfg.columns,
            "beats_out": checked,
            "param_writes": int(dut.writes_issued.value),
            "cycles": bench.cycle - c0,
            "seconds": seconds,
            "sim_seconds": sim_seconds,
            "mismatches": mismatches,
            "errors": errors,
        }
    )
    assert dut.frame_error.value == 0 and dut.param_error.value == 0, "NMPU error flag set"
    assert mismatches == 0, f"{mismatches} mismatches; first: {errors}"
    assert checked == vectors * beats, f"{checked} output beats, {vectors * beats} due"
    assert int(dut.adc_total.value) == vectors * P, "ADC conversions != vectors * phases"
