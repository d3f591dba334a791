"""Capture files: round trip, determinism, and a named error for every malformed file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.flow import capture
from model.nmpu import NMPUConfig
from model.sar import SARConfig

REPO = Path(__file__).resolve().parent.parent
COMMITTED = {
    "builtin": REPO / "captures" / "builtin_digits.npz",
    "aihwkit": REPO / "captures" / "aihwkit_digits.npz",
}


def _valid_kwargs(seed: int, vectors: int = 5, columns: int = 8) -> dict:
    rng = np.random.default_rng(seed)
    ncfg = NMPUConfig(columns=columns, lanes=4)
    return {
        "analog": rng.uniform(-1.2, 1.2, size=(vectors, 1, columns)),
        "scale": rng.integers(0, 256, size=columns),
        "offset": rng.integers(-128, 128, size=columns),
        "bn_scale": rng.integers(-(1 << 15), 1 << 15, size=columns),
        "bn_offset": rng.integers(-(1 << 15), 1 << 15, size=columns),
        "reference": rng.normal(size=(vectors, columns)) * 50,
        "labels": rng.integers(0, 10, size=vectors),
        "head": [
            (rng.normal(size=(columns, 6)), rng.normal(size=6)),
            (rng.normal(size=(6, 10)), rng.normal(size=10)),
        ],
        "sar_config": SARConfig(columns=columns),
        "nmpu_config": ncfg,
        "provenance": {
            "simulator": "test",
            "seed": seed,
            "adc_front_end": {"mismatch": 0.01, "offset": 0.2, "noise": 0.1, "seed": 3},
        },
        "scaling": {"out_scale": 8.0, "act_lsb": 0.03, "out_frac": 0},
    }


def test_round_trip(tmp_path, seed):
    kw = _valid_kwargs(seed)
    path = capture.save(tmp_path / "c.npz", **kw)
    cap = capture.load(path)
    for name in ("analog", "scale", "offset", "bn_scale", "bn_offset", "reference", "labels"):
        np.testing.assert_array_equal(getattr(cap, name), kw[name], err_msg=name)
    assert cap.analog.dtype == np.float64 and cap.scale.dtype == np.int64
    assert (cap.vectors, cap.phases, cap.columns) == (5, 1, 8)
    assert cap.sar_config == SARConfig(columns=8) and cap.nmpu_config == kw["nmpu_config"]
    assert cap.tile_config.nmpu is cap.nmpu_config and cap.tile_config.sar is cap.sar_config
    assert cap.provenance == kw["provenance"] and cap.scaling == kw["scaling"]
    assert set(cap.params()) == {"scale", "offset", "bn_scale", "bn_offset"}
    assert cap.schema_version == 2 and len(cap.head.layers) == 2
    for (w, b), (w0, b0) in zip(cap.head.layers, kw["head"], strict=True):
        np.testing.assert_array_equal(w, w0)
        np.testing.assert_array_equal(b, b0)
    # The capture's own network: ReLU between the layers, argmax at the end.
    h = cap.reference * kw["scaling"]["act_lsb"]
    (w0, b0), (w1, b1) = kw["head"]
    want = np.mean(np.argmax(np.maximum(h @ w0 + b0, 0) @ w1 + b1, axis=1) == kw["labels"])
    assert cap.accuracy(cap.reference) == pytest.approx(want)
    assert cap.adc_front_end == kw["provenance"]["adc_front_end"]


def test_version_1_file_loads_without_head(tmp_path, seed):
    arrays, meta = _raw_parts(seed)
    for name in [n for n in arrays if n.startswith("head_")]:
        del arrays[name]
    meta["schema_version"] = 1
    del meta["provenance"]["adc_front_end"]
    cap = capture.load(_write_raw(tmp_path / "v1.npz", arrays, meta))
    assert cap.schema_version == 1 and cap.head is None
    assert cap.accuracy(cap.reference) is None and cap.adc_front_end is None


def test_labels_optional_and_save_is_deterministic(tmp_path, seed):
    kw = _valid_kwargs(seed)
    del kw["labels"]
    a = capture.save(tmp_path / "a.npz", **kw)
    b = capture.save(tmp_path / "b.npz", **kw)
    assert a.read_bytes() == b.read_bytes()
    assert capture.load(a).labels is None


# -- malformed files: every one fails naming the file and the field --------------------


def _write_raw(path: Path, arrays: dict, meta: dict | None) -> Path:
    out = dict(arrays)
    if meta is not None:
        out["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **out)
    return path


def _raw_parts(seed):
    kw = _valid_kwargs(seed)
    meta = {
        "schema": capture.SCHEMA,
        "schema_version": capture.SCHEMA_VERSION,
        **{k: kw.pop(k).to_dict() for k in ("sar_config", "nmpu_config")},
        **{k: kw.pop(k) for k in ("provenance", "scaling")},
    }
    for i, (w, b) in enumerate(kw.pop("head")):
        kw[f"head_weight_{i}"], kw[f"head_bias_{i}"] = w, b
    arrays = {k: np.asarray(v) for k, v in kw.items()}
    return arrays, meta


def _mutations():
    def set_array(name, value_fn):
        def f(arrays, meta):
            arrays[name] = value_fn(arrays[name])

        return f

    def drop_array(name):
        def f(arrays, meta):
            del arrays[name]

        return f

    def set_meta(path, value):
        def f(arrays, meta):
            d = meta
            for key in path[:-1]:
                d = d[key]
            if value is KeyError:
                del d[path[-1]]
            else:
                d[path[-1]] = value

        return f

    nan_at = lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.nan, a)  # noqa: E731
    return [
        ("schema_version", set_meta(["schema_version"], 3), r"3 is not a supported version"),
        ("schema_version", set_meta(["schema_version"], True), r"True is not a supported"),
        ("schema_version", set_meta(["schema_version"], 1.0), r"1.0 is not a supported"),
        ("schema_version", set_meta(["schema_version"], "2"), r"'2' is not a supported"),
        ("schema", set_meta(["schema"], "other"), r"'other' != 'aimc-capture'"),
        ("provenance", set_meta(["provenance"], KeyError), "missing from metadata"),
        ("nmpu_config", set_meta(["nmpu_config"], KeyError), "missing from metadata"),
        ("scaling", set_meta(["scaling", "act_lsb"], -1.0), "positive and finite"),
        ("analog", drop_array("analog"), "missing from the file"),
        ("bn_offset", drop_array("bn_offset"), "missing from the file"),
        ("reference", drop_array("reference"), "missing from the file"),
        ("scale", set_array("scale", lambda a: a[:-1]), r"shape \(7,\) != \(8,\)"),
        ("reference", set_array("reference", lambda a: a[:-1]), r"shape \(4, 8\) != \(5, 8\)"),
        ("labels", set_array("labels", lambda a: a[:3]), r"shape \(3,\) != \(5,\)"),
        ("analog", set_array("analog", lambda a: a[:, 0, :]), "must be 3-D"),
        ("analog", set_array("analog", lambda a: a.astype(np.int64)), "not floating point"),
        ("offset", set_array("offset", lambda a: a.astype(np.float64)), "not an integer type"),
        ("labels", set_array("labels", lambda a: a.astype(np.float32)), "not an integer type"),
        ("analog", set_array("analog", nan_at), r"non-finite value nan at index \[0, 0, 3\]"),
        ("reference", set_array("reference", nan_at), "non-finite value nan"),
        (
            "scale",
            set_array("scale", lambda a: np.where(np.arange(8) == 2, 256, a)),
            r"value 256 at column 2 is outside UQ\(1,7\) raw range \[0, 255\]",
        ),  # fmt: skip
        (
            "offset",
            set_array("offset", lambda a: np.where(np.arange(8) == 0, -129, a)),
            r"outside Q\(7,1\) raw range \[-128, 127\]",
        ),  # fmt: skip
        ("nmpu_config", set_meta(["nmpu_config", "columns"], 16), r"columns 16 != 8"),
        ("sar_config", set_meta(["sar_config", "columns"], 4), r"columns 4 != 8"),
        ("nmpu_config", set_meta(["nmpu_config", "phases"], 2), r"phases 2 != 1"),
        ("nmpu_config", set_meta(["nmpu_config", "lanes"], 3), r"lanes \(3\) must divide"),
        ("sar_config", set_meta(["sar_config", "steps"], 0), r"SARConfig.steps"),
        ("bogus", lambda arrays, meta: arrays.update(bogus=np.zeros(2)), "unknown field"),
        ("labels", set_array("labels", lambda a: a.astype(np.uint64) + (1 << 63)), "above"),
        (
            "labels",
            set_array("labels", lambda a: np.where(np.arange(5) == 1, 10, a)),
            r"label 10 is not a class of the head \(10 outputs of head_weight_1\)",
        ),
        (
            "sar_config",
            set_meta(["sar_config", "out_width"], 6),
            r"does not match nmpu_config: SARConfig.out_width \(6\) != NMPUConfig.in_width",
        ),
        (
            "provenance",
            set_meta(["provenance", "adc_front_end"], {"mismtach": 0.1}),
            r"'adc_front_end' has unknown key 'mismtach'",
        ),
        (
            "provenance.adc_front_end.noise",
            set_meta(["provenance", "adc_front_end"], {"noise": -1}),
            r"must be >= 0",
        ),
        (
            "provenance",
            set_meta(["provenance", "adc_front_end"], [0.1]),
            r"'adc_front_end' must be a JSON object",
        ),
        (
            "head_weight_0",
            set_array("head_weight_0", lambda a: a[:-1]),
            r"has 7 inputs, but the captured layer's columns are 8",
        ),
        ("head_bias_1", set_array("head_bias_1", lambda a: a[:-1]), r"shape \(9,\) != \(10,\)"),
        ("head_bias_1", drop_array("head_bias_1"), r"missing \(head_weight_1 is present\)"),
        ("head_weight_1", set_array("head_weight_1", nan_at), "non-finite value"),
        (
            "head_weight_2",
            lambda arrays, meta: arrays.update(head_weight_2=np.zeros((10, 3))),
            r"missing \(head_weight_2 is present\)|head_bias_2",
        ),
        ("head_bias_0", set_meta(["schema_version"], 1), r"head layers need schema_version 2"),
    ]


@pytest.mark.parametrize(
    "field, mutate, problem", _mutations(), ids=[f"{m[0]}-{i}" for i, m in enumerate(_mutations())]
)
def test_malformed_file_names_file_and_field(tmp_path, seed, field, mutate, problem):
    arrays, meta = _raw_parts(seed)
    mutate(arrays, meta)
    path = _write_raw(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ValueError, match=rf"^{path}: field '{field}': .*{problem}"):
        capture.load(path)


def test_valid_raw_file_loads(tmp_path, seed):
    """Control for the mutation tests: the unmutated raw file is accepted."""
    arrays, meta = _raw_parts(seed)
    capture.load(_write_raw(tmp_path / "ok.npz", arrays, meta))


def test_missing_metadata_and_bad_json(tmp_path, seed):
    arrays, meta = _raw_parts(seed)
    path = _write_raw(tmp_path / "nometa.npz", arrays, None)
    with pytest.raises(ValueError, match=rf"^{path}: field 'metadata': missing"):
        capture.load(path)
    arrays["metadata"] = np.array("{not json")
    path = tmp_path / "badjson.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=rf"^{path}: field 'metadata': invalid JSON"):
        capture.load(path)


def test_object_array_is_rejected_without_pickle(tmp_path, seed):
    arrays, meta = _raw_parts(seed)
    arrays["scale"] = np.array([object()] * 8, dtype=object)
    path = tmp_path / "obj.npz"
    out = {**arrays, "metadata": np.array(json.dumps(meta))}
    np.savez(path, **out)
    with pytest.raises(ValueError, match=rf"^{path}: field 'scale'"):
        capture.load(path)


@pytest.mark.parametrize(
    "content, problem", [(b"not a zip file at all", "not a zip archive"), (b"", "empty file")]
)
def test_not_a_zip(tmp_path, content, problem):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}: not a capture \(.npz\) file: {problem}"):
        capture.load(path)


def test_save_validates_too(tmp_path, seed):
    kw = _valid_kwargs(seed)
    kw["offset"] = kw["offset"][:4]
    with pytest.raises(ValueError, match=r"field 'offset': shape \(4,\) != \(8,\)"):
        capture.save(tmp_path / "x.npz", **kw)
    assert not (tmp_path / "x.npz").exists()


# -- committed captures -------------------------------------------------------------


@pytest.mark.parametrize("name", ["builtin", "aihwkit"])
def test_committed_capture_is_valid_and_small(name):
    path = COMMITTED[name]
    assert path.stat().st_size < 1 << 20
    cap = capture.load(path)
    assert cap.provenance["simulator"] == name
    assert cap.vectors >= 200 and cap.columns == cap.nmpu_config.columns
    assert cap.labels is not None
    assert cap.provenance["command"].startswith("python -m tools.capture")
    # Version 2 with the digits MLP's second layer: accuracy with the capture's own network.
    assert cap.schema_version == 2 and len(cap.head.layers) == 1 and cap.head.classes == 10
    assert cap.accuracy(cap.reference) == pytest.approx(cap.provenance["float_accuracy"])


def test_committed_paper_tile_capture():
    """The paper's tile: 256 columns in 64 lanes, 4 bit-sliced input phases, < 1 MB."""
    path = REPO / "captures" / "builtin_digits_256.npz"
    assert path.stat().st_size < 1 << 20
    cap = capture.load(path)
    n = cap.nmpu_config
    assert (cap.columns, n.lanes, cap.phases) == (256, 64, 4)
    assert n.phase_shifts == (0, 1, 2, 3) and n.phase_signs == (1, 1, 1, 1)
    assert 32 <= cap.vectors <= 64 and cap.head.inputs == 256 and cap.head.classes == 10
    assert cap.accuracy(cap.reference) == pytest.approx(cap.provenance["float_accuracy"])
    assert "--input-bits 4" in cap.provenance["command"]


