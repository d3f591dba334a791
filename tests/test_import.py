"""``python -m tools.capture import``: anyone's analog arrays into a capture that make sim runs
(DESIGN 5.2); the issue-10 scenarios (a 48-wide digits layer, a 30->16 breast-cancer layer),
phases, lanes, and one clean line for every bad source."""

from __future__ import annotations

import numpy as np
import pytest

from model.analog import crossbar as X
from model.flow import capture, importer
from model.flow import digits as D
from model.golden.tile import adc_codes, nmpu_input
from model.nmpu import nmpu
from model.sar import AnalogFrontEnd
from tools.capture import main as capture_main


def _dense_source(seed, x, w, b, labels, head, noisy=True):
    """A source as an analog simulator writes it: noisy analog MAC, ideal MAC, the head."""
    xcfg = X.CrossbarConfig(rows=w.shape[0]) if noisy else X.CrossbarConfig.ideal(rows=w.shape[0])
    chip = X.program(xcfg, w, np.random.default_rng(seed))
    src = {"analog_mac": chip.read(x), "ideal_mac": x @ w, "bias": b, "labels": labels}
    for i, (hw, hb) in enumerate(head):
        src[f"head_weight_{i}"], src[f"head_bias_{i}"] = hw, hb
    return src


@pytest.fixture(scope="module")
def digits48():
    """The issue's first case: a 64->48 digits layer with its own second layer."""
    mlp = D.train_mlp(48)
    d = D.load_data()
    x = np.concatenate([d.x_train[:600], d.x_test[:200]])
    y = np.concatenate([d.y_train[:600], d.y_test[:200]])
    return mlp, x, y


def _import(tmp_path, src: dict, *args: str) -> tuple[int, capture.Capture | None]:
    path = tmp_path / "src.npz"
    np.savez(path, **src)
    out = tmp_path / "cap.npz"
    status = capture_main(["import", str(path), "--out", str(out), *args])
    return status, (capture.load(out) if status == 0 else None)


def test_digits48_imports_with_its_own_head(tmp_path, seed, digits48, capsys):
    mlp, x, y = digits48
    src = _dense_source(seed, x, mlp.w1, mlp.b1, y, mlp.head)
    src["calibration"] = np.arange(len(x)) < 600
    status, cap = _import(tmp_path, src, "--lanes", "16")
    out = capsys.readouterr().out
    assert status == 0, out
    assert (cap.vectors, cap.phases, cap.columns) == (200, 1, 48)
    assert cap.nmpu_config.lanes == 16 and cap.head is not None and cap.head.classes == 10
    assert "600 vectors marked by 'calibration' calibrate; the other 200 are scored" in out
    # The capture's own network gives the float network's accuracy (issue 10: not 15.93 %).
    float_acc = D.float_accuracy(mlp, x[600:], y[600:])
    assert cap.accuracy(cap.reference) == pytest.approx(float_acc)
    # The golden chain on the capture (the same front end make sim uses).
    cfg = cap.tile_config
    fe = AnalogFrontEnd.sample(cfg.sar, **cap.adc_front_end)
    codes, _ = adc_codes(cfg, fe, cap.analog)
    hw = nmpu(cfg.nmpu, nmpu_input(cfg, codes), **cap.params())
    acc = cap.accuracy(hw)
    print(f"digits-48: float {float_acc:.4f}, golden chain {acc:.4f}")
    assert acc > float_acc - 0.03 and acc > 0.9
    assert cap.provenance["golden_accuracy"] == pytest.approx(acc)
    assert cap.provenance["source_sha256"] == importer.source_digest(tmp_path / "src.npz")


