"""A fuzz of the command lines themselves: hostile option values, config files and import
sources, drawn by hypothesis.

Every run must end in success (exit 0) or in one line on stderr and exit status 2, within a
time limit, with no traceback, and a failed run must leave its output folder as it found
it (an existing good file byte for byte, no new or temporary file). Simulations are not
run: ``make sim``'s simulator stage is replaced by a stub, since what is fuzzed is what
the command line accepts before it builds anything (the stages after it are checked
against the model elsewhere).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.flow import capture
from model.nmpu import NMPUConfig
from model.sar import SARConfig
from tools.capture import main as capture_main
from tools.rtl import main as rtl_main
from tools.sim import main as sim_main

#: Option values a hostile user types: limits, signs, non-numbers, huge and tiny numbers.
VALUES = [
    "0", "-1", "1", "2", "3", "8", "64", "256", "4096", "100000", "0.5", "-0.0", "1e308",
    "-1.7e308", "1e-300", "nan", "inf", "-inf", "9223372036854775808", "1" + "0" * 40,
    "abc", "", " ", "[]", "[1,-1]", "[0,1,2,3]", "{}", "true", "null", "0x10", "1_000",
    "\uff11",  # a full-width digit
]  # fmt: skip
NMPU_KEYS = [f.name for f in dataclasses.fields(NMPUConfig)] + ["bogus", ""]
SAR_KEYS = [f.name for f in dataclasses.fields(SARConfig)] + ["bogus"]
ADC_OPTIONS = ["--adc-mismatch", "--adc-offset", "--adc-noise", "--adc-gain"]
ADC_OPTIONS += ["--adc-compression", "--adc-seed"]
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: Seconds one command may take before it counts as a hang.
HANG_SECONDS = 60


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(main, argv: list[str]) -> tuple[int, str]:
    """Run a command line in-process: (exit status, stderr)."""
    err = io.StringIO()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(err),
        time_limit(HANG_SECONDS),
    ):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            status = exc.code
    return status, err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry of ``folder`` (recursively) and the bytes of its regular files."""
    out = {}
    for path in sorted(folder.rglob("*")):
        regular = path.is_file() and not path.is_symlink()
        out[str(path.relative_to(folder))] = path.read_bytes() if regular else None
    return out


def check_outcome(argv, status, err, before, after) -> None:
    """Exit 0, or exit 2 with one line (warnings aside) and the output folder untouched."""
    shown = f"argv={argv}\nstderr:\n{err}"
    assert "Traceback" not in err, shown
    assert status in (0, 2), f"exit status {status!r}\n{shown}"
    if status == 2:
        lines = [line for line in err.splitlines() if not line.startswith("warning:")]
        assert len(lines) == 1 and lines[0].strip(), f"not one error line\n{shown}"
        assert after == before, f"a failed run changed its output folder\n{shown}"


@st.composite
def options(draw, pool: list[tuple[str, list[str] | None]]) -> list[str]:
    """Some of ``pool``'s options (flags when the value list is None), hostile values."""
    argv = []
    for name, values in draw(st.lists(st.sampled_from(pool), max_size=4)):
        argv.append(name)
        if values is not None:
            argv.append(draw(st.sampled_from(values)))
    return argv


@st.composite
def sets(draw, flag: str, keys: list[str]) -> list[str]:
    """``flag key=value`` pairs with fields of the config, unknown keys and hostile values."""
    argv = []
    for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
        argv += [flag, f"{key}={draw(st.sampled_from(VALUES))}"]
    return argv


