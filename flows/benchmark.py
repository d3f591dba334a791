"""``make bench``: simulation speed and golden-model throughput, as medians of repeats.

Speed figures live here, never in timed unit tests: the machines are shared
and noisy. Every figure is the median of ``repeats`` runs in this one
process (the closed-loop ``tile32`` rows: one run, it is long on Icarus), and
ratios are taken between medians of the same run.

Why here: the figures come from the RTL on both simulators (``tb.runner``: the
per-clock benches, the bulk harnesses, the closed-loop tile) and from the golden
models; :func:`run_benchmarks` is the whole set, ``tools.benchmark`` its command line.
(A *bench* is a testbench in ``tb/``; this is the *benchmark*.)
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from flows import REPO
from flows.sim_capture import DEFAULT_CAPTURE
from model.files import check_output_path, write_text_atomic
from model.nmpu import NMPUConfig

BUILD = REPO / "build" / "bench"
#: Where ``make bench`` writes its rows (``--out``).
DEFAULT_OUT = REPO / "build" / "reports" / "bench.json"


#: Default vectors per repeat of the per-clock NMPU bench: about a second on each simulator.
PER_CLOCK_VECTORS = {"icarus": 100, "verilator": 2000}


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_models(repeats: int) -> list[dict]:
    """Golden-model throughput at the paper-default configurations."""
    from model.nmpu import nmpu
    from model.sar import AnalogFrontEnd, SARConfig, sar_convert
    from tb.stimulus.nmpu import random_codes, random_params

    rng = np.random.default_rng(0)
    cfg = NMPUConfig()
    x = random_codes(cfg, rng, 4096)
    p = random_params(cfg, rng)
    t = median_seconds(lambda: nmpu(cfg, x, **p), repeats)
    rows = [{"name": "golden.nmpu", "value": x.shape[0] * cfg.columns / t, "unit": "values/s"}]
    scfg = SARConfig()
    fe = AnalogFrontEnd.sample(scfg, mismatch=0.02, offset=0.5, noise=0.3, seed=1)
    v = rng.uniform(-1, 1, (1024, scfg.columns))
    t = median_seconds(lambda: sar_convert(scfg, fe, v), repeats)
    rows.append({"name": "golden.sar", "value": len(v) / t, "unit": "conversions/s (256 columns)"})
    return rows


def bench_nmpu_rtl(sim: str, repeats: int, vectors: int) -> float:
    """Median input beats/s of the default NMPU at full rate (build excluded)."""
    from hw.nmpu import NMPU
    from tb.runner import run_bench

    cfg = NMPUConfig()
    _, figures = run_bench(
        "nmpu", NMPU(cfg), sim=sim, build_dir=BUILD / "nmpu" / sim, seed=1,
        settings={"config": cfg.to_dict(), "vectors": vectors, "repeats": repeats},
        testcase="full_rate", optimize=True,
    )  # fmt: skip
    return statistics.median(f["beats_in"] / f["seconds"] for f in figures)


def bench_axi_rtl(sim: str, vectors: int) -> dict:
    """The paper-default NMPU behind its AXI wrapper (``hw.axi.nmpu_axi``) at full rate through
    cocotbext-axi: the ``full_rate`` figures (``cycles`` per ``beats``: 1 when the wrapper
    inserts no idle; the bench asserts it)."""
    from hw.axi.nmpu_axi import NMPUAxi
    from tb.runner import run_bench

    cfg = NMPUConfig()
    _, figures = run_bench(
        "nmpu_axi", NMPUAxi(cfg), sim=sim, build_dir=BUILD / "nmpu_axi" / sim, seed=1,
        settings={"config": cfg.to_dict(), "vectors": vectors}, testcase="full_rate",
        optimize=True,
    )  # fmt: skip
    return figures[0]


def median_run(run, rate, repeats: int) -> dict:
    """The figures of the median run, by ``rate(figures)``, of ``repeats`` calls of ``run()``."""
    runs = sorted((run() for _ in range(repeats)), key=rate)
    return runs[len(runs) // 2]


def beats_rate(fig: dict) -> float:
    return fig["beats_in"] / fig["seconds"]


def conversions_rate(fig: dict) -> float:
    return fig["conversions"] / fig["seconds"]


def bench_nmpu_harness(sim: str, vectors: int) -> dict:
    """The paper-default NMPU through the bulk harness at full rate (no idle, no
    backpressure, no parameter writes): its figures, read-back and scoring included."""
    from tb.harness.nmpu import NMPUHarness
    from tb.runner import run_bench

    cfg = NMPUConfig()
    harness = NMPUHarness(cfg, stim_depth=2048, out_depth=4096)
    settings = {
        "config": cfg.to_dict(),
        "stim_depth": 2048,
        "out_depth": 4096,
        "stim_vectors": 2048 // cfg.beats,
        "vectors": vectors,
        "write_rate": 0,
        "pairs": [["none", "none"]],
    }
    _, figures = run_bench(
        "nmpu_harness", harness, sim=sim, build_dir=BUILD / "harness" / sim, seed=1,
        settings=settings, optimize=True,
    )  # fmt: skip
    return figures[0]


def bench_tile_harness(sim: str, vectors: int) -> dict:
    """The 256-column tile (paper NMPU: 64 lanes) through the tile harness in closed loop
    with the integer front end (mismatch, offset, noise), full rate (no idle, no
    backpressure, no parameter writes, full conversions); read-back and scoring included."""
    from model.golden.tile import TileConfig
    from model.sar import SARConfig
    from tb.harness.tile import TileHarness
    from tb.runner import run_bench

    nmpu_cfg = NMPUConfig()
    cfg = TileConfig(SARConfig(columns=nmpu_cfg.columns), nmpu_cfg)
    out_depth = nmpu_cfg.beats * 1024
    harness = TileHarness(cfg, stim_depth=256, out_depth=out_depth, frac_bits=8)
    settings = {
        "config": cfg.to_dict(),
        "stim_depth": 256,
        "out_depth": out_depth,
        "frac_bits": 8,
        "stim_conversions": 256,
        "vectors": vectors,
        "write_rate": 0,
        "front_end": {"mismatch": 0.02, "offset": 0.5, "noise": 0.3, "seed": 1},
        "pairs": [["none", "none"]],
        "approximate": False,
    }
    _, figures = run_bench(
        "tile_harness", harness, sim=sim, build_dir=BUILD / "tile_harness" / sim, seed=1,
        settings=settings, optimize=True,
    )  # fmt: skip
    return figures[0]


def bench_sar_harness(sim: str, conversions: int) -> dict:
    """The default SAR (256 columns, ``SARConfig()``) through the SAR harness in closed loop
    with the integer front end (mismatch, offset, noise), full rate (no idle, no
    backpressure, full conversions); read-back and scoring included."""
    from model.sar import SARConfig
    from tb.harness.sar import SARHarness
    from tb.runner import run_bench

    cfg = SARConfig()
    harness = SARHarness(cfg, stim_depth=256, out_depth=1024, frac_bits=8)
    settings = {
        "config": cfg.to_dict(),
        "stim_depth": 256,
        "out_depth": 1024,
        "frac_bits": 8,
        "stim_conversions": 256,
        "conversions": conversions,
        "front_end": {"mismatch": 0.02, "offset": 0.5, "noise": 0.3, "seed": 1},
        "pairs": [["none", "none"]],
        "approximate": False,
    }
    _, figures = run_bench(
        "sar_harness", harness, sim=sim, build_dir=BUILD / "sar_harness" / sim, seed=1,
        settings=settings, optimize=True,
    )  # fmt: skip
    return figures[0]


def bench_tile_rtl(sim: str) -> dict:
    """Closed-loop tile on the default capture (one run; it is long on Icarus)."""
    from tb.runner import run_tile_capture

    _, fig, _ = run_tile_capture(
        DEFAULT_CAPTURE, sim=sim, build_dir=BUILD / "tile", seed=1, optimize=True
    )
    return fig


def bench_sweep_scaling(points: int = 16) -> list[dict]:
    """One CPU-bound sweep (``points`` chip-specific MLP fine-tunings of 20 epochs, one
    per ADC instance, each then scored on the 450 test images: a few seconds a point) on a
    LocalCluster of 1 worker, then of 2, each into a fresh folder. The speed-up is of the
    wall times, cluster start included; the overhead of the 2-worker run is
    ``1 - task time / (wall time x workers)``, with and without the cluster's start-up
    (worker processes, their imports)."""
    import shutil

    from flows.sweep import run_sweep
    from flows.sweep_spec import parse

    doc = {
        "sweep": {"name": "bench-scaling", "kind": "study"},
        "params": {
            "network": "mlp",
            "level": "harsh",
            "training": "chip_specific",
            "epochs": 20,
        },  # fmt: skip
        "axes": {"adc_seed": list(range(100, 100 + points))},
    }
    spec = parse(doc, "<bench>")
    res = {}
    for workers in (1, 2):
        out = BUILD / f"sweep_{workers}"
        shutil.rmtree(out, ignore_errors=True)
        r = run_sweep(spec, out, workers=workers, log=lambda *a: None)
        assert not r["failed"], r["failed"]
        res[workers] = r
    one, two = res[1], res[2]
    busy = two["seconds"] - two["startup_seconds"]
    return [
        {"name": "sweep.local.1_worker", "value": one["seconds"], "unit": f"s ({points} points)"},
        {"name": "sweep.local.2_workers", "value": two["seconds"], "unit": f"s ({points} points)"},
        {"name": "sweep.local.speedup_2_over_1", "value": one["seconds"] / two["seconds"],
         "unit": "x, cluster start included (goal >= 1.8)"},
        {"name": "sweep.local.startup_2_workers", "value": two["startup_seconds"],
         "unit": "s (LocalCluster up)"},
        {"name": "sweep.local.overhead_2_workers", "value": 100 * (1 - two["utilisation"]),
         "unit": "% of worker time not in tasks, start-up included"},
        {"name": "sweep.local.scheduling_overhead_2_workers",
         "value": 100 * (1 - two["task_seconds"] / (busy * 2)),
         "unit": "% of worker time not in tasks after start-up (goal <= 5)"},
        {"name": "sweep.task_seconds_per_point", "value": two["task_seconds"] / points,
         "unit": "s"},
    ]  # fmt: skip


def run_benchmarks(
    *,
    repeats: int = 3,
    vectors: int | None = None,
    tile_vectors: int = 20_000,
    sar_conversions: int = 50_000,
    sweep_points: int = 16,
    only: str = "all",
    out: Path = DEFAULT_OUT,
    log=None,
) -> list[dict]:
    """Every figure of ``make bench`` (rows of ``name``, ``value``, ``unit``), written to
    ``out`` as JSON. ``vectors``: NMPU vectors per repeat of the per-clock bench (``None``:
    :data:`PER_CLOCK_VECTORS`); ``sweep_points``: points of the Dask scaling sweep (first,
    on idle cores; 0: none); ``only="sweep"``: that sweep alone; ``log``: called with each
    median harness run's figures.
    ``AssertionError`` when a harness run reports a mismatch; ``ValueError`` at once, before
    any run, when ``out`` is not a regular file (a directory, a FIFO).
    """
    check_output_path(out)
    log = log or (lambda line: None)
    sweep_rows = bench_sweep_scaling(sweep_points) if sweep_points else []
    if only == "sweep":
        return write_rows(sweep_rows, out)
    rows = bench_models(repeats)
    for sim in ("icarus", "verilator"):
        rate = bench_nmpu_rtl(sim, repeats, vectors or PER_CLOCK_VECTORS[sim])
        rows.append({"name": f"nmpu.cocotb.{sim}", "value": rate, "unit": "input beats/s"})
    harness_vectors = {"icarus": 1000, "verilator": 50_000}
    for sim in ("icarus", "verilator"):
        fig = median_run(
            lambda sim=sim: bench_nmpu_harness(sim, harness_vectors[sim]), beats_rate, repeats
        )
        assert fig["mismatches"] == 0, f"NMPU harness: {fig['errors']}"
        rows.append(
            {"name": f"nmpu.harness.{sim}", "value": beats_rate(fig), "unit": "input beats/s"}
        )
        log(f"nmpu.harness.{sim} (median run): {json.dumps(fig)}")
    fig = bench_axi_rtl("verilator", 200)
    rows.append(
        {"name": "nmpu_axi.full_rate.clocks_per_beat", "value": fig["cycles"] / fig["beats"],
         "unit": "clocks per input beat (1: no idle inserted by the AXI wrapper)"}
    )  # fmt: skip
    rows.append(
        {"name": "nmpu_axi.cocotb.verilator", "value": fig["beats"] / fig["seconds"],
         "unit": "input beats/s (cocotbext-axi, per clock)"}
    )  # fmt: skip
    for sim in ("icarus", "verilator"):
        fig = bench_tile_rtl(sim)
        rows.append(
            {"name": f"tile32.cocotb.{sim}", "value": fig["cycles"] / fig["seconds"],
             "unit": "clocks/s"}
        )  # fmt: skip
    fig = median_run(
        lambda: bench_tile_harness("verilator", tile_vectors), conversions_rate, repeats
    )
    assert fig["mismatches"] == 0, f"tile harness: {fig['errors']}"
    rows.append(
        {"name": "tile256.harness.verilator", "value": conversions_rate(fig),
         "unit": "conversions/s (256 columns)"}
    )  # fmt: skip
    fig = median_run(
        lambda: bench_sar_harness("verilator", sar_conversions), conversions_rate, repeats
    )
    assert fig["mismatches"] == 0, f"SAR harness: {fig['errors']}"
    rows.append(
        {"name": "sar256.harness.verilator", "value": conversions_rate(fig),
         "unit": "conversions/s (256 columns)"}
    )  # fmt: skip
    value = {row["name"]: row["value"] for row in rows}
    for kind in ("cocotb", "harness"):
        ratio = value[f"nmpu.{kind}.verilator"] / value[f"nmpu.{kind}.icarus"]
        rows.append({"name": f"nmpu.{kind}.verilator_over_icarus", "value": ratio, "unit": "x"})
    for sim in ("icarus", "verilator"):
        ratio = value[f"nmpu.harness.{sim}"] / value[f"nmpu.cocotb.{sim}"]
        rows.append({"name": f"nmpu.harness_over_cocotb.{sim}", "value": ratio, "unit": "x"})
    return write_rows(rows + sweep_rows, out)


def write_rows(rows: list[dict], out: Path) -> list[dict]:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps({"rows": rows}, indent=1) + "\n")
    return rows
