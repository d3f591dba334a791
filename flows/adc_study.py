"""The ADC study's RTL rows and the correction stage's area (``make adc-study``;
``tools.adc_study`` is its command line).

Why here: the golden-chain rows are ``model.flow.adc_study`` (numpy and torch); this
module runs selected rows through the tile RTL on Icarus and Verilator
(``tb.runner.run_tile_capture``, :func:`rtl_check`) and synthesises the study's NMPU
with and without the correction stage (``flows.synthesis``, :func:`correction_area`).
:func:`run_study` is the whole study: it writes ``<out>/adc_study.json``
``{"float_accuracy": ..., "rows": [...], ...}``, ``adc_study.png`` and ``adc_study.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from model.analog import crossbar
from model.files import write_text_atomic
from model.flow import adc_training as at
from model.flow.adc_study import Study, StudyConfig, describe_net, replace_cfg
from model.flow.adc_study_report import markdown, plot
from model.golden.tile import TileConfig
from model.nmpu import NMPUConfig


def run_study(cfg: StudyConfig, out: Path, log=print, *, sweeps: bool = True,
              scheduler: str | None = None, workers: int | None = None,
              serial: bool = False) -> dict:  # fmt: skip
    """The whole study: the recipe and Monte Carlo sweeps (``flows.adc_study_stats``, on
    Dask: ``scheduler``, a LocalCluster of ``workers``, or ``serial`` in process; skipped
    with ``sweeps=False``), the one-run golden-chain rows, the RTL rows, the
    correction-stage area; every row with its mean and 95 % interval. Writes the report
    (JSON, plot, markdown table) to ``out`` and returns it."""
    from flows import adc_study_stats as stats

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done = {}
    if sweeps:
        done = stats.run_study_sweeps(out, quick=cfg.quick, scheduler=scheduler,
                                      workers=workers, serial=serial, log=log)  # fmt: skip
    study = Study(cfg, log=log)
    report = study.run()
    rtl_check(study, out)
    report["correction_area"] = correction_area(out) if cfg.area else None
    report["recipe_selection"] = None
    if done:
        spec, result = done["recipe"]
        configured = stats.configured_recipes(cfg)
        report["recipe_selection"] = stats.recipe_selection(spec, result["rows"], configured)
    mc_spec, mc = done.get("mc", (None, {"rows": []}))
    stats.merge_monte_carlo(report, mc_spec, mc["rows"])
    report["sweeps"] = {
        name: {k: result[k] for k in ("spec", "points", "ran", "skipped", "seconds",
                                      "task_seconds", "utilisation", "scheduler", "workers")}
        for name, (_, result) in done.items()
    }  # fmt: skip
    report["seconds"] = round(time.perf_counter() - t0, 1)
    write_text_atomic(out / "adc_study.json", json.dumps(report, indent=1) + "\n")
    plot(report, out / "adc_study.png")
    write_text_atomic(out / "adc_study.md", markdown(report) + "\n")
    return report


def rtl_check(study: Study, out: Path) -> None:
    """The ``rtl_rows`` of the study on every ``rtl_sims`` simulator: each row's first tile
    layer written as a capture (``<out>/adc_study_captures``) and run through the tile RTL
    in closed loop with the row's front end and ``active_steps``; the row gets
    ``rtl_checked``, ``rtl_mismatches`` (codes, activations, failed tests and differences
    from the study's own golden outputs, summed over the simulators) and ``rtl``."""
    c = study.cfg
    if not c.rtl_sims:
        return
    from model.capture import save
    from tb.runner import run_tile_capture

    for spec in c.rtl_rows:
        net, lname, k, training, variant, calibration = spec
        if net not in c.nets or lname not in c.levels or k not in c.ks:
            continue
        i = study.find(net, lname, k, training, variant, calibration)
        tnet, level, seed, _, runs = study.runs[i]
        run0 = runs[0]
        v = min(c.rtl_vectors, len(run0.analog))
        sar, ncfg = at.tile_config(tnet.columns(0))
        gain = tnet.bn_gain[0].detach().numpy()
        bias = tnet.bias[0].detach().numpy()
        ref = np.maximum(gain * run0.reference_mac[:v] + bias, 0.0) / tnet.act_lsb[0]
        name = f"{net}_{lname}_k{k}_{training}_{calibration}"
        path = out / "adc_study_captures" / f"{name}.npz"
        front_end = level.settings(at.instance_seed(seed, 0))
        save(
            path,
            analog=run0.analog[:v, None, :],
            **run0.params,
            reference=ref,
            labels=study.data.y_test[:v] if net == "mlp" else None,
            sar_config=sar,
            nmpu_config=ncfg,
            provenance={
                "simulator": "builtin",
                "simulator_version": {"model.crossbar": crossbar.MODEL_VERSION},
                "network": describe_net(tnet),
                "layer": "tile layer 0",
                "training": training,
                "variant": variant,
                "calibration": calibration,
                "active_steps": k,
                **front_end_provenance(front_end),
                "seed": c.seed,
                "command": f"python -m tools.adc_study --seed {c.seed}",
            },
            scaling={
                "out_scale": float(tnet.out_scale[0]),
                "act_lsb": float(tnet.act_lsb[0]),
                "out_frac": int(ncfg.out_frac),
            },
        )
        total, detail = 0, {}
        for sim in c.rtl_sims:
            ts = time.perf_counter()
            result, fig, hw = run_tile_capture(
                path,
                sim=sim,
                build_dir=out / "adc_study_rtl" / f"{name}_{sim}",
                seed=c.seed,
                front_end=front_end,
                active_steps=k,
                tile_config=TileConfig(sar, ncfg),
            )
            bad = fig["adc_mismatches"] + fig["activation_mismatches"] + result.failed
            # The RTL's activations against this study's own golden outputs, too.
            bad += int(np.count_nonzero(hw != run0.out[:v]))
            total += bad
            detail[sim] = {"mismatches": bad, "vectors": v,
                           "seconds": round(time.perf_counter() - ts, 1)}  # fmt: skip
            study.log(f"  RTL {sim}: {name}: {v} vectors, {bad} mismatches")
        study.rows[i].update(rtl_checked=True, rtl_mismatches=total, rtl=detail,
                            rtl_capture=str(path))  # fmt: skip


def front_end_provenance(front_end: dict) -> dict:
    """``adc_front_end`` for the capture's provenance, when the capture schema knows every key.

    The capture loader (``model.flow.capture``) checks ``adc_front_end`` against its own
    list of ``AnalogFrontEnd.sample`` keys; until that list has ``gain`` and
    ``compression``, a front end using them is recorded as ``adc_front_end_study`` (so
    ``make sim CAPTURE=...`` without ``--adc-*`` options would use the ideal front end;
    the study passes the front end to the bench explicitly).
    """
    from model.flow import capture

    known = getattr(capture, "FRONT_END_KEYS", ("mismatch", "offset", "noise", "seed"))
    if set(front_end) <= set(known):
        return {"adc_front_end": front_end}
    return {"adc_front_end_study": front_end}


def correction_area(out: Path) -> dict | None:
    """Yosys area of the study's NMPU with and without the correction stage
    (``flows.synthesis.measure``); ``{"error": ...}`` when synthesis is not available."""
    if "correction" not in NMPUConfig.__dataclass_fields__:
        return None
    try:
        from flows import synthesis

        rtl = out / "adc_study_area"
        rtl.mkdir(parents=True, exist_ok=True)
        res = {}
        for corr in (True, False):
            cfg = replace_cfg(at.tile_config(32)[1], correction=corr)
            res["with_correction" if corr else "without_correction"] = synthesis.measure(
                "fixed", cfg, rtl
            )
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    w, wo = res["with_correction"], res["without_correction"]
    res["config"] = "NMPU 32 columns, 8 lanes, scale UQ(3,6) (the MLP's tile layer)"
    res["dropped_transistors"] = w["transistors"] - wo["transistors"]
    res["dropped_fraction"] = round(res["dropped_transistors"] / w["transistors"], 4)
    return res
