"""cocotb side of the SAR bulk harness (``tb.harness.sar.SARHarness``): load, wait, read back.

Python touches the simulation once per chunk: it loads the analog stimulus
(held inputs ``X`` and ``active_steps`` per conversion) and the integer front
end's per-column weights and offsets, starts the run, and for every chunk
waits for ``done``, reads the results (``out_mem``: codes and raw decisions)
back and scores them against ``model.golden.sar.sar_convert`` with the same
``IntegerFrontEnd``. A mismatch is reported by conversion, column and stage
(``decision step i``, the first step whose decision differs, or ``code``).

Stimulus: inputs uniform over 1.05 x full scale (beyond it on both sides), a
quarter of them placed so that a random trial state of the column is exactly
on the comparator's threshold (``X + O + noise == D``, noise included, so the
``>=`` of a tie is exercised; the ties that happen are counted), random
``active_steps`` per conversion; the noise keys run across ``2**32`` (the
RTL's 32-bit index wraps where the model takes it mod ``2**32``).

Settings (``$TB_SETTINGS``): ``config`` (``SARConfig.to_dict``), ``stim_depth``,
``out_depth``, ``frac_bits``, ``stim_conversions``, ``conversions`` (per cocotb
test), ``front_end`` (``AnalogFrontEnd.sample`` settings, quantised by
``IntegerFrontEnd.from_analog``), ``pairs`` ((idle, backpressure) patterns,
default all), ``approximate`` (random ``active_steps``, default true),
optionally ``corrupt`` (``{"conversion", "column", "stage"}``, stage ``code``
or ``decision step i``: a deliberately wrong expectation, to show the check
can fail).
"""

from __future__ import annotations

import cocotb
import numpy as np

from model.analog.integer_frontend import IntegerFrontEnd
from model.sar import AnalogFrontEnd, SARConfig, decision_masks, sar_convert
from tb.harness.common import CORE
from tb.harness.sar import SARHarness
from tb.harness_benches.bulk import BulkRun, harness_clock, harness_seed, pattern_pairs
from tb.harness_benches.closed_loop_start import (
    front_end_inputs,
    load_and_go,
    load_stimulus_and_front_end,
)
from tb.stimulus.pauses import PATTERNS
from tb.stream.bench import CLOCK_NS, Bench, settings
from tb.stream.payload import Codec, port_shape
from tb.stream.scoreboard import Scoreboard

#: Share of the inputs placed exactly on a threshold.
TIE_SHARE = 0.25


def stimulus(cfg: SARConfig, fe: IntegerFrontEnd, rng, n: int, first_index: int, approximate):
    """Inputs [n, columns] and active_steps [n] for stimulus slots 0..n-1.

    Slot ``r`` is conversion ``r`` of the run's first pass (noise key
    ``first_index + r``); a :data:`TIE_SHARE` of its inputs are set so that
    ``X + O + noise == D(s)`` at the last step ``j < active_steps`` of a random
    trial state ``s`` (a tie if the search reaches ``s``).
    """
    v = rng.uniform(-1.05, 1.05, (n, cfg.columns))
    steps = rng.integers(1, cfg.steps + 1, n) if approximate else np.full(n, cfg.steps)
    j = rng.integers(0, steps[:, None], (n, cfg.columns))  # the tie's step
    s = rng.integers(0, np.int64(1) << j) | (np.int64(1) << j)  # random kept bits below j
    index = first_index + np.arange(n)
    noise = np.stack([fe.noise(index, i) for i in range(cfg.steps)], axis=-1)
    noise_j = np.take_along_axis(noise, j[..., None], axis=-1)[..., 0]
    x = fe.dac_level(s) - fe.offset - noise_j
    scale = 1 << (fe.out_width - 1 + fe.frac_bits)
    on = (rng.random(v.shape) < TIE_SHARE) & (x >= 0) & (x <= 2 * scale)
    v[on] = x[on] / scale - 1.0  # exact: a power-of-two scaling of an integer
    held = fe.held_input(v)
    assert (held[on] == x[on]).all(), "a threshold input does not hold its exact X"
    return v, steps


def count_ties(cfg: SARConfig, fe: IntegerFrontEnd, v, steps, decisions, first_index: int):
    """Decisions taken with ``X + O + noise == D`` exactly (step < active_steps)."""
    lhs = fe.held_input(v) + fe.offset
    index = first_index + np.arange(len(v))
    kept = np.zeros(v.shape, np.int64)
    ties = 0
    for i in range(cfg.steps):
        trial = kept | (1 << i)
        level = fe.dac_level(trial)
        ties += int(((lhs + fe.noise(index, i) == level) & (i < steps[:, None])).sum())
        kept |= decisions[..., i].astype(np.int64) << i
    return ties


def _bits(mask: int, steps: int) -> str:
    """Decisions of one column as a string, step 0 first."""
    return "".join(str(mask >> i & 1) for i in range(steps))


def corrupted(want: dict, corrupt: dict | None, first: int) -> dict:
    """``want`` with one expected value altered by ``corrupt`` (a test that the check can
    fail): ``{"conversion", "column", "stage"}``, stage ``code`` or ``decision step i``."""
    want = {key: value.copy() for key, value in want.items()}
    if corrupt and 0 <= corrupt["conversion"] - first < len(want["codes"]):
        r, c, stage = corrupt["conversion"] - first, corrupt["column"], corrupt["stage"]
        if stage == "code":
            want["codes"][r, c] += 1
        elif stage.startswith("decision step "):
            want["decisions"][r, c] ^= 1 << int(stage.rsplit(" ", 1)[1])
        else:
            raise ValueError(f"corrupt.stage must be 'code' or 'decision step i', not {stage!r}")
    return want


