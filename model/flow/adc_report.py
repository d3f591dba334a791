"""SAR ADC characterisation report (``make adc-report``; ``tools.adc_report`` is the command
line): numpy and matplotlib only, the measurements are ``model.analog.adc_exact``'s and
``model.analog.adc_metrics``'.

:func:`write_report` samples one mismatch instance of the analog front end and writes,
to ``out``:

* ``adc_report.json`` -- test conditions; static figures with the comparator noise
  *off* (same capacitor and offset draw) from the exact transition levels
  (``adc_exact.exact_static``): monotonicity (and where the code drops), missing codes
  (end codes included), the codes the DNL excludes, signed DNL/INL extremes (endpoint
  and best fit), offset and gain error (endpoint through the actual end transitions,
  and best fit; also in IEEE 1241 form), with the dense-ramp figures beside under
  ``ramp``; the noise figures separately (comparator sigma, input-referred error it
  adds, transition noise per transition, DNL with noise on); the sine test (SNDR, SNR,
  SFDR, THD, ENOB, full-scale ENOB, each with its spread over records) per column;
  ENOB per ``active_steps``; the early-stop error ``mean(code_k - code_full)`` and its
  bound ``ceil(S_k / 2)``.
* PNG plots, each with the test conditions and flags: ``sar_histogram.png`` (exact
  code widths), ``sar_transfer_error.png`` (transition error vs input),
  ``sar_dnl.png``, ``sar_inl.png`` (missing codes marked), ``sar_spectrum.png``
  (annotated), ``sar_enob.png`` (ENOB vs active_steps), ``sar_summary.png`` (one page).

and returns the report with its summary lines (flags, the ENOB-per-active_steps table).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model.analog.adc_exact import exact_static, transition_noise
from model.analog.adc_metrics import (
    column_stats,
    dnl_inl_of,
    early_stop_error,
    enob_from_sinad,
    missing_code_summary,
    nanmax_abs,
    noise_error_rms,
    noise_free,
    sinad,
    sine_codes,
    sine_input,
    spectrum_metrics,
    static_linearity,
)
from model.analog.sar_frontend import AnalogFrontEnd
from model.files import save_figure, write_text_atomic
from model.golden.sar import EARLY_STOP_FILLS, SARConfig, ideal_codes, sar_convert

SAMPLES, CYCLES, AMPLITUDE, HARMONICS = 4096, 127, 0.99, 10
#: Sine records (independent noise draws) behind each dynamic figure's spread.
RECORDS = 8


@dataclass(frozen=True)
class ReportSettings:
    """The sampled instance and the measurement: ``mismatch`` (unit-capacitor relative
    sigma), ``offset`` (comparator offset sigma, LSB), ``noise`` (comparator noise rms,
    LSB), ``seed``; ``steps``, ``weights`` (``None``: binary) and ``early_stop_fill`` of the
    SAR; ``per_code``: ramp points per LSB of the static test."""

    out: Path
    columns: int = 64
    mismatch: float = 0.03
    offset: float = 0.5
    noise: float = 0.3
    seed: int = 1
    steps: int = 8
    weights: tuple[int, ...] | None = None
    per_code: int = 32
    early_stop_fill: str = "half_skipped"


def _stats(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


def _conditions(rs, cfg, extra: str = "") -> str:
    w = "binary" if rs.weights is None else "weights " + ",".join(map(str, cfg.weights))
    s = (
        f"mismatch={rs.mismatch}  offset={rs.offset} LSB  noise={rs.noise} LSB rms  "
        f"seed={rs.seed}\n{cfg.columns} columns, {cfg.steps} steps ({w}), "
        f"{cfg.out_width}-bit, early-stop fill {cfg.early_stop_fill}"
    )
    return s + (f"\n{extra}" if extra else "")


def write_report(out: Path, figures: dict | None = None, **settings) -> tuple[dict, list[str]]:
    """Characterise one sampled instance (``settings``: the fields of
    :class:`ReportSettings`); write ``adc_report.json`` and the plots to ``out``; return
    the report and its summary lines. ``figures``: a dict to receive the matplotlib
    figures by file stem (left open; the caller closes them), for inspection."""
    rs = ReportSettings(Path(out), **settings)
    cfg = SARConfig(
        columns=rs.columns, steps=rs.steps, weights=rs.weights, early_stop_fill=rs.early_stop_fill
    )
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

    st = static_linearity(cfg, quiet, per_code=rs.per_code)  # the ramp, for comparison
    ex = exact_static(cfg, quiet)
    tn = transition_noise(cfg, fe, ex.transitions)
    per_col = _static_per_column(ex, st, tn, cfg)
    n_missing = np.array([len(m) for m in ex.missing])
    inl_abs = np.array([r["max_abs_inl"] for r in per_col])
    # Plotted column: non-monotonic first, then most missing codes, then worst |INL|.
    col = int(np.lexsort((-inl_abs, -n_missing, ex.monotonic))[0])
    why = (
        "non-monotonic" if not ex.monotonic[col]
        else "most missing codes" if n_missing[col] else "worst |INL|"
    )  # fmt: skip
    cond = _conditions(rs, cfg)
    cond_col = f"column {col} ({why})"

    # Noise, reported separately from the static figures.
    dnl_noisy, inl_noisy = dnl_inl_of(cfg, fe, per_code=rs.per_code)
    err_rms = noise_error_rms(cfg, fe)

    # Dynamic: coherent sine, full conversion, noise on; RECORDS records with independent
    # noise draws give each figure's spread (the figures are those of record 0).
    codes = sine_codes(cfg, fe, None, SAMPLES, CYCLES, AMPLITUDE)
    spec = spectrum_metrics(codes, CYCLES, cfg.out_width, HARMONICS)
    spec["enob_fs"] = enob_fs(spec)
    v_sine = sine_input(SAMPLES, CYCLES, AMPLITUDE, cfg.columns)
    recs = [spec] + [
        spectrum_metrics(
            sar_convert(cfg, fe, v_sine, first_index=r * SAMPLES)[0], CYCLES, cfg.out_width,
            HARMONICS,
        )
        for r in range(1, RECORDS)
    ]  # fmt: skip
    for r in recs[1:]:
        r["enob_fs"] = enob_fs(r)
    spread = {m: np.std([r[m] for r in recs], axis=0, ddof=1) for m in DYN}
    spec_quiet = spectrum_metrics(
        sine_codes(cfg, quiet, None, SAMPLES, CYCLES, AMPLITUDE), CYCLES, cfg.out_width, HARMONICS
    )
    spec_quiet["enob_fs"] = enob_fs(spec_quiet)
    ks = np.arange(1, cfg.steps + 1)
    fills = {f: _early_stop_by_k(replace(cfg, early_stop_fill=f), fe) for f in EARLY_STOP_FILLS}
    enobs, ideal, early, early_ideal = fills[cfg.early_stop_fill]

    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # end codes are NaN
    figs = _plots(rs, cfg, ex, tn, col, cond, cond_col, dnl_noisy, spec, ks, enobs, ideal, fe)
    for name, fig in figs.items():
        save_figure(fig, rs.out / f"{name}.png", dpi=120)
    if figures is not None:
        figures.update(figs)
    else:
        import matplotlib.pyplot as plt

        for fig in figs.values():
            plt.close(fig)

    report = {
        "config": cfg.to_dict(),
        "front_end": fe.params,
        "conditions": {
            "static": f"comparator noise off (same mismatch/offset draw, seed {rs.seed}); "
            "exact: code transitions from the search tree's thresholds (model.analog."
            f"adc_exact), resolution {STATIC_RESOLUTION_LSB:g} LSB (floating point); DNL/INL "
            "code density (exact code widths), endpoint normalisation (end codes excluded); "
            "best-fit INL: IEEE 1241 independently based; 'ramp' figures: dense ramp, "
            f"{rs.per_code} points/LSB (resolution {1 / rs.per_code:g} LSB)",
            "monotonic": "false if the noise-free code decreases anywhere in the input range "
            "(non_monotonic_drops: where, by how much, over what input extent); transitions "
            "of a non-monotonic column are the code-density equivalents",
            "offset_gain": "LSB, input-referred. offset = 1 - (line at k=1): codes shifted up "
            "(= comparator offset of an ideal column); gain = (slope - 1) * (N - 2): span "
            "error first to last transition (positive: gain below 1). endpoint = line "
            "through the actual T[1] and T[N-1] (beyond full scale when an end code is "
            "missing: end_transitions_virtual); fit = least squares. ieee1241: G T[k] + V_os "
            "= k, gain G (1 ideal), offset V_os LSB, terminal and independently based",
            "transition_noise": "noise on: Gaussian-equivalent sigma of each transition, "
            "sqrt(pi) * integral p(1-p) dx of the probability p of code >= k, measured "
            "around each exact transition (adc_exact.transition_noise, "
            f"{tn['points']} points over +-{tn['span']} sigma, {tn['repeats']} conversions "
            "each); se: its binomial standard error",
            "dynamic": f"coherent sine, {SAMPLES} samples, {CYCLES} cycles, amplitude "
            f"{AMPLITUDE} FS, no window, noise on; THD harmonics 2..{HARMONICS} aliased; "
            "ENOB = (SNDR - 1.76) / 6.02, no amplitude correction; enob_fs = (SNDR - "
            "signal_dBFS - 1.76) / 6.02 (full-scale referred, IEEE 1241); *_std: standard "
            f"deviation of one record's figure over {RECORDS} records with independent noise",
            "early_stop": "mean and max |code_k - code_full| over a uniform ramp, noise on; "
            "early_stop_fills: ENOB and that mean for each early-stop fill on the same "
            "instance (the configured one is also the tables above)",
        },
        "static": {
            "summary": _static_summary(ex, st, tn, per_col, full_code),
            "per_column": per_col,
        },
        "noise": {
            "comparator_sigma_lsb": rs.noise,
            "input_referred_error_rms_lsb": _stats(err_rms),
            "transition_noise_lsb": _stats(tn["sigma"][np.isfinite(tn["sigma"])]),
            "transition_noise_se_lsb": float(np.nanmean(tn["se"])),
            "max_abs_dnl_noise_on": float(np.nanmax(np.abs(dnl_noisy))),
            "max_abs_inl_noise_on": float(np.nanmax(np.abs(inl_noisy))),
            "note": "DNL/INL with noise on (code density, min_hits 0.25) are not static "
            "figures: the noise blurs missing codes (a true DNL -1 reads > -1). The "
            "input-referred error rms is the error power the noise adds over the whole "
            "ramp, not the sigma of a transition (transition_noise_lsb)",
        },
        "dynamic": {
            "records": RECORDS,
            "summary": {m: _stats(spec[m]) for m in DYN},
            "spread_summary": {f"{m}_std": _stats(spread[m]) for m in DYN},
            "noise_off_summary": {m: _stats(spec_quiet[m]) for m in DYN},
            "per_column": [
                {
                    "column": c,
                    **{m: float(spec[m][c]) for m in DYN},
                    **{f"{m}_std": float(spread[m][c]) for m in DYN},
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
        "early_stop_fills": {
            f: [
                {
                    "active_steps": int(k),
                    "enob_mean": float(e_enob[k - 1].mean()),
                    "enob_ideal": float(e_ideal[k - 1]),
                    "mean_error_lsb": float(e_early["mean"][k - 1].mean()),
                    "ideal_mean_error_lsb": float(e_early_ideal["mean"][k - 1, 0]),
                }
                for k in ks
            ]
            for f, (e_enob, e_ideal, e_early, e_early_ideal) in fills.items()
        },
    }
    write_text_atomic(rs.out / "adc_report.json", json.dumps(report, indent=2))

    s = report["static"]["summary"]
    lines = [f"SAR instance: {cond.replace(chr(10), '; ')}"]
    lines.append(
        f"static (noise off, exact transitions): missing codes {s['total_missing_codes']} in "
        f"{s['columns_with_missing_codes']} columns (code 0: {s['columns_missing_code_0']}, "
        f"code {full_code}: {s['columns_missing_full_code']}, inner: "
        f"{s['columns_missing_inner_codes']}); DNL {s['dnl_min']:+.3f}..{s['dnl_max']:+.3f}, "
        f"INL endpoint {s['inl_min']:+.3f}..{s['inl_max']:+.3f}, best fit "
        f"{s['inl_best_fit_min']:+.3f}..{s['inl_best_fit_max']:+.3f} LSB "
        f"(ramp at 1/{rs.per_code} LSB: max |DNL| {s['ramp']['max_abs_dnl']:.3f}, "
        f"max |INL| {s['ramp']['max_abs_inl']:.3f})"
    )
    mono = s["non_monotonic_columns"]
    miss_cols = [r["column"] for r in per_col if r["missing_codes"]]
    lines.append(
        ("FLAG non-monotonic columns: " + _list(mono) if mono else "monotonic: all columns")
        + "; "
        + ("FLAG missing-code columns: " + _list(miss_cols) if miss_cols else "no missing codes")
    )
    for name in ("offset", "gain"):
        e = s[f"{name}_endpoint_lsb"]
        lines.append(
            f"  {name} error (endpoint) mean {e['mean']:+.3f} std {e['std']:.3f} "
            f"range {e['min']:+.3f}..{e['max']:+.3f} LSB"
        )
    g, o = s["ieee1241"]["gain_independent"], s["ieee1241"]["offset_independent_lsb"]
    lines.append(
        f"  IEEE 1241 (independently based): gain G {g['min']:.5f}..{g['max']:.5f}, "
        f"offset V_os {o['min']:+.3f}..{o['max']:+.3f} LSB"
    )
    nz = report["noise"]
    lines.append(
        f"noise: comparator {rs.noise} LSB rms -> input-referred error "
        f"{nz['input_referred_error_rms_lsb']['mean']:.3f} LSB rms; transition noise "
        f"{nz['transition_noise_lsb']['mean']:.3f} LSB mean, "
        f"{nz['transition_noise_lsb']['max']:.3f} max (se {nz['transition_noise_se_lsb']:.3f}); "
        "max |DNL| with noise on "
        f"{nz['max_abs_dnl_noise_on']:.3f} LSB"
    )
    d = report["dynamic"]["summary"]
    sp = report["dynamic"]["spread_summary"]
    lines.append(
        "sine (mean over columns): "
        + ", ".join(f"{m.upper()} {d[m]['mean']:.2f}" for m in ("sndr", "snr", "sfdr", "thd"))
        + f" dB, ENOB {d['enob']['mean']:.3f} (full-scale referred {d['enob_fs']['mean']:.3f}; "
        f"one record +-{sp['enob_std']['mean']:.3f} bit)"
    )
    lines.append("active_steps  ENOB mean   min     max   ideal  mean(code_k-code_full) bound")
    for r, e in zip(report["enob_vs_active_steps"], report["early_stop"], strict=True):
        lines.append(
            f"{r['active_steps']:12d}  {r['mean']:9.3f} {r['min']:7.3f} {r['max']:7.3f} "
            f"{r['ideal']:7.3f}  {e['mean_error_lsb']['mean']:+8.3f}"
            f"{e['bound_ceil_half_skipped']:15d}"
        )
    a, b = (report["early_stop_fills"][f] for f in EARLY_STOP_FILLS)
    lines.append(
        f"early-stop fill ({EARLY_STOP_FILLS[0]} -> {EARLY_STOP_FILLS[1]}), per active_steps: "
        "ENOB mean, mean(code_k-code_full)"
    )
    lines += [
        f"{r['active_steps']:12d}  {r['enob_mean']:6.3f} -> {q['enob_mean']:6.3f}   "
        f"{r['mean_error_lsb']:+7.3f} -> {q['mean_error_lsb']:+7.3f}"
        for r, q in zip(a, b, strict=True)
    ]
    return report, lines


def _early_stop_by_k(cfg: SARConfig, fe: AnalogFrontEnd):
    """ENOB [k, columns] and ideal ENOB [k] of the sine test at each ``active_steps``, and
    ``early_stop_error`` of ``fe`` and of an ideal column, with ``cfg``'s early-stop fill."""
    ks = range(1, cfg.steps + 1)
    cfg1 = replace(cfg, columns=1)
    ideal_fe = AnalogFrontEnd.ideal(cfg1)
    enobs = np.array([enob_from_sinad(sinad(sine_codes(cfg, fe, k), CYCLES)) for k in ks])
    ideal = np.array([enob_from_sinad(sinad(sine_codes(cfg1, ideal_fe, k), CYCLES))[0] for k in ks])
    return enobs, ideal, early_stop_error(cfg, fe), early_stop_error(cfg1, ideal_fe)