@contextlib.contextmanager
def workspace():
    """A fresh folder per example (hypothesis runs many examples in one test)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp)
        (root / "out").mkdir()
        yield root


def output_target(draw, root: Path, good: bytes | None) -> str:
    """Where ``--out`` points: a new file, an existing good file, a folder, a FIFO, a path
    in a folder that does not exist."""
    kind = draw(st.sampled_from(["new", "existing", "folder", "fifo", "missing_parent"]))
    out = root / "out" / "result.npz"
    if kind == "existing" and good is not None:
        out.write_bytes(good)
    elif kind == "folder":
        out.mkdir()
    elif kind == "fifo":
        os.mkfifo(out)
    elif kind == "missing_parent":
        out = root / "out" / "no" / "such" / "result.npz"
    return str(out)


# ------------------------------------------------------------------ tools.capture import
def import_source(draw, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A small import source (docs/captures.md), then zero to two hostile mutations."""
    vectors = draw(st.integers(2, 12))
    columns = draw(st.integers(1, 6))
    phases = draw(st.sampled_from([None, 2]))
    shape = (vectors, columns) if phases is None else (vectors, phases, columns)
    ideal = rng.normal(0, 4, shape)
    src = {"analog_mac": ideal + rng.normal(0, 0.2, shape), "ideal_mac": ideal}
    if draw(st.booleans()):
        src["bias"] = rng.normal(0, 1, columns)
    if draw(st.booleans()):
        src["labels"] = rng.integers(0, 3, vectors)
        src["head_weight_0"] = rng.normal(0, 1, (columns, 3))
        src["head_bias_0"] = np.zeros(3)
    hostile = [
        np.array([]),
        np.zeros((0, columns)),
        np.array(7.0),
        np.full(shape, np.nan),
        np.full(shape, np.inf),
        np.full(shape, 1.7e308),
        np.full(shape, 5e-324),
        np.zeros(shape),
        np.ones(shape, dtype=complex),
        np.full(shape, "x"),
        np.ones(shape, dtype=bool),
        rng.normal(0, 1, shape[::-1]),
        rng.normal(0, 1, (*shape, 2)),
        np.full(vectors, -1),
        np.full(vectors, 2**62),
    ]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from([*src, "calibration", "unknown_field", "head_weight_1"]))
        if draw(st.integers(0, 4)) == 0:
            src.pop(name, None)
        else:
            src[name] = hostile[draw(st.integers(0, len(hostile) - 1))]
    return src


def write_source(draw, root: Path, src: dict) -> str:
    """The source file: a proper .npz, or damaged bytes, or not a file at all (a FIFO, which
    must be refused without being opened, or a folder)."""
    path = root / "src.npz"
    np.savez(path, **src)
    kinds = ["npz"] * 6 + ["truncated", "garbage", "empty", "npy", "fifo", "directory"]
    kind = draw(st.sampled_from(kinds))
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: draw(st.integers(0, len(data) - 1))])
    elif kind == "garbage":
        path.write_bytes(bytes(draw(st.binary(min_size=1, max_size=64))))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        np.save(root / "src.npy", src.get("analog_mac", np.zeros(3)))
        return str(root / "src.npy")
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif kind == "directory":
        path.unlink()
        path.mkdir()
    return str(path)


IMPORT_OPTIONS = [
    ("--lanes", VALUES),
    ("--max-vectors", VALUES),
    ("--full-scale", VALUES),
    ("--out-percentile", VALUES),
    ("--out-headroom", VALUES),
    ("--act-percentile", VALUES),
    ("--no-saturate", None),
    *((name, VALUES) for name in ADC_OPTIONS),
]


@pytest.fixture(scope="module")
def good_capture(tmp_path_factory) -> bytes:
    """The bytes of a capture a previous good run wrote (to be kept by a failed run)."""
    from tests.test_capture import _valid_kwargs

    path = tmp_path_factory.mktemp("good") / "good.npz"
    capture.save(path, **_valid_kwargs(1))
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_capture_import_command_line(data, seed, good_capture):
    draw = data.draw
    rng = np.random.default_rng(seed)
    with workspace() as root:
        src = write_source(draw, root, import_source(draw, rng))
        out = output_target(draw, root, good_capture)
        argv = ["import", src, "--out", out, *draw(options(IMPORT_OPTIONS))]
        argv += draw(sets("--nmpu-set", NMPU_KEYS)) + draw(sets("--sar-set", SAR_KEYS))
        before = snapshot(root / "out")
        status, err = invoke(capture_main, argv)
        check_outcome(argv, status, err, before, snapshot(root / "out"))
        if status == 0:
            capture.load(out)  # what a successful import wrote is a capture


