"""Slow tier: the NMPU's generated Verilog on Icarus and Verilator, scored by the golden model.

Each case runs every cocotb test of ``tb/benches/nmpu.py`` (full rate with the
latency check; idle x backpressure crossed over {none, random, bursty}, each
with and without parameter writes at random cycles; both saturation corners)
on one configuration of the shared catalogue.
"""

from __future__ import annotations

import pytest

from hw.nmpu import NMPU
from tb.runner import SIMULATORS, run_bench
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
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", list(NMPU_CONFIGS))
def test_nmpu_rtl_matches_model(name, sim, seed, build_dir):
    cfg = NMPU_CONFIGS[name]
    vectors = VECTORS.get(name, DEFAULT_VECTORS)
    settings = {"config": cfg.to_dict(), "vectors": vectors, "repeats": 2}  # as make bench
    result, figures = run_bench(
        "nmpu", NMPU(cfg), sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )
    assert_every_test_clean(cfg, result, figures)
    print(f"{name} on {sim}: {len(figures)} cocotb tests, all outputs checked")
