"""The ADC study's report rendered: the row table, the markdown table, the plot and the
goals summary (``make adc-study`` prints and writes them; the report is
``flows.adc_study.run_study``'s).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from model.files import save_figure


def ci_text(r: dict) -> str:
    """``[low, high]`` in percent, or ``-`` for a row without an interval."""
    if r.get("ci95_low") is None:
        return "-"
    return f"[{100 * r['ci95_low']:.2f}, {100 * r['ci95_high']:.2f}]"


def counts_text(r: dict) -> str:
    """Training seeds x instances behind a row's mean."""
    if "n_instances" not in r:
        return "-"
    return f"{r['n_training_seeds']}x{r['n_instances']}"


def table(report: dict) -> str:
    head = (f"{'net':4} {'level':9} {'k':>2} {'training':9} {'variant':13} {'calib':10} "
            f"{'eval':5} {'acc %':>6} {'95 % CI':>16} {'seeds':>5} {'dec/conv':>8} "
            f"{'rtl':>4}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in report["rows"]:
        k = "-" if r["active_steps"] is None else str(r["active_steps"])
        rtl = "-" if not r["rtl_checked"] else str(r["rtl_mismatches"])
        lines.append(
            f"{r['network']:4} {str(r['adc_level'] or '-'):9} {k:>2} {r['training']:9} "
            f"{str(r['variant'] or '-'):13} {r['calibration']:10} "
            f"{str(r['eval_instance'] or '-'):5} {100 * r['accuracy']:6.2f} "
            f"{ci_text(r):>16} {counts_text(r):>5} {r['decisions_per_conversion']:>8} {rtl:>4}"
        )
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The accuracy table as markdown: one line per (network, level, method), one column per k."""
    rows = [r for r in report["rows"] if r["active_steps"] is not None]
    ks = sorted({r["active_steps"] for r in rows}, reverse=True)
    groups: dict = {}
    for r in rows:
        key = (r["network"], r["adc_level"], r["training"], r["variant"] or "-",
               r["calibration"], r["eval_instance"])  # fmt: skip
        groups.setdefault(key, {})[r["active_steps"]] = r
    head = "| network | ADC | training | variant | calibration | eval | " + " | ".join(
        f"k={k}" for k in ks
    )
    lines = [head + " |", "|" + "---|" * (6 + len(ks))]
    for net, flt in report["float_accuracy_per_network"].items():
        lines.append(f"| {net} | (float network) | float | - | - | - | "
                     + " | ".join(f"{100 * flt:.2f}" for _ in ks) + " |")  # fmt: skip
        for key, by_k in groups.items():
            if key[0] != net:
                continue
            cells = []
            for k in ks:
                r = by_k.get(k)
                mark = "" if r is None or not r["rtl_checked"] else f" (RTL {r['rtl_mismatches']})"
                ci = "" if r is None or r.get("ci95_low") is None else f" {ci_text(r)}"
                cells.append("-" if r is None else f"{100 * r['accuracy']:.2f}{ci}{mark}")
            lines.append("| " + " | ".join(str(x) for x in key) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["active_steps"] is not None]
    nets = sorted({r["network"] for r in rows}, key=lambda n: ["mlp", "cnn"].index(n))
    levels = [lv for lv in report["levels"]]
    fig, axes = plt.subplots(len(nets), len(levels), figsize=(5.2 * len(levels), 3.8 * len(nets)),
                             squeeze=False)  # fmt: skip
    methods = [
        ("ideal ADC, float", lambda r: r["adc_ideal"] is True, "k:"),
        ("uncalibrated float (same)", lambda r: r["training"] == "float"
         and r["calibration"] == "none" and r["eval_instance"] == "same", "C3o-"),
        ("per-column calibration (same)", lambda r: r["calibration"] == "per_column"
         and r["eval_instance"] == "same", "C0s-"),
        ("ADC-aware chip-specific (same)", lambda r: r["variant"] == "chip_specific"
         and r["eval_instance"] == "same", "C2^-"),
        ("per-column calibration (other)", lambda r: r["calibration"] == "per_column"
         and r["eval_instance"] == "other", "C0s--"),
        ("ADC-aware distribution (other)", lambda r: r["variant"] == "distribution", "C1v--"),
    ]  # fmt: skip
    for a, net in enumerate(nets):
        flt = report["float_accuracy_per_network"][net]
        for b, lv in enumerate(levels):
            ax = axes[a][b]
            for label, pick, style in methods:
                sel = [r for r in rows if r["network"] == net and pick(r)
                       and (r["adc_level"] == lv or label.startswith("ideal"))]  # fmt: skip
                sel.sort(key=lambda r: r["active_steps"])
                (ln,) = ax.plot([r["active_steps"] for r in sel],
                                [100 * r["accuracy"] for r in sel], style, label=label)  # fmt: skip
                band = [r for r in sel if r.get("ci95_low") is not None]
                if band:  # the 95 % interval of the row's mean
                    ax.fill_between([r["active_steps"] for r in band],
                                    [100 * r["ci95_low"] for r in band],
                                    [100 * r["ci95_high"] for r in band],
                                    color=ln.get_color(), alpha=0.15, lw=0)  # fmt: skip
            ax.axhline(100 * flt, color="grey", lw=0.8, label="float network")
            title = f"{net}, {lv}: {report['levels'][lv]['adc']}"
            ax.set_title(textwrap.fill(title, 70), fontsize=7)
            ax.set_xlabel("active_steps (comparator decisions per conversion)")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
            if a == 0 and b == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"ADC study, seed {report['seed']}: accuracy vs active_steps", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def summary(report: dict) -> str:
    lines = []
    for net, g in report["goals"].items():
        lines.append(f"{net} at '{g['level']}', one run (training seed {report['seed']}, "
                     f"instance {report['config']['same_seed']}; unseen "
                     f"{report['config']['other_seeds']}):")  # fmt: skip
        for k, v in g["per_active_steps"].items():
            lines.append(
                f"  k={k}: chip-specific {100 * v['chip_specific_same']:.2f} % vs per-column "
                f"{100 * v['per_column_same']:.2f} % "
                f"({v['chip_specific_minus_per_column_points']:+.2f} pt, goal >= -1: "
                f"{v['chip_goal_met']}); distribution on unseen "
                f"{100 * v['distribution_other']:.2f} % vs per-column "
                f"{100 * v['per_column_other']:.2f} % "
                f"({v['distribution_minus_per_column_points']:+.2f} pt, goal >= -2: "
                f"{v['distribution_goal_met']}); uncalibrated float "
                f"{100 * v['float_uncalibrated_same']:.2f} %"
            )
        lines.append(
            f"  fewest active_steps within 1 pt of per-column calibration at full conversion "
            f"({100 * g['equal_accuracy_target']:.2f} %): {g['fewest_active_steps_at_target']}"
        )
    lines += recipe_summary(report.get("recipe_selection"))
    lines += claims_summary(report.get("monte_carlo"))
    area = report.get("correction_area")
    if area and "dropped_transistors" in area:
        lines.append(
            f"correction stage area ({area['config']}): {area['dropped_transistors']} transistors "
            f"of {area['with_correction']['transistors']} ({100 * area['dropped_fraction']:.1f} %)"
        )
    elif area is None:
        lines.append("correction stage area: not measured (--no-area or quick)")
    else:
        lines.append(f"correction stage area: {area}")
    return "\n".join(lines)


def recipe_summary(sel: dict | None) -> list[str]:
    """The recipe choice on the validation split, one line per variant."""
    if not sel:
        return ["recipe: not checked on the validation split (--no-sweeps)"]
    lines = [f"recipe chosen on the validation split (k = {sel['active_steps']}, {sel['spec']}):"]
    for variant, v in sel["variants"].items():
        best = v["recipes"][0]
        text = (f"  {variant}: validation best {v['best']} {100 * best['mean']:.2f} %; "
                f"the study's {v['configured']} ranks {v['configured_rank']} of "
                f"{len(v['recipes'])}")  # fmt: skip
        d = v.get("best_minus_configured_points")
        if d and not v["configured_is_best"]:
            lo = "-" if d["ci95_low"] is None else f"{d['ci95_low']:+.2f}"
            hi = "-" if d["ci95_high"] is None else f"{d['ci95_high']:+.2f}"
            text += f", best - study's {d['mean']:+.2f} [{lo}, {hi}] pt"
        lines.append(text)
    return lines


def claims_summary(mc: dict | None) -> list[str]:
    """The claims restated against their 95 % intervals (paired per ADC instance)."""
    if not mc:
        return ["claims with intervals: not measured (--no-sweeps)"]
    c = mc["claims"]
    lines = [f"claims with 95 % intervals ({mc['network']}, {mc['level']}, "
             f"{mc['n_training_seeds']} training seeds x {mc['n_instances']} unseen instances, "
             f"paired per instance):"]  # fmt: skip
    for k, e in c["per_active_steps"].items():
        parts = []
        for name, label in (("chip_specific", "chip-specific"), ("distribution", "distribution")):
            d = e.get(f"{name}_minus_per_column_points")
            if d is None:
                continue
            ci = "-" if d["ci95_low"] is None else f"[{d['ci95_low']:+.2f}, {d['ci95_high']:+.2f}]"
            verdict = ("holds" if e[f"{name}_goal_met_with_interval"] else
                       "mean only" if e[f"{name}_goal_met_by_mean"] else "fails")  # fmt: skip
            parts.append(f"{label} - calibration {d['mean']:+.2f} {ci} pt "
                         f"(goal >= {e[f'{name}_goal_points']:g}: {verdict})")  # fmt: skip
        lines.append(f"  k={k}: " + "; ".join(parts))
    target = c["equal_accuracy_target"]
    if target is not None:
        lines.append(f"  fewest active_steps at >= {100 * target:.2f} % (calibrated k=max - 1 pt), "
                     "by mean / whole interval: "
                     + ", ".join(f"{m} {v['by_mean']}/{v['with_interval']}"
                                 for m, v in c["fewest_active_steps_at_target"].items())
                     )  # fmt: skip
    return lines
