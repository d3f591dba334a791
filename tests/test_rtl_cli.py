"""Hostile input to the command lines that elaborate hardware (issue 18): ``tools.rtl`` config
files and ``--*-set`` values, the hardware size rule (docs/nmpu.md, "Hardware size") and the
numeric options of ``tools.ppa``, ``tools.benchmark`` and ``tools.accuracy``.

Every case is one line on stderr naming the file, key or option, exit status 2, no traceback,
nothing written, and no hardware elaborated: ``flows.rtl.write_blocks`` is replaced by a
stand-in that fails the test if reached, or the command runs in a subprocess with a timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows import rtl as flows_rtl
from model.golden import config
from model.golden.tile import TileConfig
from model.nmpu import NMPUConfig
from model.sar import SARConfig
from tools.rtl import main as rtl_main

REPO = Path(__file__).resolve().parent.parent


class Built(Exception):
    """The stand-in for ``write_blocks`` was reached: the command got past its checks."""


@pytest.fixture
def no_build(monkeypatch):
    """``write_blocks`` records its call and raises :class:`Built` (``tools.rtl`` imports it
    at call time)."""
    calls = []

    def fake(out, nmpu_cfg, sar_cfg, log=None):
        calls.append((nmpu_cfg, sar_cfg))
        raise Built

    monkeypatch.setattr(flows_rtl, "write_blocks", fake)
    return calls


def one_line_error(capsys, status: int) -> str:
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


DEEP = 100_000
BAD_FILES = {
    # name: (file text or bytes, what the line must say)
    "deep_list": ("[" * DEEP + "]" * DEEP, "nested too deeply"),
    "deep_object": ('{"a":' * DEEP + "1" + "}" * DEEP, "nested too deeply"),
    "top_level_list": ("[1, 2]", "top level must be an object, not list"),
    "top_level_string": ('"lanes"', "top level must be an object, not str"),
    "duplicate_key": ('{"lanes": 16, "lanes": 32}', "key 'lanes' appears more than once"),
    "unknown_key": ('{"colums": 8}', "NMPUConfig: unknown parameter(s) ['colums']"),
    "bool_for_int": ('{"lanes": true}', "NMPUConfig.lanes must be an integer, not True"),
    "float_for_int": ('{"lanes": 16.0}', "NMPUConfig.lanes must be an integer, not 16.0"),
    "string_for_int": ('{"lanes": "16"}', "NMPUConfig.lanes must be an integer, not '16'"),
    "list_for_int": ('{"lanes": [16]}', "NMPUConfig.lanes must be an integer, not [16]"),
    "null_for_int": ('{"lanes": null}', "NMPUConfig.lanes must be an integer, not None"),
    "int_for_bool": ('{"bn": 1}', "NMPUConfig.bn must be a bool, not 1"),
    "huge_int": (f'{{"columns": {10**100}}}', "NMPUConfig.columns must be in [1, 4096]"),
    "int_of_5000_digits": ('{"columns": ' + "9" * 5000 + "}", "(4300 digits)"),
    "int_for_list": ('{"phase_shifts": 5}', "NMPUConfig.phase_shifts must be a list"),
    "huge_format": ('{"scale_fmt": "Q(100000000,1)"}', "NMPUConfig.scale_fmt Q(100000000,1)"),
    "huge_fraction": ('{"offset_fmt": "Q(-999999999,1000000001)"}', "NMPUConfig.offset_fmt"),
    "not_utf8": (b"\xff\xfe{", "can't decode"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_nmpu_config_file_is_one_line(name, tmp_path, capsys, no_build):
    text, says = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    err = one_line_error(capsys, rtl_main(["--out", str(out), "--nmpu-config", str(path)]))
    assert says in err, err
    if not says.startswith("NMPUConfig"):  # a fault of the file, not of a field: names it
        assert str(path) in err, err
    assert not no_build and not out.exists()


def test_deep_sar_config_file_is_one_line(tmp_path, capsys, no_build):
    path = tmp_path / "sar.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    err = one_line_error(capsys, rtl_main(["--out", str(tmp_path), "--sar-config", str(path)]))
    assert f"sar config file {path}: nested too deeply" in err and not no_build


@pytest.mark.parametrize(
    "option, says",
    [
        (["--nmpu-set", "lanes=" + "[" * DEEP], "--nmpu-set lanes: nested too deeply"),
        (["--nmpu-set", "lanes=" + "1" * 5000], "--nmpu-set lanes: "),
        (["--nmpu-set", "phase_signs=1"], "NMPUConfig.phase_signs must be a list of integers"),
        (["--sar-set", "weights=5"], "SARConfig.weights must be a sequence of integers, not 5"),
        (["--sar-set", "columns=1e999"], "SARConfig.columns must be an integer, not inf"),
        (["--nmpu-set", "columns"], "--nmpu-set takes key=value, not 'columns'"),
    ],
)
def test_bad_set_values_are_one_line(option, says, tmp_path, capsys, no_build):
    err = one_line_error(capsys, rtl_main(["--out", str(tmp_path / "o"), *option]))
    assert says in err and not no_build, err


@pytest.mark.parametrize(
    "option, says",
    [
        (
            ["--nmpu-set", "columns=4096", "--nmpu-set", "lanes=4096"],
            "NMPUConfig (4096 columns, 4096 lanes): estimated hardware size 2,273,280 bits",
        ),
        (  # the correction lookup grows as 2**steps (hw/sar.py)
            ["--sar-set", "columns=16", "--sar-set", "steps=16", "--sar-set", "out_width=16"],
            "SARConfig (16 columns, 16 SAR steps): estimated hardware size",
        ),
        (
            [*("--sar-set", "columns=4096", "--nmpu-set", "columns=4096")],
            "TileConfig (4096 columns, 64 lanes, 8 SAR steps): estimated hardware size",
        ),
    ],
)
def test_hardware_above_the_limit_is_refused_before_elaboration(
    option, says, tmp_path, capsys, no_build
):
    """issue 18: 4096 columns x 4096 lanes passed validation and elaborated for minutes."""
    err = one_line_error(capsys, rtl_main(["--out", str(tmp_path / "o"), *option]))
    assert says in err and f"above the limit of {config.MAX_HARDWARE_BITS:,}" in err, err
    assert "pass --allow-large" in err and not no_build


def test_allow_large_builds_with_a_warning(tmp_path, capsys, no_build):
    argv = ["--out", str(tmp_path), "--nmpu-set", "columns=4096", "--nmpu-set", "lanes=4096"]
    with pytest.raises(Built):
        rtl_main([*argv, "--allow-large"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: NMPUConfig (4096 columns"), err
    assert len(no_build) == 1


def test_paper_configuration_passes_silently_and_large_lanes_warn(tmp_path, capsys, no_build):
    """The paper's tile (the default) is far below the limit: no warning. 256 lanes (the
    network's ``--lanes 256,10``) is above half of it: one warning line with the estimate."""
    with pytest.raises(Built):
        rtl_main(["--out", str(tmp_path)])
    assert capsys.readouterr().err == ""
    with pytest.raises(Built):
        rtl_main(["--out", str(tmp_path), "--nmpu-set", "lanes=256"])
    err = capsys.readouterr().err
    bits = TileConfig(SARConfig(), NMPUConfig(lanes=256)).hardware_bits
    assert err.count("\n") == 1 and f"estimated hardware size {bits:,} bits, 71 %" in err, err