def test_breast_cancer_30_to_16_without_lanes_dividing_default(tmp_path, seed, capsys):
    """The issue's second case: 30 inputs -> 16 columns, then 16 -> 2; default split."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.neural_network import MLPClassifier

    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0) / 3
    clf = MLPClassifier((16,), max_iter=600, random_state=0).fit(x[::2], data.target[::2])
    w1, w2 = clf.coefs_
    b1, b2 = clf.intercepts_
    # sklearn's binary output is one logit z; the head's argmax needs two outputs (-z, z).
    head = [(np.hstack([-w2, w2]), np.concatenate([-b2, b2]))]
    src = _dense_source(seed, np.clip(x, -1, 1), w1, b1, data.target, head)
    status, cap = _import(tmp_path, src, "--adc-noise", "0.3", "--adc-seed", "2")
    out, err = capsys.readouterr()
    assert status == 0, err
    assert cap.columns == 16 and cap.nmpu_config.lanes == 16  # largest divisor <= 64
    assert cap.vectors == len(x) // 2 and "odd vectors (284) are scored" in out
    assert cap.adc_front_end == {"noise": 0.3, "seed": 2}
    acc = cap.provenance["golden_accuracy"]
    print(f"breast cancer: float {cap.provenance['float_accuracy']:.4f}, golden {acc:.4f}")
    assert acc > 0.9


def test_lanes_that_do_not_divide_suggest_one(tmp_path, seed, digits48, capsys):
    mlp, x, y = digits48
    src = _dense_source(seed, x[:40], mlp.w1, mlp.b1, y[:40], mlp.head)
    status, _ = _import(tmp_path, src, "--lanes", "64")
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "--lanes 64 does not divide the 48 columns" in err and "e.g. --lanes 48" in err, err


def test_bit_sliced_source_with_phases(tmp_path, seed, capsys):
    """A [vectors, phases, columns] source with its phase shifts; missing shifts are an error."""
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(32, 8))
    b = rng.normal(scale=0.5, size=8)
    xi = rng.integers(0, 16, size=(400, 32))
    sl = np.stack([(xi >> k) & 1 for k in range(4)], axis=1).astype(float)
    chip = X.program(X.CrossbarConfig(rows=32), w, rng)
    src = {"analog_mac": np.stack([chip.read(sl[:, k]) for k in range(4)], axis=1),
           "ideal_mac": sl @ w, "bias": b}  # fmt: skip
    status, _ = _import(tmp_path, src)
    err = capsys.readouterr().err
    assert status == 2 and "the source has 4 phases: give their weights" in err, err
    status, cap = _import(tmp_path, src, "--nmpu-set", "phase_shifts=[0,1,2,3]", "--lanes", "4")
    out = capsys.readouterr().out
    assert status == 0, out
    assert cap.phases == 4 and cap.nmpu_config.phase_shifts == (0, 1, 2, 3)
    assert "accuracy: not available (the source has no network head)" in out
    # The reference is the layer on the whole 4-bit input.
    h = np.maximum(xi[1::2] @ w + b, 0) / cap.scaling["act_lsb"]
    np.testing.assert_allclose(cap.reference, h, rtol=1e-9, atol=1e-9)


def test_unsigned_codes_and_bn_false_choose_formats(tmp_path, seed, capsys):
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(32, 8))
    x = rng.uniform(-1, 1, size=(300, 32))
    src = {"analog_mac": x @ w * 1.05, "ideal_mac": x @ w}
    status, cap = _import(tmp_path, src, "--nmpu-set", "in_signed=false", "--nmpu-set", "bn=false")
    out = capsys.readouterr().out
    assert status == 0, out
    n = cap.nmpu_config
    assert not n.in_signed and not n.bn and str(n.offset_fmt) == "Q(10,1)"
    assert n.out_lsb_cut == 0 and n.out_frac == 0
    print(out)


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (lambda s: s.pop("analog_mac"), "analog_mac", "missing"),
        (lambda s: s.update(ideal_mac=s["ideal_mac"][:, :3]), "ideal_mac", "!= analog_mac's"),
        (lambda s: s.update(analog_mac=np.where(s["analog_mac"] > 0, np.nan, 0)), "analog_mac",
         "non-finite"),
        (lambda s: s.update(labels=np.full(len(s["labels"]), 1 << 63, np.uint64)), "labels",
         "must be in"),
        (lambda s: s.update(labels=s["labels"] + 10), "labels", "not one of the head's 10"),
        (lambda s: s.update(bias=np.zeros(3)), "bias", "must be a real"),
        (lambda s: s.update(calibration=np.zeros(len(s["labels"]))), "calibration", "bool"),
        (lambda s: s.update(calibration=np.zeros(len(s["labels"]), bool)), "calibration",
         "selects no vector"),
        (lambda s: s.update(head_weight_0=s["head_weight_0"][:5]), "head_weight_0",
         "has 5 inputs"),
        (lambda s: s.pop("head_bias_0"), "head_bias_0", "missing"),
        (lambda s: s.update(extra=np.zeros(2)), "extra", "unknown field"),
        (lambda s: s.update(analog_mac=s["analog_mac"][:, None, None]), "analog_mac", "must be"),
    ],
)  # fmt: skip
def test_malformed_source_is_one_line_exit_2(tmp_path, seed, digits48, capsys, mutate, field,
                                             problem):  # fmt: skip
    mlp, x, y = digits48
    src = _dense_source(seed, x[:40], mlp.w1, mlp.b1, y[:40], mlp.head, noisy=False)
    mutate(src)
    status, _ = _import(tmp_path, src)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"src.npz: field '{field}': " in err and problem in err, err


@pytest.mark.parametrize(
    "content, problem", [(b"", "empty file"), (b"analog_mac,ideal_mac\n1,2\n", "not a zip")]
)
def test_source_that_is_not_npz(tmp_path, content, problem, capsys):
    path = tmp_path / "src.npz"
    path.write_bytes(content)
    status = capture_main(["import", str(path), "--out", str(tmp_path / "c.npz")])
    err = capsys.readouterr().err
    assert status == 2 and problem in err and err.count("\n") == 1, err
    assert capture_main(["import", str(tmp_path / "none.npz"), "--out", "x.npz"]) == 2
    assert "none.npz" in capsys.readouterr().err


def test_lanes_helpers():
    assert importer.choose_lanes(256, None) == 64 and importer.choose_lanes(48, None) == 48
    assert importer.choose_lanes(30, None) == 30 and importer.choose_lanes(100, None) == 50
    with pytest.raises(ValueError, match=r"valid: 1, 2, 3, 5, 6, 10, 15, 30; e.g. --lanes 6"):
        importer.choose_lanes(30, 7)


# -- hostile input (issue 18): options and source values that cannot give a usable capture ----


def _small_source(seed, vectors=60) -> dict:
    """A 16 -> 8 layer's arrays: analog = ideal with a gain error and noise (fast to import)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(16, 8))
    x = rng.uniform(-1, 1, size=(vectors, 16))
    ideal = x @ w
    analog = ideal * 1.02 + rng.normal(scale=0.01, size=ideal.shape)
    return {"analog_mac": analog, "ideal_mac": ideal, "bias": rng.normal(scale=0.2, size=8)}


