"""The ADC study's statistics: the recipe chosen on the validation split, and the claims
restated over training seeds and unseen ADC instances with 95 % confidence intervals
(``make adc-study``; ``docs/adc_study.md``, "Statistics").

Both are sweeps (``flows.sweep``, Dask): ``sweeps/adc_recipe.toml`` scores candidate
ADC-aware recipes on the validation images; ``sweeps/adc_study_mc.toml`` measures the
harsh-level MLP rows on the test images over 5 training seeds x 8 ADC instances that no
training or recipe choice saw. :func:`recipe_selection` ranks the recipes;
:func:`merge_monte_carlo` gives every row of the one-run study (``model.flow.adc_study``)
``mean``, ``ci95_low``, ``ci95_high``, ``n_training_seeds`` and ``n_instances``, replaces
the covered rows' accuracy by the sweep's mean and restates each claim against its
interval. An interval is over ADC instances: each instance's accuracy is first averaged
over the training seeds, so the instances (the chips a user would build) are the
independent samples.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import tomllib

from flows import REPO
from flows.sweep import run_sweep
from flows.sweep_report import mean_ci95, write_report
from flows.sweep_spec import Spec, parse

RECIPE_SPEC = REPO / "sweeps" / "adc_recipe.toml"
MC_SPEC = REPO / "sweeps" / "adc_study_mc.toml"

#: ``--quick``: the same specs, small enough for the test suite (seconds, in process).
QUICK = {
    "recipe": {
        "params": {"test_vectors": 60},
        "axes": {
            "epochs": [3, 6],
            "lr": [0.005],
            "instances_per_batch": [1],
            "column_dropout": [0.0],
            "train_seed": [0],
            "adc_seed": [2, 3],
        },
    },  # fmt: skip
    "mc": {
        "params": {"test_vectors": 100, "epochs": 8},
        "axes": {"active_steps": [8, 4], "train_seed": [0, 1], "adc_seed": [11, 12]},
    },
}

#: Study-row key (training, variant, calibration, eval_instance) -> the sweep's
#: (training, calibration) group that measures it. The float network is the same on every
#: instance, so its ``same`` and ``other`` rows are both the sweep's unseen instances.
ROW_GROUPS = {
    ("float", None, "none", "same"): ("float", "none"),
    ("float", None, "none", "other"): ("float", "none"),
    ("float", None, "per_column", "same"): ("float", "per_column"),
    ("float", None, "per_column", "other"): ("float", "per_column"),
    ("adc_aware", "chip_specific", "none", "same"): ("chip_specific", "none"),
    ("adc_aware", "distribution", "none", "other"): ("distribution", "none"),
}


class SweepFailed(RuntimeError):
    """A study sweep finished with failed points (named, with where their rows are)."""


def load_spec(path: Path, which: str, quick: bool) -> Spec:
    """The committed spec ``path``; with ``quick`` its :data:`QUICK` overrides (and
    ``-quick`` in its name, so that its rows never mix with the full run's)."""
    path = Path(path)
    doc = tomllib.loads(path.read_text())
    if quick:
        over = QUICK[which]
        doc["sweep"]["name"] += "-quick"
        doc.setdefault("params", {}).update(over["params"])
        doc["axes"].update(over["axes"])
    return parse(doc, str(path))


def run_study_sweeps(out: Path, *, quick=False, scheduler=None, workers=None, serial=False,
                     log=print) -> dict:  # fmt: skip
    """Run the recipe and Monte Carlo sweeps into ``<out>/sweeps/<name>`` (finished points
    of an earlier run are kept) and write their summaries; ``{"recipe": (spec, result),
    "mc": (spec, result)}``. :class:`SweepFailed` naming the failed points when any failed."""
    done = {}
    for which, path in (("recipe", RECIPE_SPEC), ("mc", MC_SPEC)):
        spec = load_spec(path, which, quick)
        sweep_out = Path(out) / "sweeps" / spec.name
        log(f"adc-study: sweep {spec.name} ({len(spec.points())} points) -> {sweep_out}")
        result = run_sweep(spec, sweep_out, scheduler=scheduler, workers=workers,
                           serial=serial, log=log)  # fmt: skip
        if result["failed"]:
            raise SweepFailed(
                f"sweep {spec.name}: {len(result['failed'])} of {result['points']} points "
                f"failed ({'; '.join(result['failed_labels'][:5])}); their errors are in "
                f"{sweep_out / 'points'}, finished points are kept and a rerun retries the rest"
            )
        write_report(spec, result, sweep_out)
        done[which] = (spec, result)
    return done


# -- statistics ------------------------------------------------------------------------------


def instance_means(rows: list[dict]) -> dict[int, float]:
    """Each ADC instance's accuracy, the mean over its training seeds."""
    per = collections.defaultdict(list)
    for r in rows:
        per[r["adc_seed"]].append(r["accuracy"])
    return {s: float(np.mean(v)) for s, v in sorted(per.items())}


def interval(values, *, accuracy: bool = True) -> dict:
    """``mean``, ``ci95_low``, ``ci95_high`` of ``values`` (Student t; None for fewer than
    2); an ``accuracy``'s interval stops at 0 and 1, a difference's does not."""
    m, lo, hi = mean_ci95(list(values))
    if len(values) < 2:
        lo = hi = None
    elif accuracy:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return {"mean": m, "ci95_low": lo, "ci95_high": hi}


def group_stats(rows: list[dict]) -> dict:
    """A group of sweep rows as a study row's statistics: the mean and interval over the
    instances (each averaged over training seeds), the counts, the per-instance means."""
    per = instance_means(rows)
    return {
        **interval(list(per.values())),
        "n_training_seeds": len({r["train_seed"] for r in rows}),
        "n_instances": len(per),
        "instances": list(per),
        "accuracy_per_instance": list(per.values()),
        "statistics": "monte carlo: 95 % CI over ADC instances (each the mean over training seeds)",
    }


def recipe_selection(spec: Spec, rows: list[dict], configured: dict) -> dict:
    """Rank the recipe sweep's recipes per training variant by their validation mean
    (``configured``: variant -> the study's recipe ``{param: value}``); the best, the
    study's own, its rank and the paired difference best - study's over the (training
    seed, instance) points with its interval."""
    recipe_axes = [a for a in spec.series_axes if a != "training"]
    out = {"spec": spec.path, "split": "validation", "active_steps": spec.params["active_steps"],
           "variants": {}}  # fmt: skip
    for variant in sorted({r["training"] for r in rows}):
        groups = collections.defaultdict(dict)
        for r in rows:
            if r["training"] == variant and r["status"] == "ok":
                key = tuple((a, r[a]) for a in recipe_axes)
                groups[key][r["train_seed"], r["adc_seed"]] = r["accuracy"]
        ranked = sorted(groups, key=lambda k: -np.mean(list(groups[k].values())))
        table = [{**dict(k), **interval(list(groups[k].values())), "n": len(groups[k])}
                 for k in ranked]  # fmt: skip
        mine = configured.get(variant, {})
        own = [k for k in ranked if all(dict(k).get(a) == v for a, v in mine.items())]
        entry = {"best": dict(ranked[0]), "recipes": table, "configured": mine}
        if own:
            best, ours = groups[ranked[0]], groups[own[0]]
            common = sorted(set(best) & set(ours))
            diff = [100 * (best[p] - ours[p]) for p in common]
            entry.update(
                configured_rank=ranked.index(own[0]) + 1,
                configured_is_best=own[0] == ranked[0],
                best_minus_configured_points=interval(diff, accuracy=False),
            )
        else:
            entry.update(configured_rank=None, configured_is_best=False)
        out["variants"][variant] = entry
    return out


def configured_recipes(cfg, network: str = "mlp") -> dict:
    """The study's ADC-aware recipe per variant, as the recipe sweep's parameters."""
    from model.flow.adc_study import recipe

    return {v: recipe(cfg, network, v) for v in ("chip_specific", "distribution")}


def merge_monte_carlo(report: dict, spec: Spec | None, rows: list[dict]) -> dict:
    """Give every study row its statistics: the Monte Carlo sweep's where it measures the
    row (its ``accuracy`` becomes the sweep's mean; ``single_run_accuracy`` keeps the
    one-run value), else the one run's over its instances (one training seed). Adds
    ``report["monte_carlo"]``: the sweep, the paired claims and the cycles saved."""
    net, level = (spec.params["network"], spec.params["level"]) if spec else (None, None)
    ok = [r for r in rows if r["status"] == "ok"]
    groups = collections.defaultdict(list)
    for r in ok:
        groups[r["training"], r["calibration"], r["active_steps"]].append(r)
    for row in report["rows"]:
        key = (row["training"], row["variant"], row["calibration"], row["eval_instance"])
        group = ROW_GROUPS.get(key)
        mc = groups.get((*group, row["active_steps"])) if group else None
        if row["network"] == net and row["adc_level"] == level and mc:
            row["single_run_accuracy"] = row["accuracy"]
            row.update(group_stats(mc))
            row["accuracy"] = row["mean"]
        else:
            per = row["accuracy_per_instance"]
            row.update(interval(per), n_training_seeds=1, n_instances=len(row["instances"]),
                       statistics="one run" + (" (interval over instances)"
                                               if len(per) > 1 else ""))  # fmt: skip
    if spec is None:
        report["monte_carlo"] = None
        return report
    report["monte_carlo"] = {
        "spec": spec.path,
        "network": net,
        "level": level,
        "points": len(rows),
        "n_training_seeds": len({r["train_seed"] for r in ok if r["training"] != "float"}),
        "n_instances": len({r["adc_seed"] for r in ok}),
        "instances": sorted({r["adc_seed"] for r in ok}),
        "claims": claims(groups, sorted({k for (_, _, k) in groups}, reverse=True)),
    }
    return report


def claims(groups: dict, ks: list[int]) -> dict:
    """The study's claims against their intervals: per k, chip-specific minus calibration
    on the same instance (goal >= -1 point) and distribution-aware minus calibration
    (>= -2 points), paired per instance; and the fewest k reaching the calibrated full
    conversion's accuracy less 1 point, by the mean and by the whole interval."""
    per_k, target = {}, None
    for k in ks:
        cal = instance_means(groups.get(("float", "per_column", k), []))
        entry = {}
        for name, training, goal in (("chip_specific", "chip_specific", -1.0),
                                     ("distribution", "distribution", -2.0)):  # fmt: skip
            mine = instance_means(groups.get((training, "none", k), []))
            common = sorted(set(mine) & set(cal))
            if not common:
                continue
            d = interval([100 * (mine[s] - cal[s]) for s in common], accuracy=False)
            entry[f"{name}_minus_per_column_points"] = {**d, "n_instances": len(common)}
            entry[f"{name}_goal_points"] = goal
            entry[f"{name}_goal_met_by_mean"] = bool(d["mean"] >= goal)
            entry[f"{name}_goal_met_with_interval"] = bool(
                d["ci95_low"] is not None and d["ci95_low"] >= goal
            )
        per_k[k] = entry

    def row_interval(training, calibration, k) -> dict:
        return interval(list(instance_means(groups[training, calibration, k]).values()))

    if ks and groups.get(("float", "per_column", max(ks))):
        target = row_interval("float", "per_column", max(ks))["mean"] - 0.01
    fewest = {}
    for training, calibration in (("float", "none"), ("float", "per_column"),
                                  ("chip_specific", "none"), ("distribution", "none")):  # fmt: skip
        stats = {k: row_interval(training, calibration, k)
                 for k in ks if groups.get((training, calibration, k))}  # fmt: skip
        fewest[f"{training}/{calibration}"] = {
            "by_mean": _fewest(stats, target, "mean"),
            "with_interval": _fewest(stats, target, "ci95_low"),
        }
    return {"per_active_steps": per_k, "equal_accuracy_target": target,
            "fewest_active_steps_at_target": fewest}  # fmt: skip


def _fewest(stats: dict, target, field: str):
    """The fewest k such that every k' >= k has ``stats[k'][field] >= target``."""
    if target is None:
        return None
    best = None
    for k in sorted(stats, reverse=True):
        v = stats[k][field]
        if v is None or v < target:
            break
        best = k
    return best