def test_size_estimates_of_the_documented_configurations():
    """The figures docs/nmpu.md quotes, and the limit's headroom over the paper's tile."""
    paper = TileConfig(SARConfig(), NMPUConfig())
    assert NMPUConfig().hardware_bits == 256 * 104 + 64 * 451 == 55_488
    assert SARConfig().hardware_bits == 43_008 and paper.hardware_bits == 100_544
    headroom = config.MAX_HARDWARE_BITS / paper.hardware_bits
    assert headroom > 2.5, headroom
    assert config.check_hardware_size(paper) is None
    # Linear in columns and lanes (a closed form, no Amaranth).
    small, wide = NMPUConfig(columns=16, lanes=4), NMPUConfig(columns=32, lanes=8)
    assert wide.hardware_bits == 2 * small.hardware_bits


def run_tool(module: str, *argv: str) -> subprocess.CompletedProcess:
    """``python -m tools.<module> argv`` with a timeout: a refusal comes in seconds."""
    return subprocess.run(
        [sys.executable, "-m", f"tools.{module}", *argv],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "module, argv, says",
    [
        ("ppa", ["--columns", "0"], "argument --columns: must be an integer in [1, 4096]"),
        ("ppa", ["--lanes", "-64"], "argument --lanes: must be an integer in [1, 4096]"),
        ("ppa", ["--lanes", "3"], "NMPUConfig.lanes (3) must divide columns (256)"),
        (
            "ppa",
            ["--columns", "4096", "--lanes", "4096"],
            "NMPUConfig (4096 columns, 4096 lanes): estimated hardware size",
        ),
        ("benchmark", ["--repeats", "0"], "argument --repeats: must be an integer in [1, 100]"),
        ("benchmark", ["--vectors", "-1"], "argument --vectors: must be an integer"),
        ("benchmark", ["--tile-vectors", str(10**30)], "argument --tile-vectors: must be"),
        ("benchmark", ["--sar-conversions", "nan"], "argument --sar-conversions: must be"),
        ("accuracy", ["--seed", "-1"], "argument --seed: must be an integer in [0, 4294967295]"),
        ("accuracy", ["README.md"], "README.md: not a capture"),
    ],
)
def test_tool_options_are_one_line_before_any_work(module, argv, says, tmp_path):
    """Before the fix: ``tools.ppa --lanes 3`` was a traceback, ``--columns 4096 --lanes
    4096`` synthesised for hours, ``tools.benchmark --repeats 0`` ran every benchmark first,
    ``tools.accuracy`` took a negative seed."""
    out = ["--rtl", "icarus"] if module == "accuracy" else ["--out", str(tmp_path / "out.json")]
    proc = run_tool(module, *out, *argv)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert says in proc.stderr and proc.stdout == "", proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_written_configs_still_round_trip_through_the_strict_reader(tmp_path, capsys, no_build):
    """A config file ``make rtl`` writes (``to_dict``, JSON) reads back through the duplicate-
    checking parser unchanged."""
    cfg = NMPUConfig(columns=32, lanes=8, phases=2, phase_shifts=(4, 0), rounding="half_even")
    path = tmp_path / "nmpu.json"
    path.write_text(json.dumps(cfg.to_dict(), indent=2))
    with pytest.raises(Built):
        rtl_main(["--out", str(tmp_path), "--nmpu-config", str(path)])
    assert no_build[0][0] == cfg


