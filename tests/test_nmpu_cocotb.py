"""Slow tier: the NMPU's generated Verilog on Icarus and Verilator, scored by the golden model.

Each case runs tb/nmpu_tb.py's three cocotb tests (full rate with latency
check; random gaps, backpressure and parameter writes at any cycle; both
saturation corners) on one configuration of DESIGN 3.1.
"""

from __future__ import annotations

import pytest

from hw.nmpu import NMPU
from model.nmpu import NMPUConfig
from tb.nmpu_run import run_nmpu_tb
from tb.runner import SIMULATORS

#: The configurations of the NMPU issue; names say which corner each one covers.
CONFIGS = {
    # Paper default: 256 columns, 64 lanes, half_up, ReLU, signed 8-bit codes.
    "paper_default": NMPUConfig(),
    "lanes1_trunc": NMPUConfig(columns=16, lanes=1, rounding="trunc"),
    "lanes_eq_columns_half_even": NMPUConfig(columns=32, lanes=32, rounding="half_even"),
    # Four partial results (e.g. tiles), narrow stage 1 so it saturates, clipped ReLU.
    "phases4_relu_clip": NMPUConfig(
        columns=64, lanes=16, phases=4, mid_width=12, activation="relu_clip", relu_max=200
    ),
    # Two unsigned 4-bit input slices weighted 2**4 and 2**0.
    "bitsliced_4x2": NMPUConfig(
        columns=64, lanes=16, phases=2, phase_shifts=(4, 0), in_width=4, in_signed=False
    ),
    # Positive and negative input passes subtracted; signed output.
    "posneg_pair_no_activation": NMPUConfig(
        columns=64, lanes=16, phases=2, phase_signs=(1, -1), activation="none"
    ),
    "no_batchnorm": NMPUConfig(
        columns=64, lanes=16, bn=False, activation="none", out_lsb_cut=0, out_round_bits=3
    ),
    "unsigned_input": NMPUConfig(columns=64, lanes=16, in_signed=False),
}

VECTORS = {"paper_default": 40}
DEFAULT_VECTORS = 60


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_nmpu_rtl_matches_model(name, sim, seed, build_dir):
    cfg = CONFIGS[name]
    vectors = VECTORS.get(name, DEFAULT_VECTORS)
    result, figures = run_nmpu_tb(sim=sim, cfg=cfg, build_dir=build_dir, seed=seed, vectors=vectors)
    assert result.tests == 3 and result.failed == 0
    by_test = {f["test"]: f for f in figures}
    assert set(by_test) == {"full_rate", "gaps_backpressure_writes", "extremes_max", "extremes_min"}
    for f in figures:
        assert f["mismatches"] == 0, f
        assert f["values_checked"] == f["vectors"] * cfg.columns, f
    assert by_test["gaps_backpressure_writes"]["param_writes"] > 0
    # Full rate: one beat per clock, so the whole stream takes beats + latency cycles.
    full = by_test["full_rate"]
    assert full["cycles"] == vectors * cfg.phases * cfg.beats + NMPU(cfg).latency, full
    print(f"{name} on {sim}: {full['beats_in']} beats in {full['seconds']:.3f} s")
