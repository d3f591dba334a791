"""Slow tier: the NMPU's generated Verilog on Icarus and Verilator, scored by the golden model
and compared between the two simulators (every configuration of the catalogue).

Each case runs every cocotb test of ``tb/benches/nmpu.py`` (full rate with the
latency check; idle x backpressure crossed over {none, random, bursty}, each
with and without parameter writes at random cycles; both saturation corners)
on one configuration of the shared catalogue.
"""

from __future__ import annotations

import pytest

from hw.nmpu import NMPU
from tb.runner import run_bench_on_every_simulator, simulator_disagreements
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.pauses import PATTERNS

#: Vectors per cocotb test (the paper configuration is 4x wider per vector).
VECTORS = {"paper_default": 6}
DEFAULT_VECTORS = 12


def assert_every_test_clean(cfg, result, figures) -> None:
    """Every cocotb test of tb/benches/nmpu.py ran (the full idle x backpressure x writes cross
    included) and checked every output value and ``last`` flag with no mismatch."""
    crossed = {
        f"traffic_{i}_{b}_{w}" for i in PATTERNS for b in PATTERNS for w in ("fixed", "writes")
    }
    assert {f["test"] for f in figures} == {"full_rate", "extremes_max", "extremes_min", *crossed}
    assert result.failed == 0 and result.tests == len({f["test"] for f in figures})
    assert len(figures) == result.tests + sum(f["test"] == "full_rate" for f in figures) - 1
    for f in figures:
        assert f["output_mismatches"] == 0, f
        assert f["output_values_checked"] == f["vectors"] * (cfg.columns + cfg.beats), f


@pytest.mark.cocotb
@pytest.mark.parametrize("name", list(NMPU_CONFIGS))
def test_nmpu_rtl_matches_model(name, seed, build_dir):
    """The same Verilog on Icarus and on Verilator: each matches the model, and the two saw
    the same outputs (a simulator difference shows even where the model is blind)."""
    cfg = NMPU_CONFIGS[name]
    vectors = VECTORS.get(name, DEFAULT_VECTORS)
    settings = {"config": cfg.to_dict(), "vectors": vectors, "repeats": 2}  # as make bench
    runs = run_bench_on_every_simulator(
        "nmpu", NMPU(cfg), build_dir=build_dir, seed=seed, settings=settings
    )
    for result, figures in runs.values():
        assert_every_test_clean(cfg, result, figures)
    assert not simulator_disagreements({sim: figs for sim, (_, figs) in runs.items()})
    print(f"{name}: {len(runs['icarus'][1])} cocotb tests per simulator, all outputs checked")
