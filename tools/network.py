"""The whole digits network on the tile, co-verified layer by layer on the RTL.

    python -m tools.network --out build/network [--sim icarus|verilator] [--vectors N]

Every layer of the digits MLP runs through its own crossbar, SAR ADC and NMPU
(``model.flow.network``): layer ``L``'s integer activations drive layer ``L + 1``'s
input DAC (bit-sliced into phases), the last layer has no ReLU, the answer is the
argmax of its outputs. Per layer this writes a capture (``<out>/layer<L>.npz``,
schema v2, the rest of the network as its head) and runs it on the RTL
(``tb.runner.run_tile_capture``: SAR in closed loop, NMPU, every code and activation
scored against the golden chain). The RTL outputs of layer ``L`` are the inputs of
layer ``L + 1``'s capture, so the RTL chain is co-verified end to end. Prints a table
per layer (RMS error against the float layer and against the float network,
mismatches, vectors checked) and the end-to-end accuracy of the float network, the
golden all-hardware chain and the RTL all-hardware chain; writes ``<out>/network.json``.

Exit status 0 iff every layer ran with 0 mismatches and the RTL chain equals the golden
chain; 2 with one line for invalid input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from model.flow import capture, digits, network
from tools.cli import ArgumentParser, UsageError, run, user_input

#: The networks this tool runs: name -> (weights file, input bits or None for signed inputs).
NETWORKS = {
    "mlp256": ("captures/digits_mlp_256x4.npz", 4),
    "mlp32": ("captures/digits_mlp.npz", None),
}
REPO = Path(__file__).resolve().parent.parent
#: End-to-end goal: the all-hardware chain within this many accuracy points of float.
GOAL_POINTS = 1.0


def parse_args(argv=None):
    ap = ArgumentParser(prog="python -m tools.network", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/network", help="folder for captures and builds")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
    ap.add_argument(
        "--vectors", type=int, help="scored test vectors (first N of the test split; default all)"
    )
    ap.add_argument(
        "--network",
        choices=sorted(NETWORKS),
        default="mlp256",
        help="mlp256: 64-256-10 on 4-bit pixel codes (the paper's tile); "
        "mlp32: 64-32-10 on signed inputs pixel/8 - 1",
    )
    ap.add_argument("--lanes", help="NMPU lanes per layer, comma-separated (default: largest "
                    "divisor of the columns up to 64)")  # fmt: skip
    ap.add_argument(
        "--slice-bits", type=int, default=4, help="bits per phase of hidden activations"
    )
    ap.add_argument(
        "--input-slice-bits", type=int, default=1, help="bits per phase of 4-bit pixel codes"
    )
    ap.add_argument("--seed", type=int, default=1, help="crossbar seed (layer L: seed + L)")
    ap.add_argument("--sim-seed", type=int, default=1, help="cocotb seed")
    ap.add_argument("--adc-ideal", action="store_true", help="ideal ADC front ends")
    ap.add_argument("--no-rtl", action="store_true", help="golden chain only")
    return ap.parse_args(argv)


def build_run(args) -> network.NetworkRun:
    """Calibrate the network and run the golden chain (``model.flow.network.build``)."""
    path, bits = NETWORKS[args.network]
    mlp = digits.MLP.load(REPO / path)
    data = digits.load_data(input_bits=bits)
    n = len(data.y_test) if args.vectors is None else args.vectors
    if not 1 <= n <= len(data.y_test):
        raise UsageError(f"--vectors must be in [1, {len(data.y_test)}], not {n}")
    if bits is None:
        first = network.InputSpec("signed", dac_bits=8)
        what = "64-32-10 digits MLP on signed inputs pixel/8 - 1"
    else:
        first = network.InputSpec("unsigned", bits=bits, slice_bits=args.input_slice_bits)
        what = f"64-{mlp.hidden}-10 digits MLP on {bits}-bit pixel codes"
    lanes = None
    if args.lanes:
        try:
            lanes = tuple(int(v) for v in args.lanes.split(","))
        except ValueError:
            raise UsageError(
                f"--lanes must be integers separated by commas, not {args.lanes!r}"
            ) from None
    extra = {"front_end": {}} if args.adc_ideal else {}
    opts = network.NetworkOptions(lanes=lanes, seed=args.seed, slice_bits=args.slice_bits, **extra)
    layers = [(mlp.w1, mlp.b1), (mlp.w2, mlp.b2)]
    return network.build(
        layers, first, data.x_train, data.y_train, data.x_test[:n], data.y_test[:n], opts,
        name=f"{what} ({path})",
    )  # fmt: skip


def run_rtl(run: network.NetworkRun, out: Path, sim: str, seed: int) -> list[dict]:
    """Every layer on the RTL, chained: layer L's capture takes the RTL outputs of L - 1."""
    from tb.runner import CocotbFailure, run_tile_capture

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
        print(f"layer {i}: {path} on {sim} ...", flush=True)
        failure = None
        try:
            _, fig, hw = run_tile_capture(
                path, sim=sim, build_dir=out / f"layer{i}", seed=seed,
                front_end=cap["provenance"]["adc_front_end"],
            )  # fmt: skip
        except CocotbFailure as exc:
            failure, fig, hw = str(exc), None, None
            summary = out / f"layer{i}" / "summary.jsonl"
            if summary.exists():
                fig = json.loads(summary.read_text().splitlines()[0])
            hw_path = out / f"layer{i}" / "hw_out.npy"
            hw = np.load(hw_path) if hw_path.exists() else expected
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


def report(run: network.NetworkRun, rtl: list[dict] | None, args) -> tuple[list[str], dict]:
    """The per-layer table and the end-to-end accuracies (lines, and a JSON-able summary)."""
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
    summary = {"vectors": n, "sim": None if rtl is None else args.sim, "layers": []}
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
        + (f"{_pct(ra)} on {args.sim}" if ra is not None else "not run (--no-rtl)"),
        f"goal (hardware within {GOAL_POINTS:g} point of float): "
        + ("met" if goal else "MISSED")
        + f" ({100 * (worst - fa):+.2f} points)",
    ]
    for layer in run.layers:
        for line in layer.report:
            if line.startswith(("chose", "calibration:", "ADC full scale")):
                lines.append(f"layer {layer.index} import: {line}")
    return lines, summary


def main(argv=None) -> int:
    return run(_main, argv)


def _main(argv) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    with user_input():
        run_ = build_run(args)
        rtl = None
        out.mkdir(parents=True, exist_ok=True)
        if args.no_rtl:
            for layer in run_.layers:
                capture.save(out / f"layer{layer.index}.npz", **layer.capture)
        else:
            rtl = run_rtl(run_, out, args.sim, args.sim_seed)
    lines, summary = report(run_, rtl, args)
    ok = rtl is None or all(r["mismatches"] == 0 and r["equals_golden_chain"] and not r["failure"]
                            for r in rtl)  # fmt: skip
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["result"] = "PASS" if ok else "FAIL"
    (out / "network.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines += [
        f"captures           : {out}/layer<L>.npz (make sim CAPTURE=... runs each); "
        f"summary {out}/network.json",
        f"wall time          : {summary['wall_seconds']:.1f} s",
        f"RESULT             : {summary['result']}",
    ]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
