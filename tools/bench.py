"""``make bench``: simulation speed and golden-model throughput, as medians of repeats.

Speed figures live here, never in timed unit tests: the machines are shared
and noisy. Every figure is the median of ``--repeats`` runs in this one
process, and ratios are taken between medians of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from model.golden.nmpu import NMPUConfig

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_models(repeats: int) -> list[tuple[str, str]]:
    """Golden-model throughput at the paper-default configurations."""
    from model.analog.sar_frontend import AnalogFrontEnd
    from model.golden.nmpu import nmpu
    from model.golden.sar import SARConfig, sar_convert
    from tb.stimulus import random_codes, random_params

    rng = np.random.default_rng(0)
    cfg = NMPUConfig()
    x = random_codes(cfg, rng, 4096)
    p = random_params(cfg, rng)
    t = median_seconds(lambda: nmpu(cfg, x, **p), repeats)
    rows = [
        (
            "golden nmpu, 256 columns",
            f"{len(x) / t:,.0f} vectors/s ({len(x) * 256 / t / 1e6:.1f} M values/s)",
        )
    ]
    scfg = SARConfig()
    fe = AnalogFrontEnd.sample(scfg, mismatch=0.02, offset=0.5, noise=0.3, seed=1)
    v = rng.uniform(-1, 1, (1024, scfg.columns))
    t = median_seconds(lambda: sar_convert(scfg, fe, v), repeats)
    rows.append(("golden sar_convert, 256 columns, noisy", f"{len(v) / t:,.0f} conversions/s"))
    return rows


def bench_nmpu_rtl(sim: str, repeats: int, vectors: int) -> float:
    """Median input beats/s of the default NMPU at full rate (build excluded)."""
    from hw.nmpu import NMPU
    from tb.run import run_bench

    cfg = NMPUConfig()
    _, figures = run_bench(
        "nmpu", NMPU(cfg), sim=sim, build_dir=BUILD / "nmpu" / sim, seed=1,
        settings={"config": cfg.to_dict(), "vectors": vectors, "repeats": repeats},
        testcase="full_rate",
    )  # fmt: skip
    return statistics.median(f["beats_in"] / f["seconds"] for f in figures)


def bench_tile_rtl(sim: str) -> dict:
    """Closed-loop tile on the default capture (one run; it is long on Icarus)."""
    from tb.run import run_tile_capture

    capture = REPO / "captures" / "builtin_digits.npz"
    _, fig, _ = run_tile_capture(capture, sim=sim, build_dir=BUILD / "tile", seed=1)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vectors", type=int, default=100, help="NMPU vectors per RTL run")
    args = parser.parse_args(argv)
    rows = bench_models(args.repeats)  # printed together at the end, after the simulators' logs
    nmpu_rate = {}
    for sim in ("icarus", "verilator"):
        nmpu_rate[sim] = bench_nmpu_rtl(sim, args.repeats, args.vectors)
        rate = nmpu_rate[sim]
        figure = f"{rate:,.0f} beats/s ({rate * NMPUConfig().lanes:,.0f} columns/s)"
        rows.append((f"NMPU RTL, paper default, full rate, {sim}", figure))
    rows.append(("  Verilator / Icarus", f"{nmpu_rate['verilator'] / nmpu_rate['icarus']:.1f}x"))
    tile = {}
    for sim in ("icarus", "verilator"):
        fig = bench_tile_rtl(sim)
        tile[sim] = fig["cycles"] / fig["seconds"]
        figure = f"{tile[sim]:,.0f} clocks/s ({fig['conversions'] / fig['seconds']:,.1f} conv/s)"
        rows.append((f"tile closed loop, 32 columns, {sim}", figure))
    rows.append(("  Verilator / Icarus", f"{tile['verilator'] / tile['icarus']:.1f}x"))
    print(f"\n== make bench: medians of {args.repeats} repeats (tile: one run) ==")
    for name, figure in rows:
        print(f"{name:46s}: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
