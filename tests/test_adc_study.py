"""``make adc-study --quick``: report fields, what it measures, one row on the RTL (Icarus)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip(
    "torch", reason="the ADC study trains with torch: install it with `make deps-aihwkit`"
)

from flows.adc_study import run_study  # noqa: E402
from model.flow import digits  # noqa: E402
from model.flow.adc_study import study_config, study_data  # noqa: E402
from tools.adc_study import main as adc_study_main  # noqa: E402

FIELDS = (
    "training",
    "calibration",
    "adc_ideal",
    "active_steps",
    "eval_instance",
    "accuracy",
    "rtl_checked",
    "rtl_mismatches",
    "decisions_per_conversion",
    "nonidealities",
)


@pytest.mark.cocotb
def test_quick_study_report_and_rtl_row(build_dir):
    out = build_dir / "reports"
    shutil.rmtree(out / "sweeps", ignore_errors=True)  # a rerun would keep finished points
    log: list[str] = []
    cfg = study_config(0, quick=True, rtl_sims=("icarus",))
    returned = run_study(cfg, out, log=log.append, serial=True)
    assert any(line.startswith("adc-study: seed 0") for line in log) and returned["seed"] == 0
    report = json.loads((out / "adc_study.json").read_text())
    assert (out / "adc_study.md").read_text().startswith("| network | ADC |")
    assert (out / "adc_study.png").stat().st_size > 10_000
    # The float MLP is fitted on the 1077 train images only (validation and test held out),
    # and the TileNet evaluation agrees with the numpy one on its test accuracy.
    data = study_data()
    assert (report["train_images"], report["validation_images"]) == (1077, 270)
    assert len(data.y_test) == 450 and len(data.y_train) + len(data.y_val) == 1347
    mlp = digits.fit_mlp(data.x_train, data.y_train, digits.HIDDEN, seed=0)
    float_acc = digits.float_accuracy(mlp)
    assert report["float_accuracy"] == pytest.approx(float_acc, abs=1e-12)
    rows = report["rows"]
    for r in rows:
        missing = [f for f in FIELDS if f not in r]
        assert not missing, f"row {r['training']} {r['active_steps']}: missing {missing}"
        if r["active_steps"] is not None:
            assert r["decisions_per_conversion"] == r["active_steps"]

    def acc(k, training, calibration, instance, variant=None):
        (hit,) = [
            r for r in rows
            if r["adc_level"] == "harsh" and r["active_steps"] == k and r["training"] == training
            and r["calibration"] == calibration and r["eval_instance"] == instance
            and r["variant"] == variant
        ]  # fmt: skip
        # the one run's value: the Monte Carlo mean of a covered row is checked below
        return {**hit, "accuracy": hit.get("single_run_accuracy", hit["accuracy"])}

    # The harsh level is harsh: the uncalibrated float network loses >= 3 points.
    assert acc(8, "float", "none", "same")["accuracy"] <= float_acc - 0.03
    assert acc(8, "float", "none", "same")["nonidealities"]["gain_sigma"] == 0.3
    # Calibration and ADC-aware training both recover it on the instance they know.
    for k in (8, 4):
        cal = acc(k, "float", "per_column", "same")["accuracy"]
        chip = acc(k, "adc_aware", "none", "same", "chip_specific")
        assert chip["accuracy"] >= cal - 0.01, f"k={k}: chip-specific {chip['accuracy']} vs {cal}"
    # Distribution-aware training (4 instances per batch, column dropout), on an instance it
    # never saw: better than the uncalibrated float network there, within 2 points of
    # calibrating that instance column by column.
    assert report["config"]["distribution"]["instances_per_batch"] == 4
    assert report["config"]["distribution"]["column_dropout"] == 0.1
    for k in (8, 4):
        dist = acc(k, "adc_aware", "none", "other", "distribution")["accuracy"]
        unc = acc(k, "float", "none", "other")["accuracy"]
        cal = acc(k, "float", "per_column", "other")["accuracy"]
        assert dist >= unc + 0.01, f"k={k}: distribution {dist} vs uncalibrated float {unc}"
        assert dist >= cal - 0.02, f"k={k}: distribution {dist} vs per-column {cal}"
        assert report["goals"]["mlp"]["per_active_steps"][str(k)]["distribution_goal_met"]
    # The RTL row: the trained layer as a capture, bit-exact on Icarus.
    checked = [r for r in rows if r["rtl_checked"]]
    assert len(checked) == 1 and checked[0]["active_steps"] == 4
    assert checked[0]["rtl_mismatches"] == 0 and checked[0]["rtl"]["icarus"]["vectors"] == 16
    assert not any(r["rtl_mismatches"] for r in rows if not r["rtl_checked"])
    assert report["goals"]["mlp"]["per_active_steps"]["4"]["chip_goal_met"] is True
    check_statistics(report, out)


def t_interval(values):
    """The oracle: scipy's Student t interval of the mean, clipped to [0, 1] for accuracies."""
    from scipy import stats

    m = float(np.mean(values))
    if stats.sem(values) == 0:  # equal values: an interval of no width (scipy: nan)
        return m, m, m
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=m, scale=stats.sem(values))
    return m, lo, hi