#: Resolution stated for the exact static figures (LSB): the transitions are the model's
#: own float thresholds; tests/test_adc_exact.py checks the code flips within it.
STATIC_RESOLUTION_LSB = 1e-9
DYN = ("sndr", "snr", "sfdr", "thd", "enob", "enob_fs")


def enob_fs(spec: dict) -> np.ndarray:
    """Full-scale-referred ENOB ``(SNDR - signal_dBFS - 1.76) / 6.02`` (IEEE 1241: the noise
    and distortion against a full-scale sine, not against the applied amplitude)."""
    return (spec["sndr"] - spec["signal_dbfs"] - 1.76) / 6.02


def _list(xs, most: int = 12) -> str:
    xs = [int(x) for x in xs]
    return ", ".join(map(str, xs[:most])) + (f" ... ({len(xs)})" if len(xs) > most else "")


def _minmax(a) -> tuple[float, float]:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).any():
        return float("nan"), float("nan")
    return float(np.nanmin(a)), float(np.nanmax(a))


def _static_per_column(ex, st, tn, cfg) -> list[dict]:
    """JSON rows of the exact static figures (and the ramp's, for comparison) per column."""
    n = 1 << cfg.out_width
    k = np.arange(n)
    rows = []
    for c in range(cfg.columns):
        dmin, dmax = _minmax(ex.dnl[c])
        imin, imax = _minmax(ex.inl[c])
        bmin, bmax = _minmax(ex.inl_best_fit[c])
        sg = tn["sigma"][c]
        fin = np.isfinite(sg)
        rows.append(
            {
                "column": c,
                "monotonic": bool(ex.monotonic[c]),
                "non_monotonic_drops": ex.drops[c],
                "missing_codes": [int(x) for x in ex.missing[c]],
                "n_missing": len(ex.missing[c]),
                "dnl_excluded_codes": [int(x) for x in k[(k <= ex.first[c]) | (k >= ex.last[c])]],
                "dnl_min": dmin,
                "dnl_max": dmax,
                "max_abs_dnl": max(abs(dmin), abs(dmax)),
                "inl_min": imin,
                "inl_max": imax,
                "max_abs_inl": max(abs(imin), abs(imax)),
                "inl_best_fit_min": bmin,
                "inl_best_fit_max": bmax,
                "offset_endpoint_lsb": float(ex.offset_endpoint[c]),
                "gain_endpoint_lsb": float(ex.gain_endpoint[c]),
                "offset_fit_lsb": float(ex.offset_fit[c]),
                "gain_fit_lsb": float(ex.gain_fit[c]),
                "end_transitions_virtual": [int(j) for j in (1, n - 1) if ex.virtual[c, j]],
                "ieee1241": {
                    "gain_terminal": float(ex.ieee_gain_endpoint[c]),
                    "offset_terminal_lsb": float(ex.ieee_offset_endpoint[c]),
                    "gain_independent": float(ex.ieee_gain_fit[c]),
                    "offset_independent_lsb": float(ex.ieee_offset_fit[c]),
                },
                "static_resolution_lsb": STATIC_RESOLUTION_LSB,
                "transition_noise_lsb": {
                    "mean": float(sg[fin].mean()) if fin.any() else float("nan"),
                    "max": float(sg[fin].max()) if fin.any() else float("nan"),
                    "worst_transition": int(k[fin][np.argmax(sg[fin])]) if fin.any() else -1,
                    "se": float(np.nanmean(tn["se"][c])) if fin.any() else float("nan"),
                },
                "ramp": {
                    "resolution_lsb": 1 / st.per_code,
                    "max_abs_dnl": nanmax_abs(st.dnl[c]),
                    "max_abs_inl": nanmax_abs(st.inl[c]),
                    "missing_codes": [int(x) for x in st.missing[c]],
                },
            }
        )
    return rows


