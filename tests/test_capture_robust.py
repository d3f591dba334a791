"""Malformed capture files end in one line naming the file and field, never a traceback:
damaged archives, forged sizes, and a property-based fuzz over byte and field mutations."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.flow import capture
from tests.test_capture import _raw_parts, _valid_kwargs, _write_raw
from tools.capture import main as capture_main

REPO = Path(__file__).resolve().parent.parent


def _good(tmp_path: Path, seed: int) -> Path:
    return capture.save(tmp_path / "good.npz", **_valid_kwargs(seed))


def _npy(arr=None, header: dict | None = None, payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buf, arr, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(payload)
    return buf.getvalue()


def test_forged_huge_dimension_is_refused_before_reading(tmp_path, seed):
    """A header declaring 2**40 vectors: refused from the header, no MemoryError."""
    arrays, meta = _raw_parts(seed)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in arrays.items():
            if name == "analog":
                hdr = {"descr": "<f8", "fortran_order": False, "shape": (1 << 40, 1, 8)}
                zf.writestr("analog.npy", _npy(header=hdr, payload=b"\0" * 64))
            else:
                zf.writestr(f"{name}.npy", _npy(arr))
        zf.writestr("metadata.npy", _npy(np.array(json.dumps(meta))))
    with pytest.raises(ValueError, match=rf"^{path}: field 'analog': declares shape .* limit"):
        capture.load(path)


def test_truncated_member_and_corrupt_deflate_are_named(tmp_path, seed):
    good = _good(tmp_path, seed)
    data = bytearray(good.read_bytes())
    # Corrupt the compressed bytes of the first member (after its local header).
    with zipfile.ZipFile(good) as zf:
        first = zf.infolist()[0]
    start = first.header_offset + 30 + len(first.filename) + 8
    for i in range(start, start + 40):
        data[i] ^= 0x5A
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    name = first.filename[:-4]
    with pytest.raises(ValueError, match=rf"^{bad}: field '{name}': (damaged|unreadable)"):
        capture.load(bad)
    cut = tmp_path / "truncated.npz"
    cut.write_bytes(good.read_bytes()[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"^{cut}: not a capture \(.npz\) file"):
        capture.load(cut)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=rf"^{tmp_path}: not a capture .*a directory"):
        capture.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.npz: no such file"):
        capture.load(tmp_path / "nope.npz")


def test_fifo_and_device_are_named_not_read(tmp_path):
    """A FIFO is refused for what it is, without opening it (before: "empty file", its
    size being 0; opening it would block until a writer came)."""
    fifo = tmp_path / "cap.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=rf"^{fifo}: not a capture \(.npz\) file: a FIFO"):
        capture.load(fifo)
    with pytest.raises(ValueError, match=r"^/dev/null: not a capture .*: a character device$"):
        capture.load("/dev/null")


@pytest.mark.parametrize(
    "content, says",
    [
        ({"a": np.zeros(3)}, "field 'w1': missing (fields: w1, b1, w2, b2)"),
        ({k: np.zeros(2) for k in ("w1", "b1", "w2")}, "field 'b2': missing"),
        ({"w1": np.array(["x"]), "b1": 0, "w2": 0, "b2": 0}, "field 'w1': dtype <U1 is not"),
        ({"w1": np.zeros((4, 3)), "b1": np.zeros(2), "w2": np.zeros((3, 2)), "b2": 0}, "'b1'"),
        (b"not weights", "not a trained-weights (.npz) file: not a zip archive"),
    ],
)
def test_bad_weights_cache_is_one_line_naming_the_file(tmp_path, capsys, content, says):
    """``tools.capture --mlp-cache`` holding something else than trained weights: one line
    naming the file (and the field), exit 2, no capture written. Before: a ``KeyError``
    traceback for an archive without the weights, and numpy's advice about pickles, naming
    no file, for a text file."""
    cache = tmp_path / "mlp.npz"
    if isinstance(content, bytes):
        cache.write_bytes(content)
    else:
        np.savez(cache, **content)
    out = tmp_path / "c.npz"
    status = capture_main(["--vectors", "4", "--out", str(out), "--mlp-cache", str(cache)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{cache}: " in err and says in err, err
    assert not out.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def test_model_capture_cli_one_line_exit_2(tmp_path, seed):
    """``python -m model.capture``: a bad file is one line and status 2; good files pass."""
    good = _good(tmp_path, seed)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    res = _cli("-m", "model.capture", str(good), str(text), str(tmp_path / "missing.npz"))
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and "notes.npz: not a capture" in lines[0], res.stderr
    assert "missing.npz" in lines[1]
    assert "schema 2, 5 vectors x 1 phases x 8 columns, head 8-6-10" in res.stdout, res.stdout


# -- property-based fuzz: any damage gives a clean ValueError naming the file ---------------


def _field_mutation(data, arrays: dict, meta: dict) -> None:
    """One random structural mutation of a valid capture's arrays or metadata."""
    kind = data.draw(st.sampled_from(["drop", "dtype", "shape", "value", "meta", "extra"]))
    names = sorted(arrays)
    name = data.draw(st.sampled_from(names))
    if kind == "drop":
        del arrays[name]
    elif kind == "dtype":
        dt = data.draw(st.sampled_from([np.bool_, np.int8, np.uint64, np.float32, np.complex64]))
        with warnings.catch_warnings():  # complex -> real casts warn; the cast is the point
            warnings.simplefilter("ignore")
            arrays[name] = arrays[name].astype(dt)
    elif kind == "shape":
        arr = arrays[name]
        arrays[name] = data.draw(
            st.sampled_from([arr.reshape(-1), arr[..., :1], np.zeros((0,)), arr[None], arr.T])
        )
    elif kind == "value":
        arr = np.array(arrays[name])
        if arr.size:
            flat = arr.reshape(-1)
            i = data.draw(st.integers(0, flat.size - 1))
            bad = [np.nan, np.inf, -1, 1 << 40] if arr.dtype.kind == "f" else [-1, 1 << 40]
            try:
                flat[i] = data.draw(st.sampled_from(bad))
            except (OverflowError, ValueError):
                flat[i] = np.iinfo(flat.dtype).max if flat.dtype.kind in "iu" else 0
        arrays[name] = arr
    elif kind == "meta":
        keys = [[k] for k in meta] + [[k, kk] for k in meta if isinstance(meta[k], dict)
                                      for kk in meta[k]]  # fmt: skip
        path = data.draw(st.sampled_from(keys))
        d = meta
        for k in path[:-1]:
            d = d[k]
        value = data.draw(
            st.sampled_from([None, True, 1.5, -3, "x", [], {}, [1, 2], {"a": 1}, 1 << 70])
        )
        d[path[-1]] = value
    else:
        arrays[data.draw(st.sampled_from(["head_weight_5", "zzz", "labels2"]))] = np.zeros(3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_fuzz_field_mutations_fail_cleanly(tmp_path, data):
    arrays, meta = _raw_parts(7)
    for _ in range(data.draw(st.integers(1, 3))):
        _field_mutation(data, arrays, meta)
    path = tmp_path / "fuzz.npz"
    out = dict(arrays)
    out["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **out)
    try:
        capture.load(path)
    except ValueError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, msg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_fuzz_byte_damage_fails_cleanly(tmp_path, data):
    good = tmp_path / "base.npz"
    if not good.exists():
        capture.save(good, **_valid_kwargs(11))
    raw = bytearray(good.read_bytes())
    op = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            if op == "flip":
                raw[i] ^= data.draw(st.integers(1, 255))
            else:
                raw[i:i] = bytes([data.draw(st.integers(0, 255))])
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(raw))
    try:
        capture.load(path)
    except ValueError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, msg


def test_valid_raw_parts_write(tmp_path):
    """Control for the fuzz: the unmutated parts load."""
    arrays, meta = _raw_parts(7)
    capture.load(_write_raw(tmp_path / "ok.npz", arrays, meta))


# -- the ADC front end's settings: one range, for capture files and --adc-* options ---------


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("seed", 1 << 63, "below 2**63"),
        ("seed", 1 << 64, "below 2**63"),
        ("seed", -1, "integer >= 0"),
        ("mismatch", 1000, "at most 0.5"),
        ("gain", 0.9, "at most 0.5"),
        ("offset", 257, "at most 256"),
        ("compression", 1000, "at most 85.3"),
    ],
)
def test_capture_front_end_out_of_range_names_the_key(tmp_path, key, value, problem):
    """``provenance.adc_front_end``: a seed of 2**63 or more used to load and fail later
    inside the simulation (an RTL test failure); now ``load`` names the key."""
    arrays, meta = _raw_parts(7)
    meta["provenance"]["adc_front_end"][key] = value
    path = _write_raw(tmp_path / "fe.npz", arrays, meta)
    with pytest.raises(ValueError) as info:
        capture.load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: field 'provenance.adc_front_end.{key}': "), msg
    assert problem in msg and "\n" not in msg, msg