def assert_regenerates(path: Path, atol: float, tmp_dir: Path) -> None:
    """Re-run the command stored in a capture and compare with the file.

    Integer fields and metadata must be equal; float fields equal to ``atol``
    (BLAS kernels differ between CPU types in the last bits). On one machine
    the regenerated file is byte-identical, which the second half checks.
    """
    from model.flow.digits_capture import CaptureSettings, build

    cap = capture.load(path)
    mlp_cache = str(REPO / "captures" / "digits_mlp.npz")
    settings = CaptureSettings.from_command(cap.provenance["command"], mlp_cache=mlp_cache)
    kw = build(settings)
    for name in ("scale", "offset", "bn_scale", "bn_offset", "labels"):
        np.testing.assert_array_equal(kw[name], getattr(cap, name), err_msg=name)
    np.testing.assert_allclose(kw["analog"], cap.analog, rtol=0, atol=atol)
    np.testing.assert_allclose(kw["reference"], cap.reference, rtol=0, atol=atol * 1e3)
    assert kw["sar_config"] == cap.sar_config and kw["nmpu_config"] == cap.nmpu_config
    assert kw["scaling"] == pytest.approx(cap.scaling)
    again = build(settings)
    a = capture.save(tmp_dir / "a.npz", **kw)
    b = capture.save(tmp_dir / "b.npz", **again)
    assert a.read_bytes() == b.read_bytes(), "same seed and arguments must give identical bytes"


def test_builtin_capture_regenerates(tmp_path):
    assert_regenerates(COMMITTED["builtin"], atol=1e-12, tmp_dir=tmp_path)


def test_stored_command_reads_back_to_the_same_settings():
    """``provenance.command`` is ``CaptureSettings.command_line()``; ``from_command`` is its
    inverse (the regeneration tests rely on it), and refuses anything else."""
    from model.flow.digits_capture import CaptureSettings

    for path in (*COMMITTED.values(), REPO / "captures" / "builtin_digits_256.npz"):
        command = capture.load(path).provenance["command"]
        assert CaptureSettings.from_command(command).command_line() == command
    with pytest.raises(ValueError, match="unknown option '--colour'"):
        CaptureSettings.from_command("python -m tools.capture --colour red")
    with pytest.raises(ValueError, match="not a python -m tools.capture command line"):
        CaptureSettings.from_command("python -m tools.sim --seed 1")
