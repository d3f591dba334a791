"""``make sim`` (tools.sim / flows.sim_capture) around the simulation: build folders, the size
guard, accuracy with the capture's own network, the error PNG, the mismatch report, waves,
progress lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flows import sim_capture
from model.flow import capture
from tb.runner import SUMMARY_FILE, CocotbFailure, RunResult, waves_requested
from tb.stream.progress import Progress, format_seconds
from tests.test_capture import _valid_kwargs
from tools.sim import main as sim_main


def test_build_folders_differ_for_same_file_name(tmp_path):
    a = sim_capture.build_folder(tmp_path / "x" / "cap.npz")
    b = sim_capture.build_folder(tmp_path / "y" / "cap.npz")
    assert a != b and a.parent == b.parent == sim_capture.BUILD_ROOT
    assert a.name.startswith("cap-") and a == sim_capture.build_folder(tmp_path / "x" / "cap.npz")
    assert sim_capture.build_folder(Path("c.npz"), tmp_path).parent == tmp_path


def test_size_guard_is_one_line_exit_2_with_override_named(tmp_path, seed, capsys, monkeypatch):
    kw = _valid_kwargs(seed, vectors=5, columns=8)
    path = capture.save(tmp_path / "big.npz", **kw)
    monkeypatch.setattr(sim_capture, "MAX_VALUES", 39)  # 5 x 1 x 8 = 40 values
    assert sim_main(["--capture", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "big.npz: field 'analog': 5 vectors x 1 phases" in err, err
    assert "--allow-large" in err


def test_accuracy_uses_the_captures_head_or_says_not_available(tmp_path, seed):
    kw = _valid_kwargs(seed)
    cap = capture.load(capture.save(tmp_path / "h.npz", **kw))
    line = sim_capture.accuracy_line(cap, np.rint(cap.reference))
    assert "with the hardware's activations" in line and "head of 2 layer(s)" in line
    del kw["head"]
    bare = capture.load(capture.save(tmp_path / "n.npz", **kw))
    line = sim_capture.accuracy_line(bare, bare.reference)
    assert line == "accuracy: not available (capture has no network head)"


def test_error_plot_writes_a_png(tmp_path, seed):
    err = np.random.default_rng(seed).normal(scale=3, size=(50, 12))
    path = sim_capture.error_plot(err, tmp_path / "e.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_mismatch_reports_summary_and_first_mismatches(tmp_path, seed, monkeypatch):
    """A failing bench: the figures and the first mismatches are reported, then FAIL (1)."""
    kw = _valid_kwargs(seed)
    path = capture.save(tmp_path / "m.npz", **kw)
    errors = [f"activation: vector {v} beat 0 column 3 data: expected 4, got 5" for v in range(12)]

    def failing(capture_path, *, build_dir, **_):
        build_dir.mkdir(parents=True, exist_ok=True)
        fig = {"vectors": 5, "columns": 8, "conversions": 5, "adc_values_checked": 80,
               "activation_values_checked": 50, "adc_mismatches": 0, "cycles": 100,
               "activation_mismatches": 12, "errors": errors, "seconds": 1.0}  # fmt: skip
        (build_dir / SUMMARY_FILE).write_text(json.dumps(fig) + "\n")
        res = RunResult(1, 1, 0.1, 0.2, build_dir / "results.xml")
        raise CocotbFailure("icarus: 1 of 1 cocotb tests failed", res)

    monkeypatch.setattr(sim_capture, "run_tile_capture", failing)
    status, lines = sim_capture.run_capture(
        "icarus", capture.load(path), 1, build_root=tmp_path / "b"
    )
    out = "\n".join(lines) + "\n"
    assert status == 1
    assert "mismatches         : 12 (ADC codes or decisions 0, activations 12)" in out, out
    assert out.count("  mismatch         : activation: vector") == sim_capture.SHOW_MISMATCHES
    assert "vector 0 beat 0 column 3" in out and "RESULT             : FAIL" in out


def test_waves_setting(monkeypatch):
    monkeypatch.delenv("WAVES", raising=False)
    assert waves_requested(True) and not waves_requested(False)
    monkeypatch.setenv("WAVES", "1")
    assert waves_requested(False)
    monkeypatch.setenv("WAVES", "0")
    assert not waves_requested(True)


def test_progress_lines_rate_and_time_left():
    now = [0.0]
    lines: list[str] = []
    p = Progress(100, lines.append, interval=5.0, clock=lambda: now[0])
    now[0] = 2.0
    p.update(10)  # before the interval: silent
    now[0] = 10.0
    p.update(25)
    now[0] = 12.0
    p.update(30)  # within the interval of the last line
    now[0] = 20.0
    p.update(100)  # done: no line
    assert lines == ["progress: 25/100 vectors (25 %), 2.5 vectors/s, about 30 s left"]
    assert format_seconds(75) == "1 min 15 s" and format_seconds(4000) == "1 h 06 min"


def tiny_capture(tmp_path, seed, vectors) -> Path:
    """A 16 -> 8 layer's random arrays through the import (``model.flow.importer``, as
    ``tools.capture import`` does it; 4 lanes, no head)."""
    from model.flow import importer

    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(16, 8))
    x = rng.uniform(-1, 1, size=(vectors, 16))
    src = tmp_path / "src.npz"
    np.savez(src, analog_mac=x @ w, ideal_mac=x @ w)
    imported = importer.import_arrays(
        importer.read_source(src), importer.ImportOptions(lanes=4), provenance={"source": str(src)}
    )
    return capture.save(tmp_path / "tiny.npz", **imported.capture)


@pytest.mark.cocotb
def test_waves_file_written_and_named(tmp_path, seed, capsys):
    """make sim WAVES=1 on a tiny imported capture: an FST file, its path printed."""
    cap = tiny_capture(tmp_path, seed, 12)
    argv = ["--capture", str(cap), "--waves", "--build-dir", str(tmp_path / "b")]
    assert sim_main(argv) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("waveform"))
    fst = Path(line.split(":", 1)[1].split()[0])
    assert fst.suffix == ".fst" and fst.stat().st_size > 1000 and fst.is_relative_to(tmp_path)
    assert "\naccuracy: not available (capture has no network head)\n" in out


def test_unit_conflicts_with_synthetic(capsys):
    assert sim_main(["--synthetic", "--unit", "fp16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--unit" in err, err


@pytest.mark.cocotb
def test_unit_fp16_runs_the_fp16_tile_in_its_own_build_folder(tmp_path, seed, capsys):
    """make sim UNIT=fp16: the FP16 baseline in the tile, bit-exact with its golden chain,
    built beside (not over) the fixed-point tile of the same capture."""
    cap = tiny_capture(tmp_path, seed, 10)
    assert sim_main(["--capture", str(cap), "--unit", "fp16", "--build-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "post-processing    : FP16 baseline unit" in out and "mismatches         : 0" in out
    assert "RESULT             : PASS" in out
    fixed, fp16 = (sim_capture.build_folder(cap, tmp_path, u) for u in ("fixed", "fp16"))
    assert fp16 != fixed and f"build folder {fp16}" in out and (fp16 / "tile.v").exists()
    assert not fixed.exists(), "the FP16 run must not build in the fixed-point folder"


def test_front_end_gain_and_compression_travel_in_captures_and_options(tmp_path, seed, capsys):
    """The study's per-column gain and compression terms are valid capture provenance, and
    a bad value is one line naming the key, before any build."""
    kw = _valid_kwargs(seed)
    fe = {"mismatch": 0.01, "offset": 0.2, "noise": 0.1, "seed": 3, "gain": 0.3, "compression": 1.0}
    kw["provenance"] = {**kw["provenance"], "adc_front_end": fe}
    path = capture.save(tmp_path / "gain.npz", **kw)
    assert capture.load(path).adc_front_end == fe
    assert sim_main(["--capture", str(path), "--adc-gain", "-1", "--adc-seed", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gain" in err, err


class Built(Exception):
    """Raised by a stand-in for the simulator build: the command got past its checks."""


def _no_build(*args, **kwargs):
    raise Built


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--synthetic", "--vectors", "0"], "--vectors"),
        (["--synthetic", "--vectors", "-1"], "--vectors"),
        (["--synthetic", "--vectors", str(10**30)], "--vectors"),
        (["--synthetic", "--vectors", "nan"], "--vectors"),
        (["--synthetic", "--seed", "-1"], "--seed"),
        (["--synthetic", "--seed", str(2**32)], "--seed"),
        (["--seed", "inf"], "--seed"),
    ],
)
def test_numeric_options_are_one_line_before_any_build(argv, option, capsys, monkeypatch):
    """issue 18: ``--vectors 0`` built for a minute, then failed with a traceback."""
    from flows import sim_synthetic

    monkeypatch.setattr(sim_synthetic, "run_synthetic", _no_build)
    monkeypatch.setattr(sim_capture, "run_tile_capture", _no_build)
    with pytest.raises(SystemExit) as exit_:
        sim_main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    assert f"argument {option}: must be an integer in [" in err and "Traceback" not in err


def _small_capture(tmp_path, seed) -> Path:
    return capture.save(tmp_path / "hw.npz", **_valid_kwargs(seed, vectors=2, columns=8))


def test_capture_tile_above_hardware_limit_is_refused_before_any_build(
    tmp_path, seed, capsys, monkeypatch
):
    """The capture's tile goes through the hardware size rule (docs/nmpu.md, "Hardware
    size"): above the limit, one line naming the file, the estimate and --allow-large;
    nothing built, no build folder."""
    from model.golden import config

    path = _small_capture(tmp_path, seed)
    monkeypatch.setattr(config, "MAX_HARDWARE_BITS", 100)
    monkeypatch.setattr(sim_capture, "run_tile_capture", _no_build)
    build = tmp_path / "b"
    assert sim_main(["--capture", str(path), "--build-dir", str(build)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path}: TileConfig (8 columns, 4 lanes, 8 SAR steps): estimated hardware size" in err
    assert "above the limit of 100" in err and "--allow-large" in err
    assert not build.exists()
    # --allow-large: a warning line with the estimate, then the build.
    with pytest.raises(Built):
        sim_main(["--capture", str(path), "--build-dir", str(build), "--allow-large"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ") and "--allow-large" in err, err


def test_capture_tile_near_hardware_limit_warns(tmp_path, seed, capsys, monkeypatch):
    from model.golden import config

    path = _small_capture(tmp_path, seed)
    bits = capture.load(path).tile_config.hardware_bits
    monkeypatch.setattr(config, "WARN_HARDWARE_BITS", bits - 1)
    monkeypatch.setattr(sim_capture, "run_tile_capture", _no_build)
    with pytest.raises(Built):
        sim_main(["--capture", str(path), "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"estimated hardware size {bits:,} bits" in err, err


def test_synthetic_run_checks_vectors_before_any_build(monkeypatch):
    """The library behind --synthetic refuses ``vectors < 1`` itself, before building."""
    from flows import sim_synthetic

    with pytest.raises(ValueError, match="vectors must be a positive integer, not 0"):
        sim_synthetic.run_synthetic("icarus", 1, 0)