def test_accuracy_rtl_applies_the_hardware_size_rule(tmp_path, seed, capsys, monkeypatch):
    """``tools.accuracy --rtl`` runs each capture's tile on the RTL, as ``make sim`` does, so
    the same rules hold (docs/nmpu.md, "Hardware size"): a tile above the limit is one line
    naming the capture and its estimate, exit 2, before any row or build; ``--allow-large``
    builds with a warning line; without ``--rtl`` nothing is elaborated and no rule applies.
    Before the fix the tile was built whatever its size."""
    from flows import accuracy as flows_accuracy
    from model.flow import capture
    from tests.test_capture import _valid_kwargs
    from tools.accuracy import main as accuracy_main

    def no_rtl(*args, **kwargs):
        raise Built

    path = capture.save(tmp_path / "hw.npz", **_valid_kwargs(seed, vectors=2, columns=8))
    monkeypatch.setattr(config, "MAX_HARDWARE_BITS", 100)
    monkeypatch.setattr(flows_accuracy, "rtl_notes", no_rtl)
    err = one_line_error(capsys, accuracy_main(["--rtl", "icarus", str(path)]))
    assert f"{path}: TileConfig (8 columns, 4 lanes, 8 SAR steps): estimated hardware" in err
    assert "above the limit of 100" in err and "--allow-large" in err
    with pytest.raises(Built):
        accuracy_main(["--rtl", "icarus", "--allow-large", str(path)])
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("warning: ") and "hw.npz" in err, err
    assert accuracy_main([str(path)]) == 0  # the golden chain alone: no hardware built
    out, err = capsys.readouterr()
    assert err == "" and "| hw.npz | 2 |" in out, out + err
