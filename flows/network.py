"""The whole digits network on the tile, co-verified layer by layer on the RTL
(``make network``; ``tools.network`` is its command line).

Why here: every layer's capture runs through the tile's RTL
(``tb.runner.run_tile_capture``: SAR in closed loop, NMPU, every code and activation
scored against the golden chain); the golden chain itself is ``model.flow.network``
(set up by ``model.flow.digits_network``). The RTL outputs of layer ``L`` are the inputs
of layer ``L + 1``'s capture, so the RTL chain is co-verified end to end. :func:`report`
is the per-layer table (RMS error against the float layer and against the float
network, mismatches, vectors checked) with the end-to-end accuracy of the float network,
the golden all-hardware chain and the RTL all-hardware chain; :func:`finish` writes
``<out>/network.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from model.files import write_text_atomic
from model.flow import capture, network
from model.golden.tile import TileConfig

#: End-to-end goal: the all-hardware chain within this many accuracy points of float.
GOAL_POINTS = 1.0


def save_layers(run: network.NetworkRun, out: Path) -> None:
    """Each layer's golden capture as ``<out>/layer<L>.npz`` (no RTL run)."""
    for layer in run.layers:
        capture.save(out / f"layer{layer.index}.npz", **layer.capture)


def run_rtl(run: network.NetworkRun, out: Path, sim: str, seed: int, log=None) -> list[dict]:
    """Every layer on the RTL, chained: layer L's capture takes the RTL outputs of L - 1.

    ``log``: called with one line per layer as it starts.
    """
    from tb.runner import CocotbFailure, read_results, run_tile_capture

    rows, prev = [], None
    for layer in run.layers:
        i = layer.index
        if prev is None:
            cap = layer.capture
        else:
            cap = network.layer_capture(
                layer, prev, note=f"RTL outputs of layer {i - 1} on {sim} (tools.network)"
            )
        path = capture.save(out / f"layer{i}.npz", **cap)
        expected = network.golden_outputs(cap)
        t0 = time.perf_counter()
        if log is not None:
            log(f"layer {i}: {path} on {sim} ...")
        failure = None
        try:
            _, fig, hw = run_tile_capture(
                path, sim=sim, build_dir=out / f"layer{i}", seed=seed,
                front_end=cap["provenance"]["adc_front_end"],
                tile_config=TileConfig(cap["sar_config"], cap["nmpu_config"]),
            )  # fmt: skip
        except CocotbFailure as exc:
            failure = str(exc)
            figures, hw = read_results(out / f"layer{i}")
            fig = figures[0] if figures else None
            hw = expected if hw is None else hw
        mism = None if fig is None else fig["adc_mismatches"] + fig["activation_mismatches"]
        rows.append(
            {
                "layer": i,
                "outputs": hw,
                "mismatches": mism,
                "vectors_checked": None if fig is None else fig["vectors"],
                "values_checked": None
                if fig is None
                else fig["adc_values_checked"] + fig["activation_values_checked"],
                "equals_golden_chain": bool(np.array_equal(hw, run.outputs[i])),
                "failure": failure,
                "seconds": time.perf_counter() - t0,
                "layer_rms": network.rms(hw - cap["reference"]),
            }
        )
        prev = hw
    return rows


def _pct(a) -> str:
    return "-" if a is None else f"{100 * a:.2f} %"


def report(run: network.NetworkRun, rtl: list[dict] | None, sim: str) -> tuple[list[str], dict]:
    """The per-layer table and the end-to-end accuracies (lines, and a JSON-able summary);
    ``sim``: the simulator of the ``rtl`` rows."""
    n = len(run.labels)
    lines = [
        f"== tools.network: {run.layers[0].capture['provenance']['network']} ==",
        f"scored vectors     : first {n} of the digits test split; calibration: training "
        f"split ({len(run.layers[0].cal_out)} vectors)",
        "",
        "| layer | shape | phases | lanes | act | RMS vs float layer (LSB) | RMS vs float "
        "network (LSB) | vectors checked | mismatches | RTL = golden |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = {"vectors": n, "sim": None if rtl is None else sim, "layers": []}
    for layer in run.layers:
        i, cfg = layer.index, layer.capture["nmpu_config"]
        r = rtl[i] if rtl else None
        row = {
            "layer": i,
            "shape": list(layer.weight.shape),
            "phases": cfg.phases,
            "lanes": cfg.lanes,
            "activation": cfg.activation,
            "act_lsb": layer.act_lsb,
            "golden_layer_rms": run.layer_rms(i),
            "golden_chain_rms": run.chain_rms(i),
        }
        if r is not None:
            keys = ("mismatches", "vectors_checked", "values_checked", "equals_golden_chain",
                    "layer_rms", "seconds")  # fmt: skip
            row.update({k: r[k] for k in keys})
            row["chain_rms"] = run.chain_rms(i, r["outputs"])
        summary["layers"].append(row)
        rms_l = row.get("layer_rms", row["golden_layer_rms"])
        rms_c = row.get("chain_rms", row["golden_chain_rms"])
        lines.append(
            f"| {i} | {layer.weight.shape[0]}x{layer.weight.shape[1]} | {cfg.phases} | "
            f"{cfg.lanes} | {cfg.activation} | {rms_l:.3f} | {rms_c:.3f} | "
            + (
                "not run | - | - |"
                if r is None
                else f"{r['vectors_checked']} ({r['values_checked']} values) | {r['mismatches']} | "
                f"{'yes' if r['equals_golden_chain'] else 'NO'} |"
            )
        )
    fa, ga = run.float_accuracy, run.golden_accuracy
    ra = None if not rtl else network.accuracy(rtl[-1]["outputs"], run.labels)
    summary.update(float_accuracy=fa, golden_accuracy=ga, rtl_accuracy=ra)
    worst = min(a for a in (ga, ra) if a is not None)
    goal = 100 * (fa - worst) <= GOAL_POINTS
    summary["goal_within_1_point"] = goal
    lines += [
        "",
        f"end-to-end accuracy ({n} vectors): float {_pct(fa)}, golden all-hardware chain "
        f"{_pct(ga)}, RTL all-hardware chain "
        + (f"{_pct(ra)} on {sim}" if ra is not None else "not run (--no-rtl)"),
        f"goal (hardware within {GOAL_POINTS:g} point of float): "
        + ("met" if goal else "MISSED")
        + f" ({100 * (worst - fa):+.2f} points)",
    ]
    for layer in run.layers:
        for line in layer.report:
            if line.startswith(("chose", "calibration:", "ADC full scale")):
                lines.append(f"layer {layer.index} import: {line}")
    return lines, summary


def finish(
    run: network.NetworkRun, rtl: list[dict] | None, out: Path, sim: str, seconds: float
) -> tuple[bool, list[str]]:
    """The report, its verdict and ``<out>/network.json``: returns (pass, report lines).

    Pass: no RTL run, or every layer ran with 0 mismatches and equals the golden chain.
    """
    lines, summary = report(run, rtl, sim)
    ok = rtl is None or all(r["mismatches"] == 0 and r["equals_golden_chain"] and not r["failure"]
                            for r in rtl)  # fmt: skip
    summary["wall_seconds"] = seconds
    summary["result"] = "PASS" if ok else "FAIL"
    write_text_atomic(out / "network.json", json.dumps(summary, indent=1) + "\n")
    lines += [
        f"captures           : {out}/layer<L>.npz (make sim CAPTURE=... runs each); "
        f"summary {out}/network.json",
        f"wall time          : {summary['wall_seconds']:.1f} s",
        f"RESULT             : {summary['result']}",
    ]
    return ok, lines
