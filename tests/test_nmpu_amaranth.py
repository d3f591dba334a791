"""Fast tier: hw.nmpu.NMPU in Amaranth's own simulator against model.nmpu.nmpu.

Small configurations, random input gaps and output backpressure, parameter
writes at random cycles (including in the middle of a vector). The cocotb
tier (tests/test_nmpu_cocotb.py) repeats this on the generated Verilog.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.nmpu import NMPU
from model.nmpu import NMPUConfig, nmpu, param_address
from tb.nmpu_stimulus import random_codes, random_params

SMALL = dict(columns=8, lanes=2)
CONFIGS = {
    "default_small": NMPUConfig(**SMALL),
    "lanes_eq_columns": NMPUConfig(columns=4, lanes=4),
    "one_lane": NMPUConfig(columns=3, lanes=1),
    "bitsliced": NMPUConfig(**SMALL, phases=2, phase_shifts=(4, 0), in_width=4, in_signed=False),
    "posneg_half_even": NMPUConfig(
        **SMALL, phases=2, phase_signs=(1, -1), rounding="half_even", mid_width=10
    ),
    "nobn_trunc_none": NMPUConfig(
        **SMALL, bn=False, rounding="trunc", activation="none", out_lsb_cut=0, out_round_bits=3
    ),
    "relu_clip_phases4": NMPUConfig(
        **SMALL, phases=4, phase_shifts=(3, 2, 1, 0), activation="relu_clip", relu_max=100
    ),
}


def run_nmpu_sim(cfg: NMPUConfig, seed: int, vectors: int, gaps: bool, writes: bool):
    """Stream ``vectors`` through the DUT; returns (expected, actual) outputs [vectors, columns]."""
    rng = np.random.default_rng(seed)
    dut = NMPU(cfg)
    codes = random_codes(cfg, rng, vectors)
    params = random_params(cfg, rng)
    snapshots = []  # parameters in force for each vector (taken at its first beat)
    actual = []
    fields = cfg.param_fields

    async def bench(ctx):
        shadow = {f: params[f].copy() for f in fields}
        for f in fields:  # initial load through the configuration port
            for c in range(cfg.columns):
                ctx.set(dut.cfg.addr, param_address(cfg, f, c))
                ctx.set(dut.cfg.data, int(shadow[f][c]) & ((1 << dut.cfg.data.shape().width) - 1))
                ctx.set(dut.cfg.we, 1)
                await ctx.tick()
        ctx.set(dut.cfg.we, 0)
        beats = [
            (v, k, b) for v in range(vectors) for k in range(cfg.phases) for b in range(cfg.beats)
        ]
        pos = 0
        out_beats = 0
        total_out = vectors * cfg.beats
        cycles = 0
        while out_beats < total_out:
            cycles += 1
            assert cycles < 50 * (len(beats) + 20), "NMPU stalled"
            # drive this cycle
            valid = pos < len(beats) and not (gaps and rng.random() < 0.3)
            if valid:
                v, k, b = beats[pos]
                for j in range(cfg.lanes):
                    ctx.set(dut.i.payload.codes[j], int(codes[v, k, b * cfg.lanes + j]))
                ctx.set(dut.i.payload.first, b == 0)
                ctx.set(dut.i.payload.last, b == cfg.beats - 1)
            ctx.set(dut.i.valid, valid)
            ready = not (gaps and rng.random() < 0.3)
            ctx.set(dut.o.ready, ready)
            write = writes and rng.random() < 0.2
            if write:
                f = fields[rng.integers(len(fields))]
                c = int(rng.integers(cfg.columns))
                fmt = cfg.param_format(f)
                value = int(rng.integers(fmt.min_raw, fmt.max_raw, endpoint=True))
                ctx.set(dut.cfg.addr, param_address(cfg, f, c))
                ctx.set(dut.cfg.data, value & ((1 << fmt.width) - 1))
            ctx.set(dut.cfg.we, write)
            # sample the handshakes that complete at this edge
            i_fire = valid and ctx.get(dut.i.ready)
            o_fire = ready and ctx.get(dut.o.valid)
            if o_fire:
                data = [ctx.get(dut.o.payload.data[j]) for j in range(cfg.lanes)]
                last = ctx.get(dut.o.payload.last)
                assert last == (out_beats % cfg.beats == cfg.beats - 1), (
                    f"last flag, beat {out_beats}"
                )
                actual.extend(data)
                out_beats += 1
            if i_fire:
                v, k, b = beats[pos]
                if k == 0 and b == 0:
                    snapshots.append({f: shadow[f].copy() for f in fields})
                pos += 1
            if write:
                shadow[f][c] = value
            await ctx.tick()
        # nothing extra comes out after the last expected beat
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 0)
        for _ in range(2 * dut.latency):
            assert not ctx.get(dut.o.valid), "unexpected extra output beat"
            await ctx.tick()
        assert not ctx.get(dut.frame_error)
        assert not ctx.get(dut.cfg_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    expected = np.concatenate([nmpu(cfg, codes[v : v + 1], **snapshots[v]) for v in range(vectors)])
    return expected, np.array(actual).reshape(vectors, cfg.columns)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("gaps", [False, True], ids=["full_rate", "gaps_backpressure"])
def test_nmpu_matches_model(name, gaps, seed):
    cfg = CONFIGS[name]
    expected, actual = run_nmpu_sim(cfg, seed, vectors=12, gaps=gaps, writes=gaps)
    mismatches = np.argwhere(expected != actual)
    assert mismatches.size == 0, (
        f"{len(mismatches)} mismatches; first at vector, column {tuple(mismatches[0])}: "
        f"expected {expected[tuple(mismatches[0])]}, got {actual[tuple(mismatches[0])]}"
    )


def test_error_flags_fire_and_a_bad_write_is_dropped(seed):
    """A write to a missing column sets cfg_error and changes nothing; a beat whose
    first/last flags disagree with the beat count sets frame_error (both sticky)."""
    cfg = NMPUConfig(columns=3, lanes=1)  # 2 address bits for 3 columns: column 3 is missing
    rng = np.random.default_rng(seed)
    params = random_params(cfg, rng)
    codes = random_codes(cfg, rng, 1)
    dut = NMPU(cfg)
    outputs, flags = [], {}

    async def bench(ctx):
        for f in cfg.param_fields:
            for c in range(cfg.columns):
                ctx.set(dut.cfg.addr, param_address(cfg, f, c))
                ctx.set(dut.cfg.data, int(params[f][c]) & 0xFFFF)
                ctx.set(dut.cfg.we, 1)
                await ctx.tick()
        assert not ctx.get(dut.cfg_error)
        ctx.set(dut.cfg.addr, param_address(cfg, "scale", 0) | 3)  # column 3 of "scale"
        ctx.set(dut.cfg.data, 0x55)
        await ctx.tick()
        ctx.set(dut.cfg.we, 0)
        flags["cfg_error"] = ctx.get(dut.cfg_error)
        ctx.set(dut.o.ready, 1)
        for b in range(cfg.beats):  # a well-formed vector: the dropped write must not show
            ctx.set(dut.i.payload.codes[0], int(codes[0, 0, b]))
            ctx.set(dut.i.payload.first, b == 0)
            ctx.set(dut.i.payload.last, b == cfg.beats - 1)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
        flags["frame_error_clean"] = ctx.get(dut.frame_error)
        ctx.set(dut.i.payload.first, 0)  # beat 0 of the next vector without `first`
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(2 * dut.latency):
            if ctx.get(dut.o.valid) and len(outputs) < cfg.beats:
                outputs.append(ctx.get(dut.o.payload.data[0]))
            await ctx.tick()
        flags["frame_error"] = ctx.get(dut.frame_error)
        flags["cfg_error_still"] = ctx.get(dut.cfg_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert flags == {
        "cfg_error": 1, "frame_error_clean": 0, "frame_error": 1, "cfg_error_still": 1,
    }  # fmt: skip
    np.testing.assert_array_equal(outputs, nmpu(cfg, codes, **params)[0])
