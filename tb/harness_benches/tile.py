"""cocotb side of the tile bulk harness (``tb.harness.tile.TileHarness``): load, wait, read back.

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
true), optionally ``stimulus`` (an ``.npz`` of ``analog`` [stim_conversions, columns],
``steps`` and the parameters to load instead of random ones: ``flows.sweep``'s RTL
check), optionally ``corrupt`` (``{"vector", "column", "stage"}``: a
deliberately wrong expectation, to show the harness can fail).
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth.hdl import unsigned

from model.analog.integer_frontend import IntegerFrontEnd
from model.golden.tile import TileConfig, tile
from model.nmpu import NMPUConfig
from model.sar import AnalogFrontEnd, SARConfig, decision_masks
from tb.harness.common import CORE
from tb.harness.tile import TileHarness
from tb.harness.write_replay import WriteReplay
from tb.harness_benches.bulk import BulkRun, harness_clock, harness_seed, pattern_pairs
from tb.harness_benches.closed_loop_start import (
    front_end_inputs,
    load_and_go,
    load_stimulus_and_front_end,
)
from tb.stimulus.nmpu import random_params
from tb.stimulus.pauses import PATTERNS
from tb.stream.bench import Bench, settings
from tb.stream.params import ParamWriter
from tb.stream.payload import Codec, port_shape
from tb.stream.scoreboard import Scoreboard


def tile_config(d: dict) -> TileConfig:
    return TileConfig(SARConfig.from_dict(d["sar"]), NMPUConfig.from_dict(d["nmpu"]))


#: Scoreboard field -> stage name in mismatch messages.
STAGES = {"codes": "adc code", "decisions": "adc decisions", "activations": "activation"}


def corrupted(want: dict, corrupt: dict | None, first_vector: int) -> dict:
    """``want`` with one expected value altered by ``corrupt`` (``{"vector", "column",
    "stage"}``: a test that the check can fail)."""
    want = {key: value.copy() for key, value in want.items()}
    if corrupt and 0 <= corrupt["vector"] - first_vector < len(want["activations"]):
        v, c, stage = corrupt["vector"] - first_vector, corrupt["column"], corrupt["stage"]
        key = {name: key for key, name in STAGES.items()}.get(stage, "activations")
        if key == "activations":
            want[key][v, c] += 1
        else:
            want[key][v, 0, c] ^= 1
    return want


def describe_mismatch(cfg: TileConfig, got: dict, want: dict, first_vector: int):
    """``describe`` for the scoreboard: vector, column and stage, earliest stage first."""

    def describe(field, at):
        v, c = at[0], at[-1]
        if field == "last":
            v, b = at
            c, stage = b * cfg.nmpu.lanes, f"last flag of beat {b}"
        elif field == "activations":
            stage = STAGES[field]
        else:
            stage = f"{STAGES[field]} (phase {at[1]})"
        return (first_vector + v, c), (
            f"vector {first_vector + v} column {c} stage {stage}: "
            f"expected {int(want[field][at])}, got {int(got[field][at])}"
        )

    return describe


@cocotb.test()
@cocotb.parametrize(pair=pattern_pairs())
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
    seed = harness_seed()
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
    initial = random_params(nm, rng)
    if s.get("stimulus"):  # given vectors (flows.sweep's RTL check): held inputs, steps, params
        given = np.load(s["stimulus"])
        analog, steps = given["analog"], given["steps"]
        initial = {f: given[f] for f in nm.param_fields}
    load_stimulus_and_front_end(core, fmt, fe, analog, steps)
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
    log_codec = Codec(unsigned(32))
    log_mask, adc_mask = harness.log_depth - 1, harness.adc_depth - 1
    P, beats = cfg.phases, nm.beats
    want_last = np.arange(beats) == beats - 1
    scoreboard = Scoreboard("tile", dut._log)
    run = BulkRun(
        bench,
        {"out_mem": out_codec.width, "adc_mem": adc_codec.width, "vec_log": 32},
        scoreboard,
    )

    def score(first_vector: int, n: int, mems: dict) -> int:
        """Vectors ``first_vector``.. of the chunk (ADC codes, decisions, activations, ``last``)
        against the golden chain with the same front end and the parameters each saw."""
        assert n % beats == 0, f"chunk of {n} beats is not whole vectors"
        nv = n // beats
        convs = np.arange(first_vector * P, (first_vector + nv) * P)
        adc_total = int(dut.adc_total.value)
        assert adc_total - convs[0] <= harness.adc_depth, (
            f"ADC ring overrun: {adc_total} conversions, chunk starts at {convs[0]}"
        )
        out = out_codec.unpack_bytes(mems["out_mem"][:n])
        adc = adc_codec.unpack_bytes(mems["adc_mem"][convs & adc_mask])
        vids = np.arange(first_vector, first_vector + nv)
        counts = log_codec.unpack_bytes(mems["vec_log"])[""][vids & log_mask]
        slots = convs % stim_n
        chain = tile(
            cfg, fe, analog[slots].reshape(nv, P, cfg.columns), replay.for_vectors(counts),
            steps[slots], first_index=first_index + int(convs[0]),
        )  # fmt: skip
        got = {
            "codes": adc["codes"].reshape(nv, P, cfg.columns),
            "decisions": adc["decisions"].reshape(nv, P, cfg.columns),
            "activations": out["data"].reshape(nv, cfg.columns),
            "last": out["last"].reshape(nv, beats),
        }
        want = {
            "codes": chain.codes,
            "decisions": decision_masks(chain.decisions),
            "activations": chain.activations,
            "last": np.broadcast_to(want_last, (nv, beats)),
        }
        want = corrupted(want, s.get("corrupt"), first_vector)
        scoreboard.compare(got, want, describe_mismatch(cfg, got, want, first_vector))
        return nv

    done = await run.run(vectors, score)
    run.finish(
        {
            "test": f"bulk_{idle}_{backpressure}",
            "vectors": vectors,
            "conversions": vectors * P,
            "columns": cfg.columns,
            "beats_out": done * beats,
            "param_writes": int(dut.writes_issued.value),
        }
    )
    assert dut.frame_error.value == 0 and dut.param_error.value == 0, "NMPU error flag set"
    assert done == vectors, f"{done} vectors checked, {vectors} due"
    assert int(dut.adc_total.value) == vectors * P, "ADC conversions != vectors * phases"