def _static_summary(ex, st, tn, rows, full_code) -> dict:
    """JSON-able summary of the exact static figures over the columns."""
    out = {
        **missing_code_summary(ex.missing, full_code),
        "columns_non_monotonic": int((~ex.monotonic).sum()),
        "non_monotonic_columns": [int(c) for c in np.flatnonzero(~ex.monotonic)],
        "max_abs_dnl": nanmax_abs(ex.dnl),
        "max_abs_inl": nanmax_abs(ex.inl),
    }
    for key in ("dnl", "inl", "inl_best_fit"):
        out[f"{key}_min"], out[f"{key}_max"] = _minmax(getattr(ex, key))
    for key in ("offset_endpoint", "gain_endpoint", "offset_fit", "gain_fit"):
        out[f"{key}_lsb"] = column_stats(getattr(ex, key))
    out["ieee1241"] = {
        key: column_stats([r["ieee1241"][key] for r in rows]) for key in rows[0]["ieee1241"]
    }
    out["static_resolution_lsb"] = STATIC_RESOLUTION_LSB
    out["ramp"] = {
        "resolution_lsb": 1 / st.per_code,
        "max_abs_dnl": nanmax_abs(st.dnl),
        "max_abs_inl": nanmax_abs(st.inl),
        "total_missing_codes": int(sum(len(m) for m in st.missing)),
    }
    return out