# ------------------------------------------------------------------------------ tools.rtl
def config_file(draw, root: Path) -> str:
    """An ``--nmpu-config``/``--sar-config`` file: small valid, hostile JSON or no JSON, or not
    a file at all: missing, a FIFO (reading it would block until a writer came) or a folder."""
    kinds = ["small", "deep", "list", "huge_int", "bad_json", "missing", "fifo", "directory"]
    kind = draw(st.sampled_from(kinds))
    path = root / f"config_{kind}.json"
    if kind == "small":
        path.write_text(json.dumps({"columns": 4, "lanes": 2}))
    elif kind == "deep":
        depth = draw(st.sampled_from([1000, 100_000]))
        path.write_text("[" * depth + "]" * depth)
    elif kind == "list":
        path.write_text("[1, 2]")
    elif kind == "huge_int":
        path.write_text('{"columns": ' + "9" * 5000 + "}")
    elif kind == "bad_json":
        path.write_text('{"columns": 4,')
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    return str(path)


@FUZZ
@given(data=st.data())
def test_rtl_command_line(data):
    draw = data.draw
    with workspace() as root:
        # A small default, so that the valid draws elaborate in seconds.
        argv = ["--out", str(root / "out" / "rtl")]
        argv += ["--nmpu-set", "columns=4", "--nmpu-set", "lanes=2", "--sar-set", "columns=4"]
        if draw(st.booleans()):
            argv += [draw(st.sampled_from(["--nmpu-config", "--sar-config"]))]
            argv += [config_file(draw, root)]
        argv += draw(sets("--nmpu-set", NMPU_KEYS)) + draw(sets("--sar-set", SAR_KEYS))
        if draw(st.booleans()):
            argv[1] = output_target(draw, root, None)
        before = snapshot(root / "out")
        status, err = invoke(rtl_main, argv)
        check_outcome(argv, status, err, before, snapshot(root / "out"))


# ------------------------------------------------------------------------------ tools.sim
class ReachedSimulator(Exception):
    """The stub simulator stage: the command line accepted its input."""


SIM_OPTIONS = [
    ("--sim", ["icarus", "verilator", "xcelium", ""]),
    ("--synthetic", None),
    ("--seed", VALUES),
    ("--unit", ["fixed", "fp16", "float"]),
    ("--vectors", VALUES),
    ("--adc-ideal", None),
    ("--waves", None),
    ("--allow-large", None),
    *((name, VALUES) for name in ADC_OPTIONS),
]


@FUZZ
@given(data=st.data())
def test_sim_command_line(data, monkeypatch, good_capture):
    def simulator(*args, **kwargs):
        raise ReachedSimulator

    monkeypatch.setattr("flows.sim_capture.run_tile_capture", simulator)
    monkeypatch.setattr("tb.runner.run_bench", simulator)
    draw = data.draw
    with workspace() as root:
        argv = draw(options(SIM_OPTIONS)) + ["--build-dir", output_target(draw, root, None)]
        if draw(st.booleans()):
            cap = root / "cap.npz"
            cap.write_bytes(good_capture)
            if draw(st.booleans()):  # a damaged capture
                cut = draw(st.integers(0, len(good_capture) - 1))
                cap.write_bytes(good_capture[:cut])
            argv += ["--capture", str(cap)]
        before = snapshot(root / "out")
        try:
            status, err = invoke(sim_main, argv)
        except ReachedSimulator:
            return  # accepted: the simulator stage would run (checked elsewhere)
        check_outcome(argv, status, err, before, snapshot(root / "out"))
