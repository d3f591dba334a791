"""One point of a sweep (``flows.sweep``): its golden-chain metrics and, where the spec
asks, its RTL check; runs on a Dask worker (or in process with ``--serial``).

A point is one parameter set of a kind (``flows.sweep_spec.PARAMS``):

* ``study`` (:func:`study_point`): a ``model.flow.tile_net`` network (the ADC study's
  digits MLP or im2col CNN) on the exact golden chain (``model.flow.adc_training.evaluate``:
  crossbar chip, SAR with the sampled front end at ``active_steps``, bit-exact NMPU, float
  head) at an ADC level (``model.flow.adc_study.LEVELS``, any term overridden), with or
  without per-column calibration, for the float network or one fine-tuned ADC-aware
  (``chip_specific`` on the evaluated instance, ``distribution`` over random instances);
* ``capture`` (:func:`capture_point`): a capture's vectors through the golden tile
  (``model.golden.tile.tile``) with other NMPU formats (``flows.ppa``'s presets or the
  spec's, calibration requantised), ``active_steps``, ADC instance or front-end terms.

:func:`rtl_check` runs a point's first vectors (tile layer 0 for ``study``) through the
tile RTL in closed loop (the bulk harness ``tb.harness.tile``, or the per-clock tile bench
for front ends the harness cannot model) in a build folder of the worker's own
(``build/sweep_rtl/<host>-<pid>``); Verilator models are shared through ``tb.runner``'s
content-hashed ``build/models``.

:func:`run_point` never raises: a failing point is a row with ``status = "failed"`` and
its error. A worker caches what repeats (the float network, trained networks, captures):
speed only, never results.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import socket
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from flows import REPO
from flows.sweep_spec import FORMAT_FIELDS
from model.files import write_with

#: Packages whose versions every row records.
VERSIONS = ("numpy", "torch", "amaranth", "dask", "distributed", "pyarrow", "cocotb", "verilator")

# -- one point ---------------------------------------------------------------------------


def run_point(point: dict) -> dict:
    """The row of one point (spec point dict, ``flows.sweep_spec.Spec.points``): its
    metrics, wall time, worker and package versions; a failure is recorded, not raised."""
    t0 = time.perf_counter()
    row = {
        "point_id": point["id"],
        "point_index": point["index"],
        "worker": worker_name(),
        "versions": json.dumps(versions(), sort_keys=True),
    }
    try:
        fn = {"study": study_point, "capture": capture_point}[point["kind"]]
        row.update(fn(point))
        row["status"], row["error"] = "ok", None
    except Exception as exc:  # the point fails, the sweep goes on
        row["status"], row["error"] = "failed", error_text(exc)
    row["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return row


def error_text(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame: one line for the row."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


def worker_name() -> str:
    """The dask worker's address (``local`` outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"local:{socket.gethostname()}:{os.getpid()}"


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def worker_build_dir() -> Path:
    """This worker process's own RTL build folder (shared Verilator models live in
    ``build/models``, keyed by content)."""
    return REPO / "build" / "sweep_rtl" / f"{socket.gethostname()}-{os.getpid()}"


# -- study points ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _float_net(name: str, seed: int):
    from model.flow import adc_study

    return adc_study.float_net(name, seed)


def study_level(p: dict):
    """The point's ``ADCLevel``: its ``level`` with the set front-end terms overridden."""
    from dataclasses import replace

    from model.flow import adc_training as at
    from model.flow.adc_study import LEVELS

    base = at.ADCLevel("ideal") if p["level"] == "ideal" else LEVELS[p["level"]]
    over = {
        k: float(p[k])
        for k in ("mismatch", "offset", "noise", "gain", "compression")
        if p.get(k) is not None
    }
    return replace(base, **over) if over else base


@functools.lru_cache(maxsize=8)
def _trained(name: str, seed: int, level, k: int, adc_seed: int, variant: str, recipe: tuple):
    """The ADC-aware network (cached per worker: a distribution-aware network serves every
    evaluated instance); ``recipe``: ``(name, value)`` pairs overriding the study's."""
    from model.flow.adc_study import StudyConfig, study_data, train_variant

    ts = time.perf_counter()
    net = train_variant(
        StudyConfig(), _float_net(name, seed), name, study_data(), level=level, k=k,
        adc_seed=adc_seed, variant=variant, seed=seed, **dict(recipe),
    )  # fmt: skip
    return net, time.perf_counter() - ts


#: Study-point parameters naming the ADC-aware recipe (``model.flow.adc_study.recipe``).
RECIPE_PARAMS = ("epochs", "lr", "instances_per_batch", "column_dropout")


