"""Slow tier: the FP16 unit's generated Verilog on Icarus and Verilator, scored by
``model.golden.fp16.fp16_unit`` and compared between the two simulators.

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
from tb.runner import run_bench_on_every_simulator, simulator_disagreements
from tb.stimulus.catalogue import NMPU_CONFIGS
from tests.test_nmpu_cocotb import assert_every_test_clean

#: FP16-specific entries beside the catalogue's (kept here: the catalogue is shared).
CONFIGS = {
    "lanes1_trunc": NMPU_CONFIGS["lanes1_trunc"],
    "phases4_relu_clip": NMPU_CONFIGS["phases4_relu_clip"],
    # The folded function (the paper's unit: one multiply-add per column, bn = False) on
    # bit slices and a negative pass.
    "fp16_folded_slices_posneg": NMPUConfig(
        columns=16,
        lanes=4,
        phases=3,
        phase_shifts=(4, 0, 0),
        phase_signs=(1, 1, -1),
        in_width=4,
        in_signed=False,
        activation="none",
        bn=False,
        out_lsb_cut=0,
        out_round_bits=3,
    ),
}
VECTORS = 6


@pytest.mark.cocotb
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fp16_rtl_matches_model(name, seed, build_dir):
    """Icarus and Verilator each match the model, and saw the same outputs."""
    cfg = CONFIGS[name]
    settings = {"config": cfg.to_dict(), "vectors": VECTORS, "unit": "fp16"}
    runs = run_bench_on_every_simulator(
        "nmpu", FP16Unit(cfg), build_dir=build_dir, seed=seed, settings=settings
    )
    for result, figures in runs.values():
        assert_every_test_clean(cfg, result, figures)
    assert not simulator_disagreements({sim: figs for sim, (_, figs) in runs.items()})
    print(f"{name}: {len(runs['icarus'][1])} cocotb tests per simulator, all outputs checked")
