"""The FP16 unit's Verilog (and the standalone operators') is lint-clean under Verilator -Wall
with the project's documented waivers (``tb/runner.py``), like the NMPU's (``test_rtl.py``)."""

from __future__ import annotations

import pytest

from hw.fp16.ops import FP16Add, FP16Mul
from hw.fp16.unit import FP16Unit
from hw.verilog import write_verilog
from model.nmpu import NMPUConfig
from tests.test_rtl import lint

COMPONENTS = {
    "unit_phases2": lambda: FP16Unit(NMPUConfig(columns=16, lanes=4, phases=2)),
    "unit_slices_no_bn": lambda: FP16Unit(
        NMPUConfig(columns=3, lanes=1, phases=2, phase_shifts=(4, 0), bn=False, activation="none")
    ),
    "add": FP16Add,
    "mul": FP16Mul,
}


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_fp16_verilog_is_lint_clean(name, build_dir):
    verilog = write_verilog(COMPONENTS[name](), "top", build_dir / "top.v")
    out = lint(verilog, "top")
    assert "%Warning" not in out and "%Error" not in out, out[-4000:]