def study_point(point: dict) -> dict:
    """Golden-chain accuracy of one ``study`` point (and its RTL check)."""
    from model.flow import adc_training as at
    from model.flow.adc_study import StudyConfig, evaluate, study_data

    p = point["params"]
    d = study_data()
    x_eval, y_eval = d.split(p["eval_split"])
    level = study_level(p)
    float_net = _float_net(p["network"], p["train_seed"])
    train_s = 0.0
    if p["training"] == "float":
        net, mode = float_net, ("per_column" if p["calibration"] == "per_column" else "nominal")
    else:
        # Chip-specific: trained on the instance it is evaluated on; distribution-aware:
        # on the study's training stream (seeds >= at.TRAIN_SEED_BASE), any instance.
        train_seed = p["adc_seed"] if p["training"] == "chip_specific" else StudyConfig.same_seed
        recipe = tuple((k, p[k]) for k in RECIPE_PARAMS if p.get(k) is not None)
        hits = _trained.cache_info().hits
        net, train_s = _trained(
            p["network"],
            p["train_seed"],
            level,
            p["active_steps"],
            train_seed,
            p["training"],
            recipe,
        )
        if _trained.cache_info().hits > hits:  # trained for an earlier point of this worker
            train_s = 0.0
        mode = p["calibration"]
    n = p["test_vectors"] or len(y_eval)
    if n > len(y_eval):
        raise ValueError(
            f"test_vectors = {n}: the {p['eval_split']} split has {len(y_eval)} images"
        )
    acc, runs = evaluate(net, x_eval[:n], y_eval[:n], level=level, adc_seed=p["adc_seed"],
                         k=p["active_steps"], mode=mode, chip_seed=p["chip_seed"])  # fmt: skip
    row = {
        "accuracy": acc,
        "float_accuracy": float(float_net.accuracy(x_eval[:n], y_eval[:n])),
        "decisions_per_inference": sum(r.decisions for r in runs) // n,
        "train_seconds": round(train_s, 3),
    }
    if point.get("rtl"):
        r0 = runs[0]
        sar, ncfg = at.tile_config(net.columns(0))
        from model.golden.tile import TileConfig

        v = min(point["rtl"]["vectors"], len(r0.analog))
        row.update(
            rtl_check(
                TileConfig(sar, ncfg),
                level.settings(at.instance_seed(p["adc_seed"], 0)),
                r0.analog[:v, None, :],
                r0.params,
                p["active_steps"],
                r0.out[:v],
                point["rtl"],
                point["id"],
            )
        )
    return row


# -- capture points -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _capture(path: str):
    from model.capture import load

    return load(path)


def capture_formats(point: dict):
    """The point's NMPU config and parameters (requantised for other formats)."""
    p = point["params"]
    cap = _capture(p["capture"])
    cfg, params = cap.nmpu_config, cap.params()
    if p["formats"] == "capture":
        return cfg, params
    from flows.ppa import SWEEP, narrowed, requantise

    table = point.get("format_table")
    if table is not None:
        fmts = [table[f] for f in FORMAT_FIELDS]
    else:
        fmts = {name: rest for name, *rest in SWEEP}[p["formats"]]
    new = narrowed(cfg, *fmts)
    return new, requantise(params, cfg, new)


def capture_point(point: dict) -> dict:
    """Golden-chain accuracy and RMS error of one ``capture`` point (and its RTL check)."""
    from model.flow import digits
    from model.fp16 import fp16_params_from_fixed
    from model.golden.tile import TileConfig, tile
    from model.sar import AnalogFrontEnd

    p = point["params"]
    cap = _capture(p["capture"])
    ncfg, params = capture_formats(point)
    tcfg = TileConfig(cap.tile_config.sar, ncfg)
    fe_set = dict(cap.provenance.get("adc_front_end") or {})
    for k in ("mismatch", "offset", "noise", "gain", "compression"):
        if p.get(k) is not None:
            fe_set[k] = float(p[k])
    if p.get("adc_seed") is not None:
        fe_set["seed"] = int(p["adc_seed"])
    fe = AnalogFrontEnd.sample(tcfg.sar, **fe_set)
    v = min(p["vectors"] or cap.vectors, cap.vectors)
    analog = cap.analog[:v]
    unit_params = params if p["unit"] == "fixed" else fp16_params_from_fixed(ncfg, params)
    out = tile(tcfg, fe, analog, unit_params, p["active_steps"], unit=p["unit"]).activations
    ref = cap.reference[:v]

    def acc(o):
        h = np.asarray(o, np.float64) * cap.scaling["act_lsb"]
        if cap.head is not None and cap.labels is not None:
            return float(cap.head.accuracy(h, cap.labels[:v]))
        mlp = digits.get_mlp(hidden=cap.columns)
        return float(digits.rest_accuracy(mlp, h, cap.labels[:v]))

    row = {
        "accuracy": acc(out),
        "float_accuracy": acc(ref),
        "rms_lsb": float(np.sqrt(np.mean((out - ref) ** 2))),
        "decisions_per_inference": None,
    }
    if point.get("rtl"):
        if p["unit"] != "fixed":
            raise ValueError("the RTL check runs the fixed-point unit's bulk harness only")
        n = min(point["rtl"]["vectors"], v)
        row.update(
            rtl_check(
                tcfg,
                fe_set,
                analog[:n],
                params,
                p["active_steps"],
                out[:n],
                point["rtl"],
                point["id"],
            )
        )
    return row


