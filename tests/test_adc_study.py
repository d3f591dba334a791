"""``make adc-study --quick``: report fields, what it measures, one row on the RTL (Icarus)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip(
    "torch", reason="the ADC study trains with torch: install it with `make deps-aihwkit`"
)

from flows.adc_study import run_study  # noqa: E402
from model.flow import digits  # noqa: E402
from model.flow.adc_study import study_config  # noqa: E402
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
    log: list[str] = []
    returned = run_study(study_config(0, quick=True, rtl_sims=("icarus",)), out, log=log.append)
    assert log[0].startswith("adc-study: seed 0") and returned["seed"] == 0
    report = json.loads((out / "adc_study.json").read_text())
    assert (out / "adc_study.md").read_text().startswith("| network | ADC |")
    assert (out / "adc_study.png").stat().st_size > 10_000
    float_acc = digits.float_accuracy(digits.get_mlp())
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
        return hit

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