def _side(ax, cond: str, legend: bool = True, fontsize: int = 7) -> None:
    """Legend and the conditions box to the right of ``ax``, off the data."""
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=fontsize,
                  borderaxespad=0.0)  # fmt: skip
    ax.text(1.02, 0.0, cond, transform=ax.transAxes, va="bottom", ha="left", fontsize=fontsize,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.9})  # fmt: skip


def _at_bottom(ax, codes, style: str, label: str, y: float = 0.04, **kw) -> None:
    """Markers at ``codes`` on x, a fixed height inside the axes (not a data value)."""
    import matplotlib.transforms as mtransforms

    tr = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    codes = [int(x) for x in codes]
    ax.plot(codes, [y] * len(codes), style, transform=tr, label=label, clip_on=False, **kw)


def _extremes(name: str, a, unit: str = "LSB") -> str:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).any():
        return f"{name}: none"
    lo, hi = int(np.nanargmin(a)), int(np.nanargmax(a))
    return f"{name} min {a[lo]:+.3f} {unit} (code {lo}), max {a[hi]:+.3f} {unit} (code {hi})"


def _column_box(ex, c: int) -> str:
    mono = "monotonic" if ex.monotonic[c] else f"NON-MONOTONIC ({len(ex.drops[c])} drops)"
    miss = f"missing codes: {_list(ex.missing[c])}" if len(ex.missing[c]) else "no missing codes"
    return (
        f"column {c}: {mono}; {miss}\n"
        f"offset {ex.offset_endpoint[c]:+.3f} LSB, gain {ex.gain_endpoint[c]:+.3f} LSB (endpoint)"
        f"\nIEEE 1241: G {ex.ieee_gain_fit[c]:.5f}, V_os {ex.ieee_offset_fit[c]:+.3f} LSB"
    )