def describe_mismatch(cfg: SARConfig, got: dict, want: dict, steps, first: int):
    """``describe`` for the scoreboard: a conversion's decisions at the first step that
    differs (later trial states follow from it), then its code."""

    def describe(field, at):
        r, c = at
        g, e = int(got[field][at]), int(want[field][at])
        if field == "decisions":
            i = ((g ^ e) & -(g ^ e)).bit_length() - 1  # first step that differs
            text = (
                f"decision step {i}: expected {e >> i & 1}, got {g >> i & 1} (step 0 first: "
                f"expected {_bits(e, cfg.steps)}, got {_bits(g, cfg.steps)}; "
                f"active_steps {steps[r]})"
            )
        else:
            text = f"code: expected {e}, got {g} (active_steps {steps[r]})"
        return (first + r, c, field == "codes"), f"conversion {first + r} column {c} stage {text}"

    return describe


@cocotb.test()
@cocotb.parametrize(pair=pattern_pairs())
async def bulk(dut, pair: tuple[str, str]):
    """Run ``conversions`` conversions in closed loop with idle x backpressure."""
    idle, backpressure = pair
    s = settings()
    cfg = SARConfig.from_dict(s["config"])
    frac_bits = int(s["frac_bits"])
    harness = SARHarness(
        cfg, stim_depth=s["stim_depth"], out_depth=s["out_depth"], frac_bits=frac_bits
    )
    fmt = harness.format
    seed = harness_seed()
    rng = np.random.default_rng(seed)
    dut._log.info("seed=%d pair=%s", seed, pair)
    fe = IntegerFrontEnd.from_analog(
        AnalogFrontEnd.sample(cfg, **s.get("front_end", {})), frac_bits
    )
    bench = Bench(dut, inputs=("go", "load", "resume"), clock=harness_clock())
    core = getattr(dut, CORE)  # the harness's memories live here
    await bench.reset()

    # Load: analog stimulus, front end. The noise keys cross 2**32 mid-run.
    conversions = int(s["conversions"])
    first_index = (1 << 32) - int(rng.integers(1, max(2, conversions)))
    stim_n = int(s["stim_conversions"])
    analog, steps = stimulus(cfg, fe, rng, stim_n, first_index, s.get("approximate", True))
    m = min(stim_n, conversions)  # the first pass, where the ties were placed
    _, first_pass = sar_convert(cfg, fe, analog[:m], steps[:m], first_index=first_index)
    ties = count_ties(cfg, fe, analog[:m], steps[:m], first_pass, first_index)
    load_stimulus_and_front_end(core, fmt, fe, analog, steps)
    await load_and_go(
        dut,
        bench,
        {
            "conversions": conversions,
            "stim_conversions": stim_n,
            "seed": seed,
            "idle_pattern": PATTERNS.index(idle),
            "bp_pattern": PATTERNS.index(backpressure),
            **front_end_inputs(fmt, fe, first_index),
        },
    )

    out_codec = Codec(port_shape(harness.dut, "o", "payload"))
    scoreboard = Scoreboard("conversion", dut._log)
    # A chunk takes (steps + 2) cycles per conversion at full rate; pauses at most
    # triple that (bursty: up to 8 paused cycles per 1 active). Generous bound, no hang.
    run = BulkRun(
        bench,
        {"out_mem": out_codec.width},
        scoreboard,
        chunk_timeout_ns=harness.out_depth * (cfg.steps + 2) * 40 * CLOCK_NS,
    )
    # Start-to-start period of each active_steps with no idle and no backpressure.
    periods = np.array([0] + [harness.dut.period_at(k) for k in range(1, cfg.steps + 1)])
    full_rate_cycles = 0

    def score(first: int, n: int, mems: dict) -> int:
        """Conversions ``first``.. of the chunk against ``sar_convert`` (same front end)."""
        nonlocal full_rate_cycles
        out = out_codec.unpack_bytes(mems["out_mem"][:n])
        slots = np.arange(first, first + n) % stim_n
        codes, decisions = sar_convert(
            cfg, fe, analog[slots], steps[slots], first_index=first_index + first
        )
        got = {"codes": out["codes"], "decisions": out["decisions"]}
        want = {"codes": codes, "decisions": decision_masks(decisions)}
        want = corrupted(want, s.get("corrupt"), first)
        scoreboard.compare(got, want, describe_mismatch(cfg, got, want, steps[slots], first))
        full_rate_cycles += int(periods[steps[slots]].sum())
        return n

    done = await run.run(conversions, score)
    run.finish(
        {
            "test": f"bulk_{idle}_{backpressure}",
            "conversions": done,
            "columns": cfg.columns,
            "ties": ties,
            "beyond_full_scale": int((np.abs(analog) > 1).sum()),
            "full_rate_cycles": full_rate_cycles,
        }
    )
    assert done == conversions, f"{done} results, {conversions} due"
    assert int(dut.started.value) == conversions, f"{int(dut.started.value)} conversions started"
