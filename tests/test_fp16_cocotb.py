"""Slow tier: the FP16 unit's generated Verilog on Icarus and Verilator, scored by
``model.golden.fp16.fp16_unit``.

The NMPU bench (``tb/benches/nmpu.py``) with ``unit="fp16"``: the same stream
source/sink, full-rate latency check, idle x backpressure crossed over
{none, random, bursty} with and without random mid-stream parameter writes
(raw binary16 patterns, infinities and NaNs included), and both parameter
corners (every parameter +65504 / -65504: overflow to infinity and saturation).
Configurations: two of the shared catalogue (small ones, to keep the run
short) and an FP16-specific one with bit-sliced phases (``ldexp`` paths),
a +/- pass and no activation.
"""

from __future__ import annotations

import pytest

from hw.fp16.unit import FP16Unit
from model.nmpu import NMPUConfig
from tb.runner import SIMULATORS, run_bench
from tb.stimulus.catalogue import NMPU_CONFIGS
from tests.test_nmpu_cocotb import assert_every_test_clean

#: FP16-specific entries beside the catalogue's (kept here: the catalogue is shared).
CONFIGS = {
    "lanes1_trunc": NMPU_CONFIGS["lanes1_trunc"],
    "phases4_relu_clip": NMPU_CONFIGS["phases4_relu_clip"],
    "fp16_slices_posneg": NMPUConfig(
        columns=16,
        lanes=4,
        phases=3,
        phase_shifts=(4, 0, 0),
        phase_signs=(1, 1, -1),
        in_width=4,
        in_signed=False,
        activation="none",
    ),
}
VECTORS = 6


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fp16_rtl_matches_model(name, sim, seed, build_dir):
    cfg = CONFIGS[name]
    settings = {"config": cfg.to_dict(), "vectors": VECTORS, "unit": "fp16"}
    result, figures = run_bench(
        "nmpu", FP16Unit(cfg), sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )
    assert_every_test_clean(cfg, result, figures)
    print(f"{name} on {sim}: {len(figures)} cocotb tests, all outputs checked")
