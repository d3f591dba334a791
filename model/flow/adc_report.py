"""SAR ADC characterisation report (``make adc-report``; ``tools.adc_report`` is the command
line): numpy and matplotlib only, the measurements are ``model.analog.adc_metrics``'.

:func:`write_report` samples one mismatch instance of the analog front end and writes,
to ``out``:

* ``adc_report.json`` -- test conditions; static figures measured with the
  comparator noise *off* (same capacitor and offset draw): missing codes (end
  codes included), the codes the DNL excludes, max |DNL| and |INL|, offset and
  gain error (endpoint and best fit, LSB) per column and summarised; the noise
  figures separately (comparator sigma, input-referred error it adds, DNL with
  noise on); the sine test (SNDR, SNR, SFDR, THD, ENOB) per column; ENOB per
  ``active_steps``; the early-stop error ``mean(code_k - code_full)`` and its
  bound ``ceil(S_k / 2)``.
* PNG plots, each with the test conditions: ``sar_histogram.png`` (code
  density), ``sar_transfer_error.png`` (code minus ideal code vs input),
  ``sar_dnl.png``, ``sar_inl.png`` (missing codes marked),
  ``sar_spectrum.png`` (annotated), ``sar_enob.png`` (ENOB vs active_steps).

and returns the report with its summary lines (the ENOB-per-active_steps table).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.analog.adc_metrics import (
    dnl_inl_of,
    early_stop_error,
    enob_from_sinad,
    noise_error_rms,
    noise_free,
    sinad,
    sine_codes,
    spectrum_metrics,
    static_linearity,
)
from model.analog.sar_frontend import AnalogFrontEnd
from model.files import save_figure, write_text_atomic
from model.golden.sar import SARConfig, ideal_codes, sar_convert

SAMPLES, CYCLES, AMPLITUDE, HARMONICS = 4096, 127, 0.99, 10


@dataclass(frozen=True)
class ReportSettings:
    """The sampled instance and the measurement: ``mismatch`` (unit-capacitor relative
    sigma), ``offset`` (comparator offset sigma, LSB), ``noise`` (comparator noise rms,
    LSB), ``seed``; ``steps`` and ``weights`` (``None``: binary) of the SAR; ``per_code``:
    ramp points per LSB of the static test."""

    out: Path
    columns: int = 64
    mismatch: float = 0.03
    offset: float = 0.5
    noise: float = 0.3
    seed: int = 1
    steps: int = 8
    weights: tuple[int, ...] | None = None
    per_code: int = 32


def _stats(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


def _conditions(rs, cfg, extra: str = "") -> str:
    w = "binary" if rs.weights is None else "weights " + ",".join(map(str, cfg.weights))
    s = (
        f"mismatch={rs.mismatch}  offset={rs.offset} LSB  noise={rs.noise} LSB rms  "
        f"seed={rs.seed}\n{cfg.columns} columns, {cfg.steps} steps ({w}), "
        f"{cfg.out_width}-bit"
    )
    return s + (f"\n{extra}" if extra else "")


def _box(ax, text: str, y: float = 0.99) -> None:
    ax.text(
        0.01, y, text, transform=ax.transAxes, va="top" if y > 0.5 else "bottom", ha="left",
        fontsize=7,
        bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85},
    )  # fmt: skip


def write_report(out: Path, **settings) -> tuple[dict, list[str]]:
    """Characterise one sampled instance (``settings``: the fields of
    :class:`ReportSettings`); write ``adc_report.json`` and the plots to ``out``; return
    the report and its summary lines."""
    rs = ReportSettings(Path(out), **settings)
    cfg = SARConfig(columns=rs.columns, steps=rs.steps, weights=rs.weights)
    full_code = cfg.full_code
    kw = {"mismatch": rs.mismatch, "offset": rs.offset, "seed": rs.seed}
    fe = AnalogFrontEnd.sample(cfg, noise=rs.noise, **kw)
    # Static figures: the same instance with the comparator noise off. Building it with
    # noise 0 and the same seed must give the same capacitor and offset draw.
    quiet = AnalogFrontEnd.sample(cfg, noise=0.0, **kw)
    if not (np.array_equal(quiet.weights, fe.weights) and np.array_equal(quiet.offset, fe.offset)):
        raise RuntimeError("noise-free front end is not the same mismatch/offset draw")
    if not np.array_equal(noise_free(fe).weights, quiet.weights):
        raise RuntimeError("noise_free() changed the capacitor draw")
    rs.out.mkdir(parents=True, exist_ok=True)

    st = static_linearity(cfg, quiet, per_code=rs.per_code)
    per_col = st.per_column()
    n_missing = np.array([len(m) for m in st.missing])
    inl_abs = np.array([r["max_abs_inl"] for r in per_col])
    # Plotted column: most missing codes, then worst noise-free |INL|.
    col = int(np.lexsort((-inl_abs, -n_missing))[0])
    why = "most missing codes" if n_missing[col] else "worst |INL|"
    cond = _conditions(rs, cfg)
    cond_col = f"column {col} ({why})"

    # Noise, reported separately from the static figures.
    dnl_noisy, inl_noisy = dnl_inl_of(cfg, fe, per_code=rs.per_code)
    err_rms = noise_error_rms(cfg, fe)

    # Dynamic: coherent sine, full conversion, noise on.
    codes = sine_codes(cfg, fe, None, SAMPLES, CYCLES, AMPLITUDE)
    spec = spectrum_metrics(codes, CYCLES, cfg.out_width, HARMONICS)
    spec_quiet = spectrum_metrics(
        sine_codes(cfg, quiet, None, SAMPLES, CYCLES, AMPLITUDE), CYCLES, cfg.out_width, HARMONICS
    )
    ks = np.arange(1, cfg.steps + 1)
    ideal_fe = AnalogFrontEnd.ideal(SARConfig(columns=1, steps=cfg.steps, weights=cfg.weights))
    cfg1 = SARConfig(columns=1, steps=cfg.steps, weights=cfg.weights)
    enobs = np.array(
        [enob_from_sinad(sinad(sine_codes(cfg, fe, int(k)), CYCLES)) for k in ks]
    )  # [k, columns]
    ideal = np.array([enob_from_sinad(sinad(sine_codes(cfg1, ideal_fe, int(k)), CYCLES))[0]
                      for k in ks])  # fmt: skip
    early = early_stop_error(cfg, fe)
    early_ideal = early_stop_error(cfg1, ideal_fe)

    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # end codes are NaN
    _plots(rs, cfg, st, col, cond, cond_col, dnl_noisy, spec, ks, enobs, ideal, quiet)

    report = {
        "config": cfg.to_dict(),
        "front_end": fe.params,
        "conditions": {
            "static": f"comparator noise off (same mismatch/offset draw, seed {rs.seed}); "
            f"dense ramp, {rs.per_code} points/LSB, overdriven by {st.pad_codes} LSB at "
            "both ends for missing codes; DNL/INL code-density, endpoint normalisation",
            "offset_gain": "LSB, input-referred. offset = 1 - (line at k=1): codes shifted up "
            "(= comparator offset of an ideal column); gain = (slope - 1) * (N - 2): span "
            "error first to last transition (positive: gain below 1). endpoint = line "
            "through the outermost observed transitions; fit = least squares",
            "dynamic": f"coherent sine, {SAMPLES} samples, {CYCLES} cycles, amplitude "
            f"{AMPLITUDE} FS, no window, noise on; THD harmonics 2..{HARMONICS} aliased; "
            "ENOB = (SNDR - 1.76) / 6.02, no amplitude correction",
            "early_stop": "mean and max |code_k - code_full| over a uniform ramp, noise on",
        },
        "static": {"summary": st.summary(full_code), "per_column": per_col},
        "noise": {
            "comparator_sigma_lsb": rs.noise,
            "input_referred_error_rms_lsb": _stats(err_rms),
            "max_abs_dnl_noise_on": float(np.nanmax(np.abs(dnl_noisy))),
            "max_abs_inl_noise_on": float(np.nanmax(np.abs(inl_noisy))),
            "note": "DNL/INL with noise on (code density, min_hits 0.25) are not static "
            "figures: the noise blurs missing codes (a true DNL -1 reads > -1)",
        },
        "dynamic": {
            "summary": {m: _stats(spec[m]) for m in ("sndr", "snr", "sfdr", "thd", "enob")},
            "noise_off_summary": {
                m: _stats(spec_quiet[m]) for m in ("sndr", "snr", "sfdr", "thd", "enob")
            },
            "per_column": [
                {
                    "column": c,
                    **{m: float(spec[m][c]) for m in ("sndr", "snr", "sfdr", "thd", "enob")},
                }
                for c in range(cfg.columns)
            ],  # fmt: skip
        },
        "enob_vs_active_steps": [
            {"active_steps": int(k), **_stats(e), "ideal": float(i)}
            for k, e, i in zip(ks, enobs, ideal, strict=True)
        ],
        "early_stop": [
            {
                "active_steps": int(k),
                "bound_ceil_half_skipped": int(early["bound"][k - 1]),
                "mean_error_lsb": _stats(early["mean"][k - 1]),
                "max_abs_error_lsb": int(early["max_abs"][k - 1].max()),
                "ideal_mean_error_lsb": float(early_ideal["mean"][k - 1, 0]),
            }
            for k in ks
        ],
    }
    write_text_atomic(rs.out / "adc_report.json", json.dumps(report, indent=2))

    s = report["static"]["summary"]
    lines = [f"SAR instance: {cond.replace(chr(10), '; ')}"]
    lines.append(
        f"static (noise off): missing codes {s['total_missing_codes']} in "
        f"{s['columns_with_missing_codes']} columns (code 0: {s['columns_missing_code_0']}, "
        f"code {full_code}: {s['columns_missing_full_code']}, inner: "
        f"{s['columns_missing_inner_codes']}); max |DNL| {s['max_abs_dnl']:.3f}, "
        f"max |INL| {s['max_abs_inl']:.3f} LSB"
    )
    for name in ("offset", "gain"):
        e = s[f"{name}_endpoint_lsb"]
        lines.append(
            f"  {name} error (endpoint) mean {e['mean']:+.3f} std {e['std']:.3f} "
            f"range {e['min']:+.3f}..{e['max']:+.3f} LSB"
        )
    nz = report["noise"]
    lines.append(
        f"noise: comparator {rs.noise} LSB rms -> input-referred error "
        f"{nz['input_referred_error_rms_lsb']['mean']:.3f} LSB rms; max |DNL| with noise on "
        f"{nz['max_abs_dnl_noise_on']:.3f} LSB"
    )
    d = report["dynamic"]["summary"]
    lines.append(
        "sine (mean over columns): "
        + ", ".join(f"{m.upper()} {d[m]['mean']:.2f}" for m in ("sndr", "snr", "sfdr", "thd"))
        + f" dB, ENOB {d['enob']['mean']:.3f}"
    )
    lines.append("active_steps  ENOB mean   min     max   ideal  mean(code_k-code_full) bound")
    for r, e in zip(report["enob_vs_active_steps"], report["early_stop"], strict=True):
        lines.append(
            f"{r['active_steps']:12d}  {r['mean']:9.3f} {r['min']:7.3f} {r['max']:7.3f} "
            f"{r['ideal']:7.3f}  {e['mean_error_lsb']['mean']:+8.3f}"
            f"{e['bound_ceil_half_skipped']:15d}"
        )
    return report, lines


def _plots(rs, cfg, st, col, cond, cond_col, dnl_noisy, spec, ks, enobs, ideal, quiet):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, out = 1 << cfg.out_width, rs.out
    codes_ax = np.arange(n)
    miss = st.missing[col]
    miss_all = sorted({int(x) for m in st.missing for x in m})

    # Code histogram (noise-free ramp over exactly [-1, 1)).
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(codes_ax, st.hist[col] / st.per_code, width=1.0, lw=0)
    ax.axhline(1.0, color="k", ls="--", lw=0.6, label="ideal width 1 LSB")
    if miss.size:
        ax.plot(miss, np.zeros(miss.size), "rx", ms=9, mew=2, label=f"missing {list(miss)}")
    ax.set(xlabel="code", ylabel="code width (LSB) = hits / points per LSB",
           title=f"Code histogram, noise off, {cond_col}")  # fmt: skip
    ax.legend(loc="upper right", fontsize=7)
    _box(ax, cond)
    fig.tight_layout()
    save_figure(fig, out / "sar_histogram.png", dpi=120)

    # Code minus ideal code vs input (noise off and on).
    x = np.linspace(-1, 1, n * 16, endpoint=False)
    v = np.repeat(x[:, None], cfg.columns, axis=1)
    c_quiet = sar_convert(cfg, quiet, v)[0][:, col]
    fe = AnalogFrontEnd.sample(cfg, mismatch=rs.mismatch, offset=rs.offset,
                               noise=rs.noise, seed=rs.seed)  # fmt: skip
    c_noisy = sar_convert(cfg, fe, v)[0][:, col]
    ideal_c = ideal_codes(cfg, x)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, c_noisy - ideal_c, ".", ms=1, alpha=0.3, color="tab:orange",
            label="noise on")  # fmt: skip
    ax.step(x, c_quiet - ideal_c, where="post", lw=0.5, label="noise off")
    t = st.transitions[col]  # transition levels, LSB of input; ideal T[k] = k
    ok = np.isfinite(t)
    ax.plot(2 * t[ok] / n - 1, codes_ax[ok] - t[ok], "k-", lw=1.2,
            label="k - T[k]: transition error (noise off)")  # fmt: skip
    ax.set(xlabel="input (normalised full scale)", ylabel="code - ideal code (LSB)",
           title=f"Transfer error, {cond_col}")  # fmt: skip
    ax.legend(loc="upper right", fontsize=7)
    _box(ax, cond)
    fig.tight_layout()
    save_figure(fig, out / "sar_transfer_error.png", dpi=120)

    for name, arr in (("dnl", st.dnl), ("inl", st.inl)):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.fill_between(codes_ax, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), alpha=0.3,
                        label=f"min..max over {cfg.columns} columns")  # fmt: skip
        ax.plot(codes_ax, arr[col], lw=0.8, label=cond_col)
        if name == "dnl":
            ax.plot(codes_ax, dnl_noisy[col], lw=0.6, ls=":", color="tab:gray",
                    label=f"{cond_col}, noise ON (not static)")  # fmt: skip
        if miss_all:
            y = -1.0 if name == "dnl" else np.nanmin(arr) - 0.1
            ax.plot(miss_all, np.full(len(miss_all), y), "rv", ms=6,
                    label=f"missing codes, any column: {miss_all}")  # fmt: skip
        if miss.size:
            ax.plot(miss, np.full(miss.size, -1.0 if name == "dnl" else 0.0), "kx", ms=9,
                    mew=2, label=f"missing in column {col}")  # fmt: skip
        ax.set(xlabel="code", ylabel=f"{name.upper()} (LSB)",
               title=f"{name.upper()} (endpoint, code density, noise off)")  # fmt: skip
        ax.legend(loc="lower right", fontsize=7)
        _box(ax, cond)
        fig.tight_layout()
        save_figure(fig, out / f"sar_{name}.png", dpi=120)

    # Spectrum of the plotted column.
    db = spec["dbfs"][:, col]
    f = np.arange(db.size) / (2 * (db.size - 1))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(f[1:], db[1:], lw=0.6)  # DC (the mid-scale code) is not shown
    ax.plot(f[CYCLES], db[CYCLES], "go", ms=5, label="fundamental")
    hb = spec["bins"]
    ax.plot(f[hb], db[hb], "r^", ms=5, label=f"harmonics 2..{HARMONICS} (aliased)")
    sp = spec["spur_bin"][col]
    ax.plot(f[sp], db[sp], "ms", mfc="none", ms=8, label="largest spur")
    figs = (
        "\n".join(f"{m.upper()} {spec[m][col]:.2f} dB" for m in ("sndr", "snr", "sfdr", "thd"))
        + f"\nENOB {spec['enob'][col]:.3f} bit"
    )
    ax.text(0.99, 0.80, figs, transform=ax.transAxes, ha="right", va="top", fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85})  # fmt: skip
    ax.set(xlabel="frequency / sample rate", ylabel="power (dBFS)", ylim=(min(-140, db.min()), 5),
           title=f"Spectrum, {cond_col}, noise on")  # fmt: skip
    ax.legend(loc="upper right", fontsize=7)
    _box(ax, cond + f"\n{SAMPLES} samples, {CYCLES} cycles, {AMPLITUDE} FS, no window", 0.01)
    fig.tight_layout()
    save_figure(fig, out / "sar_spectrum.png", dpi=120)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ks, enobs.mean(axis=1), "o-", label="sampled instance, mean over columns")
    ax.fill_between(ks, enobs.min(axis=1), enobs.max(axis=1), alpha=0.3, label="min..max")
    ax.plot(ks, enobs[:, col], "x:", label=cond_col)
    ax.plot(ks, ideal, "k--", label="ideal front end")
    ax.set(xlabel="active_steps", ylabel="ENOB (bits)", title="ENOB vs active_steps (noise on)")
    ax.legend(loc="lower right", fontsize=7)
    _box(ax, cond + f"\nsine {SAMPLES} samples, {CYCLES} cycles, {AMPLITUDE} FS")
    fig.tight_layout()
    save_figure(fig, out / "sar_enob.png", dpi=120)
    plt.close("all")