def _one_line(capsys, status: int, *named: str) -> str:
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert all(n in err for n in named), err
    return err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--adc-noise", "0.3", "--adc-seed", str(1 << 64)], ["--adc-seed", "below 2**63"]),
        (["--adc-noise", "0.3", "--adc-seed", str(1 << 63)], ["--adc-seed", "below 2**63"]),
        (["--adc-mismatch", "1000"], ["--adc-mismatch", "at most 0.5"]),
        (["--adc-compression", "1e9"], ["--adc-compression", "at most"]),
    ],
)
def test_sim_front_end_options_out_of_range(capsys, args, named):
    """``tools.sim --adc-*``: refused before any build, naming the option."""
    from tools.sim import main as sim_main

    _one_line(capsys, sim_main(args), *named)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--adc-seed", str(1 << 64)], ["--adc-seed", "below 2**63"]),
        (["--adc-seed", str(1 << 63)], ["--adc-seed", "below 2**63"]),
        (["--adc-mismatch", "1000"], ["--adc-mismatch", "at most 0.5"]),
        (["--adc-offset", "nan"], ["--adc-offset", "finite"]),
        (["--seed", "-1"], ["--seed", "integer >= 0"]),
        (["--seed", str(1 << 70)], ["--seed", "below 2**63"]),
        (["--hidden", "0", "--mlp-cache", ""], ["--hidden", "[1, 4096]"]),
        (["--hidden", "100000", "--mlp-cache", ""], ["--hidden", "[1, 4096]"]),
        (["--lanes", "3"], ["--lanes 3", "--hidden 32"]),
        (["--lanes", "0"], ["--lanes", "[1, 32]"]),
        (["--vectors", "0"], ["--vectors", "[1, 450]"]),
        (["--slice-bits", "0"], ["--slice-bits"]),
        (["--input-bits", "9"], ["--input-bits", "[1, 8]"]),
        (["--input-bits", "-1"], ["--input-bits", "[1, 8]"]),
    ],
)
def test_simulator_capture_options_out_of_range(tmp_path, capsys, args, named):
    """``tools.capture`` (simulator flow): every option's range, one line naming it and no
    file written, checked before any training or simulation."""
    from tools.capture import main as capture_main

    out = tmp_path / "c.npz"
    _one_line(capsys, capture_main(["--out", str(out), "--vectors", "4", *args]), *named)
    assert not out.exists()