def _transfer_residual(ax, ex, c: int, n: int, noisy_err=None) -> None:
    """Transition error ``k - T[k]`` (exact, noise off) against the input; drops marked."""
    t = ex.transitions[c]
    k = np.arange(n)
    ok = np.isfinite(t)
    ax.step(t[ok], k[ok] - t[ok], where="post", lw=1.0, color="tab:blue",
            label="k - T[k], exact transitions (noise off)")  # fmt: skip
    virt = ok & ex.virtual[c]
    if virt.any():
        ax.plot(t[virt], k[virt] - t[virt], "o", mfc="none", color="tab:purple", ms=6,
                label="transition beyond full scale (end code missing)")  # fmt: skip
    if noisy_err is not None:
        ax.plot(np.arange(n) + 0.5, noisy_err, lw=0.8, color="tab:orange", alpha=0.8,
                label="mean code error per LSB of input (noise on)")  # fmt: skip
    if ex.drops[c]:
        xs = [d["input_lsb"] for d in ex.drops[c]]
        ys = np.interp(xs, t[ok], k[ok] - t[ok])
        ax.plot(xs, ys, "rv", ms=7, label=f"code drops (non-monotonic): {len(xs)}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="input (LSB)", ylabel="code error (LSB)")


def _plots(rs, cfg, ex, tn, col, cond, cond_col, dnl_noisy, spec, ks, enobs, ideal, fe):
    """The report's figures, by file stem (not saved, not closed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 1 << cfg.out_width
    codes_ax = np.arange(n)
    miss = [int(x) for x in ex.missing[col]]
    miss_all = sorted({int(x) for m in ex.missing for x in m})
    nonmono = [int(c) for c in np.flatnonzero(~ex.monotonic)]
    flags = (
        (f"NON-MONOTONIC columns: {_list(nonmono)}" if nonmono else "all columns monotonic")
        + "; "
        + (f"missing codes in {sum(1 for m in ex.missing if len(m))} columns"
           if miss_all else "no missing codes")
    )  # fmt: skip
    cond_flags = cond + "\n" + flags
    figs = {}

    def new(size=(10, 4.8)):
        return plt.subplots(figsize=size, layout="constrained")

    # Code widths (exact, noise off).
    fig, ax = new()
    ax.bar(codes_ax, ex.widths[col], width=1.0, lw=0, label="code width (exact)")
    ax.axhline(1.0, color="k", ls="--", lw=0.6, label="ideal width 1 LSB")
    if miss:
        _at_bottom(ax, miss, "rx", f"missing in column {col}: {_list(miss)}", ms=9, mew=2)
    inner = (codes_ax > ex.first[col]) & (codes_ax < ex.last[col])
    ax.set(xlabel="code", ylabel="code width (LSB of input)", xlim=(-2, n + 1),
           title=f"Code widths (exact transitions), noise off, {cond_col}")  # fmt: skip
    _side(ax, cond_flags + "\n" + _column_box(ex, col) + "\n"
          + _extremes("inner width", np.where(inner, ex.widths[col], np.nan)))  # fmt: skip
    figs["sar_histogram"] = fig

    # Transfer error: exact transition error (noise off), mean error per LSB (noise on).
    x = np.linspace(-1, 1, n * 16, endpoint=False)
    c_noisy = sar_convert(cfg, fe, np.repeat(x[:, None], cfg.columns, axis=1))[0][:, col]
    err = (c_noisy - ideal_codes(cfg, x)).reshape(n, 16).mean(axis=1)
    fig, ax = new()
    _transfer_residual(ax, ex, col, n, err)
    ax.set(title=f"Transfer error, {cond_col}")
    _side(ax, cond_flags + "\n" + _column_box(ex, col))
    figs["sar_transfer_error"] = fig

    for name, arr in (("dnl", ex.dnl), ("inl", ex.inl)):
        fig, ax = new()
        ax.fill_between(codes_ax, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), alpha=0.3,
                        label=f"min..max over {cfg.columns} columns")  # fmt: skip
        ax.plot(codes_ax, arr[col], lw=0.8, label=f"{cond_col}, endpoint")
        text = _extremes(f"{name.upper()} endpoint", arr[col])
        if name == "dnl":
            ax.plot(codes_ax, dnl_noisy[col], lw=0.6, ls=":", color="tab:gray",
                    label=f"{cond_col}, noise ON (not static)")  # fmt: skip
        else:
            ax.plot(codes_ax, ex.inl_best_fit[col], lw=0.8, color="tab:green",
                    label=f"{cond_col}, best fit (IEEE 1241)")  # fmt: skip
            text += "\n" + _extremes("INL best fit", ex.inl_best_fit[col])
        if miss_all:
            _at_bottom(ax, miss_all, "rv", f"missing codes, any column: {_list(miss_all)}",
                       ms=6)  # fmt: skip
        if miss:
            _at_bottom(ax, miss, "kx", f"missing in column {col}", ms=9, mew=2)
        ax.set(xlabel="code", ylabel=f"{name.upper()} (LSB)", xlim=(-2, n + 1),
               title=f"{name.upper()} (exact transitions, noise off)")  # fmt: skip
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.12 * (hi - lo), hi)  # room for the markers at the bottom
        _side(ax, cond_flags + "\n" + _column_box(ex, col) + "\n" + text)
        figs[f"sar_{name}"] = fig

    # Spectrum of the plotted column.
    fig, ax = new()
    _spectrum(ax, spec, col)
    ax.set_title(f"Spectrum, {cond_col}, noise on")
    figures = (
        "\n".join(f"{m.upper()} {spec[m][col]:.2f} dB" for m in ("sndr", "snr", "sfdr", "thd"))
        + f"\nENOB {spec['enob'][col]:.3f} bit (full-scale referred {spec['enob_fs'][col]:.3f})"
    )
    _side(ax, cond + f"\n{SAMPLES} samples, {CYCLES} cycles, {AMPLITUDE} FS, no window\n"
          + figures)  # fmt: skip
    figs["sar_spectrum"] = fig

    fig, ax = new()
    _enob(ax, cfg, ks, enobs, ideal, col, cond_col)
    _side(ax, cond + f"\nsine {SAMPLES} samples, {CYCLES} cycles, {AMPLITUDE} FS")
    figs["sar_enob"] = fig

    # One-page summary for a datasheet.
    fig, axs = plt.subplots(2, 2, figsize=(11.7, 8.3), layout="constrained")
    fig.suptitle(f"SAR ADC instance summary -- {cond.replace(chr(10), '; ')}\n{flags}", fontsize=9)
    ax = axs[0, 0]
    _transfer_residual(ax, ex, col, n, err)
    ax.set_title(f"Transfer residual, {cond_col}", fontsize=9)
    ax = axs[0, 1]
    ax.plot(codes_ax, ex.dnl[col], lw=0.8, label="DNL (endpoint)")
    ax.plot(codes_ax, ex.inl[col], lw=0.8, label="INL (endpoint)")
    ax.plot(codes_ax, ex.inl_best_fit[col], lw=0.8, label="INL (best fit)")
    if miss:
        _at_bottom(ax, miss, "kx", f"missing codes: {_list(miss)}", ms=9, mew=2)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.12 * (hi - lo), hi)
    ax.set(xlabel="code", ylabel="LSB", xlim=(-2, n + 1))
    mono = "" if "non-monotonic" in cond_col else ", monotonic"
    ax.set_title(f"DNL / INL (exact, noise off), {cond_col}{mono}", fontsize=9)
    ax = axs[1, 0]
    _spectrum(ax, spec, col)
    ax.set_title(
        f"Spectrum: SNDR {spec['sndr'][col]:.2f} dB, SFDR {spec['sfdr'][col]:.2f} dBc, "
        f"ENOB {spec['enob'][col]:.3f} (FS {spec['enob_fs'][col]:.3f})", fontsize=9,
    )  # fmt: skip
    ax = axs[1, 1]
    _enob(ax, cfg, ks, enobs, ideal, col, cond_col)
    for ax in axs.ravel():
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), fontsize=6, ncol=2,
                  borderaxespad=0.0)  # fmt: skip
    figs["sar_summary"] = fig
    return figs


def _spectrum(ax, spec, col) -> None:
    db = spec["dbfs"][:, col]
    f = np.arange(db.size) / (2 * (db.size - 1))
    ax.plot(f[1:], db[1:], lw=0.6)  # DC (the mid-scale code) is not shown
    ax.plot(f[CYCLES], db[CYCLES], "go", ms=5, label="fundamental")
    hb = spec["bins"]
    ax.plot(f[hb], db[hb], "r^", ms=5, label=f"harmonics 2..{HARMONICS} (aliased)")
    sp = int(spec["spur_bin"][col])
    ax.plot(f[sp], db[sp], "ms", mfc="none", ms=8, label="largest spur")
    floor = float(np.percentile(db[1:], 1))
    bottom = min(floor - 10.0, float(db[hb].min()) - 5.0 if hb else floor - 10.0)
    ax.set(xlabel="frequency / sample rate", ylabel="power (dBFS)", ylim=(bottom, 5))


def _enob(ax, cfg, ks, enobs, ideal, col, cond_col) -> None:
    ax.plot(ks, enobs.mean(axis=1), "o-", label="sampled instance, mean over columns")
    ax.fill_between(ks, enobs.min(axis=1), enobs.max(axis=1), alpha=0.3, label="min..max")
    ax.plot(ks, enobs[:, col], "x:", label=cond_col)
    ax.plot(ks, ideal, "k--", label="ideal front end")
    ax.set(xlabel="active_steps", ylabel="ENOB (bits)", title="ENOB vs active_steps (noise on)")
