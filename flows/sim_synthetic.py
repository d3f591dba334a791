"""``make sim --synthetic``: the NMPU alone at its paper-default configuration on a seeded
random stimulus, co-verified on the RTL (``tb/benches/nmpu.py``).

Why here: it builds and runs the NMPU's RTL (``tb.runner.run_bench``); ``tools.sim`` is
its command line.
"""

from __future__ import annotations

import json
import time

from flows import REPO


def run_synthetic(sim: str, seed: int, vectors: int) -> tuple[int, list[str]]:
    """NMPU alone, default config, seeded random stimulus; returns the exit status (0 iff
    no mismatch and no failed cocotb test) and the report lines. ``ValueError`` before
    anything is built for ``vectors < 1``."""
    from hw.nmpu import NMPU
    from model.golden.config import check_hardware_size
    from model.nmpu import NMPUConfig
    from tb.runner import run_bench

    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 1:
        raise ValueError(f"vectors must be a positive integer, not {vectors!r}")
    cfg = NMPUConfig()
    check_hardware_size(cfg)  # the one size rule (the default is far below the limit)
    t0 = time.perf_counter()
    result, figures = run_bench(
        "nmpu", NMPU(cfg), sim=sim, build_dir=REPO / "build" / "sim" / "nmpu", seed=seed,
        settings={"config": cfg.to_dict(), "vectors": vectors},
    )  # fmt: skip
    wall = time.perf_counter() - t0
    total = {k: sum(f[k] for f in figures) for k in ("vectors", "beats_in", "beats_out")}
    checked = sum(f["output_values_checked"] for f in figures)
    mismatches = sum(f["output_mismatches"] for f in figures)
    full = next(f for f in figures if f["test"] == "full_rate")
    lines = [
        "== make sim: NMPU co-verification on a synthetic stimulus ==",
        f"simulator        : {sim}",
        f"config           : {json.dumps(cfg.to_dict())}",
        f"seed             : {seed}",
        f"cocotb tests     : {result.tests} run, {result.failed} failed "
        "(full rate, idle x backpressure x parameter writes, saturation corners)",
        f"vectors checked  : {total['vectors']}",
        f"beats checked    : {total['beats_in']} in, {total['beats_out']} out "
        f"({checked} output values)",
        f"mismatches       : {mismatches}",
        f"speed (full rate): {full['beats_in'] / full['seconds']:.0f} input beats/s",
        f"wall time        : {wall:.1f} s (build {result.build_seconds:.1f} s)",
    ]
    return (0 if mismatches == 0 and result.failed == 0 else 1), lines