def _one_line_error(tmp_path, capsys, src: dict, *args: str) -> str:
    """Import ``src`` expecting exit status 2, one line on stderr and no capture written."""
    status, _ = _import(tmp_path, src, *args)
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert not (tmp_path / "cap.npz").exists()
    return err


NOISY = ("--adc-noise", "0.3")


@pytest.mark.parametrize(
    "args, named, problem",
    [
        (["--out-headroom", "0"], "--out-headroom", "(0, 1]"),
        (["--out-headroom", "-1"], "--out-headroom", "(0, 1]"),
        (["--out-headroom", "nan"], "--out-headroom", "(0, 1]"),
        (["--out-headroom", "inf"], "--out-headroom", "(0, 1]"),
        (["--out-headroom", "2"], "--out-headroom", "(0, 1]"),
        (["--out-headroom", "0.001"], "--out-headroom", "one code"),
        (["--out-percentile", "200"], "--out-percentile", "[50, 100]"),
        (["--out-percentile", "nan"], "--out-percentile", "[50, 100]"),
        (["--out-percentile", "0"], "--out-percentile", "[50, 100]"),
        (["--act-percentile", "0"], "--act-percentile", "[50, 100]"),
        (["--act-percentile", "-1"], "--act-percentile", "[50, 100]"),
        (["--act-percentile", "nan"], "--act-percentile", "[50, 100]"),
        (["--full-scale", "1e-300"], "--full-scale", "beyond the full scale"),
        (["--full-scale", "1e308"], "--full-scale", "one code"),
        (["--full-scale", "nan"], "--full-scale", "positive and finite"),
        (["--adc-mismatch", "1000"], "--adc-mismatch", "at most 0.5"),
        (["--adc-gain", "3"], "--adc-gain", "at most 0.5"),
        (["--adc-offset", "1e6"], "--adc-offset", "at most 256"),
        (["--adc-noise", "1e6"], "--adc-noise", "at most 256"),
        (["--adc-compression", "1000"], "--adc-compression", "at most 85.3"),
        (["--adc-noise", "inf"], "--adc-noise", "finite"),
        ([*NOISY, "--adc-seed", str(1 << 63)], "--adc-seed", "below 2**63"),
        ([*NOISY, "--adc-seed", str(1 << 64)], "--adc-seed", "below 2**63"),
        ([*NOISY, "--adc-seed", "-1"], "--adc-seed", "integer >= 0"),
    ],
)
def test_import_option_out_of_range_is_one_line_naming_it(
    tmp_path, seed, capsys, args, named, problem
):
    err = _one_line_error(tmp_path, capsys, _small_source(seed), *args)
    assert named in err and problem in err, err
    assert "analog_mac is all zero" not in err