# -- the RTL check ----------------------------------------------------------------------------


def rtl_check(
    tcfg, front_end: dict, analog, params: dict, active_steps, golden, rtl: dict, pid: str
) -> dict:
    """``analog`` [vectors, phases, columns] through the tile RTL on ``rtl["sim"]`` in closed
    loop with the front end ``front_end`` (``AnalogFrontEnd.sample`` settings), ``params``
    loaded, every conversion at ``active_steps``: ADC codes, decisions and activations
    against the golden chain. On the bulk harness (``tb.harness.tile``, no parameter
    writes) when its integer front end can model ``front_end``; with a per-column gain
    error or compression (which it cannot) on the per-clock tile bench
    (``tb.runner.run_tile_capture``, the ADC study's check), whose activations must also
    equal ``golden``. Returns ``rtl_sim``, ``rtl_vectors``, ``rtl_mismatches``,
    ``rtl_seconds``; a bench that fails without a mismatch raises."""
    t0 = time.perf_counter()
    analog = np.asarray(analog, np.float64)
    build = worker_build_dir() / pid
    build.mkdir(parents=True, exist_ok=True)
    with _output_to(build / "rtl.log"):  # the simulator's chatter, out of the progress
        if front_end.get("gain") or front_end.get("compression"):
            bad = _rtl_tile_bench(tcfg, front_end, analog, params, active_steps, golden, rtl, build)
        else:
            bad = _rtl_bulk(tcfg, front_end, analog, params, active_steps, rtl, build)
    return {
        "rtl_sim": rtl["sim"],
        "rtl_vectors": int(analog.shape[0]),
        "rtl_mismatches": int(bad),
        "rtl_seconds": round(time.perf_counter() - t0, 2),
    }


def _rtl_bulk(tcfg, front_end, analog, params, active_steps, rtl, build: Path) -> int:
    from tb.harness.tile import TileHarness
    from tb.runner import CocotbFailure, read_results, run_bench

    v, phases, columns = analog.shape
    conv = v * phases
    steps = np.full(conv, active_steps or tcfg.sar.steps, dtype=np.int64)
    depth = 1 << max(4, (conv - 1).bit_length())
    harness = TileHarness(tcfg, stim_depth=depth, out_depth=tcfg.nmpu.beats * v, frac_bits=8)
    stim = build / "stimulus.npz"
    write_with(
        stim,
        lambda fh: np.savez(
            fh,
            analog=analog.reshape(conv, columns),
            steps=steps,
            **{k: np.asarray(a) for k, a in params.items()},
        ),
    )
    settings = {
        "config": tcfg.to_dict(),
        "stim_depth": depth,
        "out_depth": harness.out_depth,
        "frac_bits": 8,
        "stim_conversions": conv,
        "vectors": v,
        "write_rate": 0,
        "front_end": front_end,
        "pairs": [["random", "random"]],
        "stimulus": str(stim),
    }
    try:
        result, figures = run_bench(
            "tile_harness",
            harness,
            sim=rtl["sim"],
            build_dir=build,
            seed=rtl["seed"],
            settings=settings,
        )
        failed = result.failed
    except CocotbFailure:  # mismatches fail the cocotb test: count them
        figures, _ = read_results(build)
        failed = 1
    bad = sum(int(f.get("mismatches", 0)) for f in figures)
    if failed and not bad:
        raise RuntimeError(f"RTL bulk harness on {rtl['sim']} failed; see {build}/rtl.log")
    return bad


def _rtl_tile_bench(tcfg, front_end, analog, params, active_steps, golden, rtl, build) -> int:
    from model.capture import save
    from tb.runner import run_tile_capture

    path = build / "point.npz"
    save(
        path,
        analog=analog,
        **params,
        reference=np.asarray(golden, np.float64),
        sar_config=tcfg.sar,
        nmpu_config=tcfg.nmpu,
        provenance={
            "simulator": "builtin",
            "note": "flows.sweep RTL check",
            "adc_front_end_study": front_end,
            "active_steps": active_steps,
        },
        scaling={"out_scale": 1.0, "act_lsb": 1.0, "out_frac": int(tcfg.nmpu.out_frac)},
    )
    result, fig, hw = run_tile_capture(
        path,
        sim=rtl["sim"],
        build_dir=build,
        seed=rtl["seed"],
        front_end=front_end,
        active_steps=active_steps,
        tile_config=tcfg,
    )
    bad = fig["adc_mismatches"] + fig["activation_mismatches"] + result.failed
    return bad + int(np.count_nonzero(np.asarray(hw) != np.asarray(golden)))


@contextlib.contextmanager
def _output_to(path: Path):
    """File descriptors 1 and 2 (the simulator subprocesses' output too) into ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
