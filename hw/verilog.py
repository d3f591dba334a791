"""The one Verilog writer: every tool and testbench builds the Verilog it simulates or ships here.

``make rtl``, the cocotb runs and the lint/synthesis tests all call
:func:`write_verilog`, so the simulated Verilog is the synthesised Verilog.

Field aliases are dropped. Amaranth names every field of a layout-typed signal
with an alias wire (``wire [7:0] \\dac[3] ; assign \\dac[3] = dac[31:24];``).
They drive nothing, and synthesis removes them, but Icarus re-evaluates each
alias, copying the whole vector, whenever any bit of that vector changes: at
256 columns the SAR's 256 ``dac`` and 512 payload aliases made Icarus run 40x
slower (200 clocks: 66 s with them, 1.7 s without; ``docs/toolchain.md``).
The ports and every named signal stay, so waveforms still show them; a field
is the documented slice of its port.
"""

from __future__ import annotations

import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from model.files import check_output_path, write_text_atomic

# An alias wire of a layout field: an escaped name holding '.' or '[', declared as a
# wire and driven by exactly one continuous assignment (names from
# amaranth.back.rtlil's emit_signal_fields). Yosys' own names start with '$'.
_ALIAS_DECL = re.compile(r"^  wire (?:signed )?(?:\[\d+:\d+\] )?\\([^$\s]\S*[.\[]\S*) ;\n", re.M)
_ALIAS_ASSIGN = re.compile(r"^  assign \\([^$\s]\S*[.\[]\S*) += [^;]*;\n", re.M)
_ESCAPED_NAME = re.compile(r"\\(\S+)")


def drop_field_aliases(text: str) -> str:
    """``text`` without the layout-field alias wires; raises if one of them is read anywhere."""
    names = set(_ALIAS_DECL.findall(text))
    if not names:
        return text
    assigned = set(_ALIAS_ASSIGN.findall(text))
    if assigned != names:
        raise RuntimeError(f"field aliases without one assignment: {sorted(names ^ assigned)[:5]}")
    text = _ALIAS_DECL.sub("", text)
    text = _ALIAS_ASSIGN.sub("", text)
    still_used = names.intersection(_ESCAPED_NAME.findall(text))
    if still_used:
        raise RuntimeError(f"field aliases are read by the netlist: {sorted(still_used)[:5]}")
    return text


# Yosys makes every ``always @*`` block read a register initialised to 0, so that
# simulators run each block once at time 0. Icarus does not: an initialiser is not an
# event there, and a block whose inputs never change after time 0 never runs (with one
# column, the NMPU's slot-state logic: docs/toolchain.md). Flipping the register in an
# ``initial`` block at the end of the module is an event Icarus sees; synthesis ignores
# it (the register drives only empty ``if`` bodies).
_WAKE_DECL = re.compile(
    r"^  reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) += 0;\n", re.M
)


def wake_combinational_blocks(text: str) -> str:
    """``text`` with each module's time-0 wake-up register flipped once at time 0."""
    out, wakes = [], []
    for line in text.splitlines(keepends=True):
        match = _WAKE_DECL.match(line)
        if match:
            wakes.append(match.group(1))
        if line.startswith("endmodule"):
            out += [f"  initial {w} = 1'h1;\n" for w in wakes]
            wakes = []
        out.append(line)
    return "".join(out)


def to_verilog(component: wiring.Component, name: str) -> str:
    """Convert ``component`` to Verilog with top module ``name`` (ports from its signature)."""
    text = drop_field_aliases(verilog.convert(component, name=name, emit_src=False))
    return wake_combinational_blocks(text)


def port_names(component: wiring.Component) -> list[tuple[str, bool]]:
    """(Verilog name, is an input) of every port :func:`to_verilog` gives ``component``,
    clock and reset first: a signature path joined with ``__`` (``i__payload``)."""
    ports = [("clk", True), ("rst", True)]
    for path, member, _ in component.signature.flatten(component):
        ports.append(("__".join(str(p) for p in path), member.flow == wiring.In))
    return ports


def write_verilog(component: wiring.Component, name: str, path) -> Path:
    """Write ``component`` as Verilog module ``name`` to ``path``; returns the path.

    An unchanged file is left alone, so its mtime does not trigger a rebuild.
    """
    return write_if_changed(path, to_verilog(component, name))


def write_if_changed(path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds it (keeps the mtime); returns the path.

    Written through a temporary file and a rename (``model.files``): a simulator or another
    pytest worker never reads half a file. A ``path`` that is not a regular file (a FIFO, a
    directory) is a ``ValueError``, checked before it is read.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        write_text_atomic(path, text)
    return path
