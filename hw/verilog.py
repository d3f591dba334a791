"""The one Verilog writer: every tool and testbench builds the Verilog it simulates or ships here.

``make rtl``, the cocotb runs and the lint/synthesis tests all call
:func:`write_verilog`, so the simulated Verilog is the synthesised Verilog.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring


def to_verilog(component: wiring.Component, name: str) -> str:
    """Convert ``component`` to Verilog with top module ``name`` (ports from its signature)."""
    return verilog.convert(component, name=name, emit_src=False)


def write_verilog(component: wiring.Component, name: str, path) -> Path:
    """Write ``component`` as Verilog module ``name`` to ``path``; returns the path.

    An unchanged file is left alone, so its mtime does not trigger a rebuild.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = to_verilog(component, name)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
