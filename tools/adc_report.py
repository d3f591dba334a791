"""SAR ADC characterisation report: ``python -m tools.adc_report --out build/reports``.

Samples one mismatch instance of the analog front end and writes PNG plots
(transfer function, DNL, INL, ENOB vs active_steps) plus ``adc_report.json``,
and prints the ENOB-per-active_steps table.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from model.analog.adc_metrics import code_density, dnl_inl, enob, transfer_function  # noqa: E402
from model.analog.sar_frontend import AnalogFrontEnd  # noqa: E402
from model.golden.sar import SARConfig  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument("--columns", type=int, default=64, help="columns of the sampled instance")
    ap.add_argument("--mismatch", type=float, default=0.03, help="unit-capacitor relative sigma")
    ap.add_argument("--offset", type=float, default=0.5, help="comparator offset sigma, LSB")
    ap.add_argument("--noise", type=float, default=0.3, help="comparator noise rms, LSB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-code", type=int, default=32, help="ramp points per code for DNL/INL")
    args = ap.parse_args(argv)

    cfg = SARConfig(columns=args.columns)
    fe = AnalogFrontEnd.sample(
        cfg, mismatch=args.mismatch, offset=args.offset, noise=args.noise, seed=args.seed
    )
    args.out.mkdir(parents=True, exist_ok=True)
    n = 1 << cfg.out_width

    v, codes = transfer_function(cfg, fe, per_code=args.per_code)
    # DNL/INL from the unclipped part of the ramp only: clipped inputs would pile
    # up in the highest code a column reaches (see model.adc_metrics.dnl_inl).
    inside = (v >= -1) & (v < 1)
    dnl, inl = dnl_inl(code_density(codes[inside], cfg.out_width))
    worst = int(np.nanargmax(np.nanmax(np.abs(inl), axis=1)))

    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot(v, codes[:, worst], lw=0.8, label=f"column {worst} (worst INL)")
    ax.plot(v, np.clip(np.floor((v + 1) / 2 * n), 0, n - 1), "k--", lw=0.6, label="ideal")
    ax.set(xlabel="input (normalised full scale)", ylabel="code", title="Transfer function")
    ax.legend()
    fig.savefig(args.out / "sar_transfer.png", dpi=120)

    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # end codes are NaN
    for name, arr in (("dnl", dnl), ("inl", inl)):
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(np.arange(n), arr[worst], lw=0.8, label=f"column {worst}")
        ax.fill_between(
            np.arange(n), np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), alpha=0.3,
            label=f"min..max over {cfg.columns} columns",
        )  # fmt: skip
        ax.set(xlabel="code", ylabel=f"{name.upper()} (LSB)", title=f"{name.upper()} (endpoint)")
        ax.legend()
        fig.savefig(args.out / f"sar_{name}.png", dpi=120)

    ks = np.arange(1, cfg.steps + 1)
    enobs = np.array([enob(cfg, fe, int(k)) for k in ks])  # [k, columns]
    ideal = np.array([enob(cfg, AnalogFrontEnd.ideal(cfg), int(k))[0] for k in ks])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, enobs.mean(axis=1), "o-", label="sampled instance, mean")
    ax.fill_between(ks, enobs.min(axis=1), enobs.max(axis=1), alpha=0.3, label="min..max")
    ax.plot(ks, ideal, "k--", label="ideal front end")
    ax.set(xlabel="active_steps", ylabel="ENOB (bits)", title="ENOB vs active_steps")
    ax.legend()
    fig.savefig(args.out / "sar_enob.png", dpi=120)
    plt.close("all")

    print(
        f"SAR instance: columns={cfg.columns} mismatch={args.mismatch} offset={args.offset} "
        f"noise={args.noise} seed={args.seed}"
    )
    print(f"max |DNL| {np.nanmax(np.abs(dnl)):.3f} LSB, max |INL| {np.nanmax(np.abs(inl)):.3f} LSB")
    print("active_steps  ENOB mean   min     max   ideal")
    rows = []
    for k, e, i in zip(ks, enobs, ideal, strict=True):
        print(f"{k:12d}  {e.mean():9.3f} {e.min():7.3f} {e.max():7.3f} {i:7.3f}")
        rows.append({"active_steps": int(k), "mean": e.mean(), "min": e.min(), "max": e.max()})
    report = {
        "config": cfg.to_dict(),
        "front_end": fe.params,
        "max_abs_dnl": float(np.nanmax(np.abs(dnl))),
        "max_abs_inl": float(np.nanmax(np.abs(inl))),
        "enob": [{k: float(x) for k, x in r.items()} for r in rows],
    }
    (args.out / "adc_report.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}/sar_*.png and adc_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