def test_import_option_ranges_accept_their_bounds(tmp_path, seed, capsys):
    """The documented bounds themselves are valid settings."""
    src = _small_source(seed)
    for args in (
        ["--out-percentile", "50", "--out-headroom", "1", "--act-percentile", "100"],
        ["--out-percentile", "100", "--out-headroom", str(2.0**-7), "--act-percentile", "50"],
        ["--adc-mismatch", "0.5", "--adc-offset", "256", "--adc-noise", "256", "--adc-gain",
         "0.5", "--adc-seed", str((1 << 63) - 1)],
        ["--adc-compression", str(256 / 3)],
    ):  # fmt: skip
        status, _ = _import(tmp_path, src, *args)
        assert status == 0, (args, capsys.readouterr().err)


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        # one column at 1.7e308: the full scale (percentile / 0.8) overflows float64
        (lambda s: s["analog_mac"].__setitem__((slice(None), 3), 1.7e308), "analog_mac",
         "column 3"),
        # ideal MAC beyond any NMPU accumulator (2**62 code LSBs), or overflowing in codes
        (lambda s: s["ideal_mac"].__setitem__((slice(None), 5), 1.7e308), "ideal_mac",
         "column 5"),
        (lambda s: s["ideal_mac"].__setitem__((7, 2), 1e30), "ideal_mac", "column 2"),
        # at least 99.9 % of the calibration samples are 0: no full scale to derive
        (lambda s: s.update(analog_mac=np.zeros_like(s["analog_mac"])), "analog_mac",
         "--full-scale"),
        # a long double beyond float64's range (no RuntimeWarning line on stderr)
        (lambda s: s.update(analog_mac=np.where(
            np.arange(8) == 1, np.longdouble("1e400"), s["analog_mac"].astype(np.longdouble))),
         "analog_mac", "float64"),
        (lambda s: s.update(bias=np.full(8, np.longdouble("-1e400"))), "bias", "float64"),
        # wider than any tile
        (lambda s: s.update(analog_mac=np.ones((4, 5000)), ideal_mac=np.ones((4, 5000)),
                            bias=np.zeros(5000)), "analog_mac", "4096"),
    ],
)  # fmt: skip
def test_source_values_that_overflow_name_file_field_and_column(
    tmp_path, seed, capsys, mutate, field, problem
):
    if "longdouble" in mutate.__code__.co_names and np.isinf(np.longdouble("1e400")):
        pytest.skip("long double is float64 on this platform")
    src = _small_source(seed)
    mutate(src)
    err = _one_line_error(tmp_path, capsys, src)
    assert f"src.npz: field '{field}': " in err and problem in err, err


@pytest.mark.parametrize("k", [1000, -1000])
def test_representable_extremes_import_exactly(tmp_path, seed, capsys, k):
    """Every value times 2**k (1e301, 1e-301): representable, so imported, and the
    calibration is the unscaled one (the importer's arithmetic is scale-invariant)."""
    src = _small_source(seed)
    status, ref = _import(tmp_path, src)
    assert status == 0
    scaled = {name: a * 2.0**k for name, a in src.items()}
    status, cap = _import(tmp_path, scaled)
    out, err = capsys.readouterr()
    assert status == 0 and err == "", err
    for name in ("scale", "offset", "bn_scale", "bn_offset"):
        np.testing.assert_array_equal(getattr(cap, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(cap.analog, ref.analog)
    assert cap.scaling["out_scale"] == ref.scaling["out_scale"] * 2.0**k


def test_errors_inside_the_import_name_the_source_file(tmp_path, seed, capsys):
    """Errors found after the source is read (configs, lanes, phases) name the file too."""
    src = _small_source(seed)
    err = _one_line_error(tmp_path, capsys, src, "--sar-set", "out_width=99")
    assert "src.npz: " in err and "out_width" in err, err
    three = {k: np.stack([v] * 3, axis=1) if k != "bias" else v for k, v in src.items()}
    err = _one_line_error(tmp_path, capsys, three)
    assert "src.npz: " in err and "3 phases" in err, err
    err = _one_line_error(tmp_path, capsys, src, "--no-saturate", "--nmpu-set",
                          "scale_fmt=UQ(1,1)")  # fmt: skip
    assert "src.npz: " in err and "calibration: " in err, err
