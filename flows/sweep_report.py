"""The summary of a sweep (``flows.sweep``): mean and 95 % confidence interval of the
accuracy over the seed axes for each combination of the other axes, as a table, JSON and
a plot of accuracy against ``active_steps`` with confidence bands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from flows.sweep_spec import Spec
from model.files import save_figure, write_text_atomic


def mean_ci95(values) -> tuple[float, float, float]:
    """Mean and the 95 % confidence interval of the mean (Student t; one value: no width)."""
    from scipy import stats

    a = np.asarray(values, np.float64)
    m = float(a.mean())
    if len(a) < 2:
        return m, m, m
    h = float(stats.t.ppf(0.975, len(a) - 1)) * float(a.std(ddof=1)) / math.sqrt(len(a))
    return m, m - h, m + h


def summary(spec: Spec, rows: list[dict]) -> list[dict]:
    """One entry per combination of the non-seed axes: the accuracy's mean and 95 % CI over
    the seed axes' points (``n``), failures, mean wall time, RTL mismatches."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[a] for a in spec.series_axes), []).append(r)
    out = []
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        accs = [r["accuracy"] for r in ok if r["accuracy"] is not None]
        m, lo, hi = mean_ci95(accs) if accs else (None, None, None)
        if accs:  # an accuracy's interval stops at 0 and 1
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        rtl = [r["rtl_mismatches"] for r in ok if r.get("rtl_mismatches") is not None]
        out.append(
            {
                **dict(zip(spec.series_axes, key, strict=True)),
                "n": len(accs),
                "failed": len(rs) - len(ok),
                "mean": m,
                "ci95_low": lo,
                "ci95_high": hi,
                "wall_seconds": float(np.mean([r["wall_seconds"] for r in ok])) if ok else None,
                "rtl_mismatches": sum(rtl) if rtl else None,
            }
        )
    return out


def summary_markdown(spec: Spec, entries: list[dict]) -> str:
    axes = spec.series_axes
    seeds = ", ".join(spec.seed_axes) or "none"
    head = [
        "| "
        + " | ".join([*axes, "n", "accuracy %", "95 % CI", "failed", "s/point", "RTL mismatches"])
        + " |"
    ]
    head.append("|" + "---|" * (len(axes) + 6))
    lines = []
    for e in entries:
        acc = "-" if e["mean"] is None else f"{100 * e['mean']:.2f}"
        ci = (
            "-" if e["mean"] is None else f"[{100 * e['ci95_low']:.2f}, {100 * e['ci95_high']:.2f}]"
        )
        wall = "-" if e["wall_seconds"] is None else f"{e['wall_seconds']:.2f}"
        rtl = "-" if e["rtl_mismatches"] is None else str(e["rtl_mismatches"])
        cells = [str(e[a]) for a in axes] + [str(e["n"]), acc, ci, str(e["failed"]), wall, rtl]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(
        [
            f"Sweep {spec.name}: mean over the seed axes ({seeds}), 95 % CI of "
            "the mean (Student t)",
            "",
            *head,
            *lines,
        ]
    )


def plot(spec: Spec, entries: list[dict], path: Path) -> Path | None:
    """Accuracy against ``active_steps``, one line per combination of the other non-seed
    axes, the band the 95 % CI over the seed axes; None when ``active_steps`` is no axis."""
    if "active_steps" not in spec.axes:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [a for a in spec.series_axes if a != "active_steps"]
    lines: dict[tuple, list[dict]] = {}
    for e in entries:
        if e["mean"] is not None:
            lines.setdefault(tuple(e[a] for a in others), []).append(e)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, es in lines.items():
        es = sorted(es, key=lambda e: e["active_steps"] or 0)
        k = [e["active_steps"] for e in es]
        m = [100 * e["mean"] for e in es]
        label = ", ".join(f"{a}={v}" for a, v in zip(others, key, strict=True)) or spec.name
        (ln,) = ax.plot(k, m, marker="o", label=label)
        ax.fill_between(
            k,
            [100 * e["ci95_low"] for e in es],
            [100 * e["ci95_high"] for e in es],
            color=ln.get_color(),
            alpha=0.2,
        )
    ax.set_xticks(sorted({e["active_steps"] for e in entries if e["active_steps"] is not None}))
    ax.set_xlabel("active_steps (comparator cycles per conversion)")
    ax.set_ylabel("accuracy (%)")
    seeds = ", ".join(spec.seed_axes) or "no seed axis"
    ax.set_title(f"sweep {spec.name}: mean and 95 % CI over {seeds}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_report(spec: Spec, result: dict, out: Path) -> dict:
    """``<out>/summary.md``, ``summary.json`` and ``accuracy_vs_active_steps.png``; returns
    the summary entries and the paths written."""
    out = Path(out)
    entries = summary(spec, result["rows"])
    md = summary_markdown(spec, entries)
    write_text_atomic(out / "summary.md", md + "\n")
    meta = {k: v for k, v in result.items() if k != "rows"}
    write_text_atomic(
        out / "summary.json", json.dumps({**meta, "summary": entries}, indent=1) + "\n"
    )
    png = plot(spec, entries, out / "accuracy_vs_active_steps.png")
    return {"entries": entries, "markdown": md, "plot": png}
