"""The format sweep on mnist1d (model.flow.mnist1d_task, tools.format_sweep): each variant's
capture carries the formats asked for, the float row is the trained network's own accuracy
(recomputed here from its weights), and a format that cannot hold the offsets costs
accuracy while the one multiply-add unit at the default formats does not."""

from __future__ import annotations

import numpy as np
import pytest

from model.capture import load
from model.flow.mnist1d_task import (
    FORMAT_VARIANTS,
    TaskSettings,
    format_sweep,
    load_data,
    train_mlp,
)
from tools.format_sweep import main as format_sweep_main

SMALL = TaskSettings(hidden=16, vectors=300, lanes=4, max_iter=150)
VARIANTS = {
    k: FORMAT_VARIANTS[k] for k in ("two_mult", "folded", "folded_scale4", "folded_offset5")
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("format_sweep")
    return out, format_sweep(SMALL, out, VARIANTS)


def test_each_variant_is_imported_with_its_formats(sweep):
    out, report = sweep
    assert [r["variant"] for r in report["rows"]] == list(VARIANTS)
    for row in report["rows"]:
        cfg = load(out / f"{row['variant']}.npz").tile_config.nmpu
        for field, value in VARIANTS[row["variant"]].items():
            got = getattr(cfg, field)
            assert str(got) == str(value) if field.endswith("_fmt") else got == value, (
                f"{row['variant']}: {field} = {got}, asked {value}"
            )
        assert row["function"] == ("two_mult" if cfg.bn else "folded")
        assert cfg.columns == SMALL.hidden and cfg.lanes == SMALL.lanes


def test_float_row_is_the_networks_own_accuracy(sweep):
    """The float reference through the capture scores what the trained MLP scores in plain
    numpy on the same test signals (within one vector: the crossbar's 8-bit DAC)."""
    _, report = sweep
    mlp = train_mlp(SMALL.hidden, SMALL.train_seed, SMALL.max_iter)
    d = load_data()
    x, y = d.x_test[: SMALL.vectors], d.y_test[: SMALL.vectors]
    logits = np.maximum(x @ mlp.w1 + mlp.b1, 0) @ mlp.w2 + mlp.b2
    direct = float(np.mean(np.argmax(logits, axis=1) == y))
    assert direct > 0.3, f"the MLP does not learn mnist1d: {direct}"  # chance is 0.1
    for row in report["rows"]:
        assert abs(row["float_accuracy"] - direct) <= 1 / SMALL.vectors, (row, direct)


def test_offsets_need_their_format_and_one_multiplier_suffices(sweep):
    _, report = sweep
    acc = {r["variant"]: r["fixed_accuracy"] for r in report["rows"]}
    # Q(5,0) holds offsets up to 15: the calibrated ones do not fit and saturate.
    assert acc["folded_offset5"] < acc["folded"] - 0.05, acc
    # The folded unit loses no more than the two-multiplier one (within 2 % of vectors).
    assert acc["folded"] >= acc["two_mult"] - 0.02, acc
    for r in report["rows"]:  # FP16 of the same function, same vectors
        assert 0 <= r["fp16_accuracy"] <= 1 and r["fixed_rms_lsb"] >= 0


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--vectors", "0"], "argument --vectors: must be an integer in [1, 1000]"),
        (["--hidden", "16", "--lanes", "3"], "--lanes 3 must divide --hidden 16"),
    ],
)
def test_cli_names_the_bad_option(argv, says, tmp_path, capsys):
    """One line naming the option, exit 2, before any training."""
    try:
        status = format_sweep_main(["--out", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse: the value did not parse or is out of its range
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "format_sweep.json").exists()
