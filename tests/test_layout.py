"""The package layout holds: elaborating hardware loads only the specs, never an analog
simulator or an ML library, and the golden models import nothing but numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("model.analog", "model.flow", "sklearn", "torch", "aihwkit", "cocotb", "scipy")


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout  # fmt: skip
    return set(out.split())


@pytest.mark.parametrize(
    "block", ["nmpu", "sar", "serializer", "tile", "verilog", "lane_unit", "fp16.unit"]
)
def test_hardware_imports_only_specs(block):
    loaded = modules_loaded_by(f"import hw.{block}")
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN))
    assert not bad, f"hw.{block} loads {bad}"


def test_golden_models_import_only_numpy():
    loaded = modules_loaded_by("import model.golden.nmpu, model.golden.sar, model.golden.tile")
    bad = sorted(m for m in loaded if m.split(".")[0] in ("amaranth", *FORBIDDEN))
    bad += sorted(m for m in loaded if m.startswith(FORBIDDEN))
    assert not bad, f"model.golden loads {bad}"