def check_statistics(report: dict, out) -> None:
    """The quick sweeps' Parquet rows, recomputed independently: each covered row's mean
    and interval over instances (seeds averaged first), the paired claims, the recipe
    ranking; every other row carries the one run's statistics."""
    from flows.sweep import read_rows

    mc = read_rows(out / "sweeps" / "adc-study-mc-quick")
    assert len(mc) == report["monte_carlo"]["points"] and all(r["status"] == "ok" for r in mc)
    assert report["monte_carlo"]["n_training_seeds"] == 2
    assert report["monte_carlo"]["n_instances"] == 2

    def inst_means(training, calibration, k):
        per = {}
        for r in mc:
            if (r["training"], r["calibration"], r["active_steps"]) == (training, calibration, k):
                per.setdefault(r["adc_seed"], []).append(r["accuracy"])
        return {s: float(np.mean(v)) for s, v in per.items()}

    covered = {("float", None, "none"): ("float", "none"),
               ("float", None, "per_column"): ("float", "per_column"),
               ("adc_aware", "chip_specific", "none"): ("chip_specific", "none"),
               ("adc_aware", "distribution", "none"): ("distribution", "none")}  # fmt: skip
    n_covered = 0
    for r in report["rows"]:
        for f in ("mean", "ci95_low", "ci95_high", "n_training_seeds", "n_instances"):
            assert f in r, f"row {r['training']} {r['active_steps']}: no {f}"
        assert r["accuracy"] == r["mean"]
        key = (r["training"], r["variant"], r["calibration"])
        chip_other = r["variant"] == "chip_specific" and r["eval_instance"] == "other"
        if r["adc_level"] == "harsh" and key in covered and not chip_other:
            n_covered += 1
            per = inst_means(*covered[key], r["active_steps"])
            m, lo, hi = t_interval(list(per.values()))
            assert r["mean"] == pytest.approx(m, abs=1e-12)
            assert r["ci95_low"] == pytest.approx(max(lo, 0.0), abs=1e-9)
            assert r["ci95_high"] == pytest.approx(min(hi, 1.0), abs=1e-9)
            seeds = 1 if r["training"] == "float" else 2
            assert (r["n_training_seeds"], r["n_instances"]) == (seeds, 2)
        else:
            assert r["n_training_seeds"] == 1 and r["n_instances"] == len(r["instances"])
            if len(r["accuracy_per_instance"]) < 2:
                assert r["ci95_low"] is None and r["ci95_high"] is None
    assert n_covered == 2 * 6  # k = 8 and 4: float x 4, chip-specific same, distribution
    for k in (8, 4):
        cal = inst_means("float", "per_column", k)
        claim = report["monte_carlo"]["claims"]["per_active_steps"][str(k)]
        for name in ("chip_specific", "distribution"):
            mine = inst_means(name, "none", k)
            d = [100 * (mine[s] - cal[s]) for s in sorted(cal)]
            m, lo, _ = t_interval(d)
            got = claim[f"{name}_minus_per_column_points"]
            assert got["mean"] == pytest.approx(m, abs=1e-9)
            assert got["ci95_low"] == pytest.approx(lo, abs=1e-9)
            goal = -1.0 if name == "chip_specific" else -2.0
            assert claim[f"{name}_goal_met_with_interval"] == (lo >= goal)
    # The recipe sweep scored the validation split; the best is the highest mean.
    rec = read_rows(out / "sweeps" / "adc-recipe-quick")
    assert {r["eval_split"] for r in rec} == {"validation"}
    sel = report["recipe_selection"]["variants"]
    for variant, v in sel.items():
        means = {}
        for r in rec:
            if r["training"] == variant:
                means.setdefault(r["epochs"], []).append(r["accuracy"])
        best_epochs = max(means, key=lambda e: np.mean(means[e]))
        assert v["best"]["epochs"] == best_epochs
        assert v["recipes"][0]["mean"] == pytest.approx(np.mean(means[best_epochs]))


def test_negative_seed_is_one_line(capsys):
    assert adc_study_main(["--quick", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --seed must be >= 0, not -1\n", err


@pytest.mark.parametrize("seed_text", [str(2**32), str(2**64), "9" * 30])
def test_huge_seed_is_one_line_before_any_training(seed_text, capsys, monkeypatch):
    """A seed above 2**32-1 is refused before the study starts. Before: accepted, and
    ``torch.manual_seed`` overflowed on one of 2**64 or more after the first networks had
    trained (a traceback minutes in)."""

    def no_study(*args, **kwargs):
        raise AssertionError("the study started")

    monkeypatch.setattr("flows.adc_study.run_study", no_study)
    assert adc_study_main(["--quick", "--seed", seed_text]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --seed must be at most 4294967295 (2**32-1), not {seed_text}\n", err


def test_failed_sweep_points_exit_1_naming_them_and_their_rows(tmp_path, capsys, monkeypatch):
    """A sweep point that failed ends the study before the one-run table with status 1 and
    one line naming the points and the folder of their rows (a rerun retries them)."""

    def failing_sweep(spec, out, **kwargs):
        return {"failed": [("abc", "ValueError: boom")], "failed_labels": ["epochs=3 adc_seed=2"],
                "points": len(spec.points()), "rows": []}  # fmt: skip

    monkeypatch.setattr("flows.adc_study_stats.run_sweep", failing_sweep)
    monkeypatch.setattr("flows.adc_study.Study", None)  # the one-run table must not start
    assert adc_study_main(["--quick", "--serial", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress log
    assert err.startswith("error: sweep adc-recipe-quick: 1 of 8 points failed (epochs=3"), err
    assert str(tmp_path / "sweeps" / "adc-recipe-quick" / "points") in err
