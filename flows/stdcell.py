"""Standard-cell figures of one post-processing unit: OSU 0.18 um cells, Yosys and OpenSTA
(DESIGN 8, ``docs/ppa.md``).

:func:`map_cells` maps a unit's Verilog (``hw.verilog.write_verilog``) to Debian's
``qflow-tech-osu018`` library with Yosys (:data:`MAP_SCRIPT`: ``synth`` keeping the
hierarchy, ``dfflibmap -liberty``, ``abc -liberty -D`` with a clock target of
:data:`ABC_TARGET_PS` and buffering of high-fanout nets, :data:`ABC_CONSTR`), reads the
area of every module from ``stat -liberty`` (the parameter store ``<top>.banks`` apart:
``storage_um2``; the rest is the datapath, ``logic_um2``) and writes the flattened
gate-level netlist, its ports as in the RTL, so that it drops into the RTL's cocotb bench
(``flows.gls``).

:func:`static_timing` runs OpenSTA (Debian's ``opensta``, ``sta``) at the library's
typical corner (the only one the package ships): the worst register-to-register (and
port) path with zero input/output delay and an ideal clock gives ``fmax_mhz``; the power
is reported at that clock, with OpenSTA's default activity (0.1 transitions per clock on
the inputs, propagated) and, when given, the per-net activity a gate-level simulation
counted (:func:`activity_tcl`). No wire-load model, placement or clock tree: the area is
the cells' area and the power the cells' internal, switching (pin capacitance only) and
leakage power.

OpenSTA 2.0.17's ``set_power_activity -pins`` is broken (its Tcl calls an undefined
``get_pins_error`` and reads an unset variable), so :func:`activity_tcl` calls the command
under it, ``sta::set_power_pin_activity``, on each net's driving cell pin, and
``set_power_activity -input_ports`` on the input ports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from flows.synthesis import yosys_exe

#: Where Debian's qflow-tech-osu018 installs the OSU 0.18 um library (``dpkg -L``).
LIBRARY_DIR = Path("/usr/share/qflow/tech/osu018")
LIBERTY = LIBRARY_DIR / "osu018_stdcells.lib"
CELL_MODELS = LIBRARY_DIR / "osu018_stdcells.v"
LIBRARY = "osu018_stdcells"
#: ABC's delay target (ps): the same for both units, tighter than either achieves, so ABC
#: maps for delay rather than area alone.
ABC_TARGET_PS = 5000
#: ABC's timing constraints (``-constr``): what drives the inputs of each mapped block and
#: the load (pF, the library's unit) on its outputs. With them ABC's script ends with
#: ``buffer; upsize; dnsize``: high-fanout nets (the pipeline's stall enable reaches every
#: register) get buffer trees, as any physical flow would give them. Without, one NAND2X1
#: drove ~2,000 loads at 16 columns x 4 lanes and OpenSTA found a 24 ns path (29.5 MHz).
ABC_CONSTR = "set_driving_cell INVX1\nset_load 0.01\n"
#: Yosys script: hierarchy kept through mapping (the parameter store's area is its module's),
#: then flattened, nets split to bits and renamed ``_N_`` (ports keep their names and widths).
MAP_SCRIPT = (
    "read_verilog {verilog}; synth -top {top}; dfflibmap -liberty {lib}; "
    "abc -liberty {lib} -D {target} -constr {constr}; opt_clean; "
    "tee -q -o {stat} stat -liberty {lib}; "
    "flatten; splitnets; rename -hide w:* c:*; rename -enumerate; opt_clean; "
    "tee -q -o {flat_stat} stat -liberty {lib}; write_verilog -noattr {netlist}"
)
#: A clock period (ns) loose enough that every path meets it: the first timing pass.
LOOSE_PERIOD_NS = 1000.0


def check_library() -> None:
    """Raise a clear error when the library or OpenSTA is missing (``make deps`` installs them)."""
    missing = [str(p) for p in (LIBERTY, CELL_MODELS) if not p.is_file()]
    if shutil.which("sta") is None:
        missing.append("sta (Debian's opensta)")
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: run `make deps` (installs qflow-tech-osu018 and "
            "opensta with apt)"
        )


def output_pins() -> dict[str, list[str]]:
    """Each library cell's output pins, from the Liberty file."""
    text = LIBERTY.read_text()
    out: dict[str, list[str]] = {}
    for cell, body in re.findall(r"cell\s*\((\w+)\)\s*\{(.*?)(?=\ncell\s*\(|\Z)", text, re.S):
        pins = re.findall(r"pin\s*\((\w+)\)\s*\{\s*direction\s*:\s*output", body)
        out[cell] = pins
    return out


def map_cells(verilog: Path, top: str, *, target_ps: int = ABC_TARGET_PS) -> dict:
    """Map ``verilog`` (top module ``top``) to OSU 0.18 um cells; returns the areas (um^2),
    cell and flip-flop counts and the netlist's path (``<verilog>.osu.v``)."""
    check_library()
    stem = verilog.with_suffix("")
    stat, flat_stat = Path(f"{stem}.osu.stat.txt"), Path(f"{stem}.osu.flat.stat.txt")
    netlist, constr = Path(f"{stem}.osu.v"), Path(f"{stem}.abc.constr")
    constr.write_text(ABC_CONSTR)
    script = MAP_SCRIPT.format(
        verilog=verilog.name, top=top, lib=LIBERTY, target=target_ps, constr=constr.name,
        stat=stat.name, flat_stat=flat_stat.name, netlist=netlist.name,
    )  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(
        [yosys_exe(), "-q", "-p", script], cwd=verilog.parent, capture_output=True, text=True
    )
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"yosys (OSU018) failed on {verilog}:\n{log}")
    per_module = {
        name: float(area)
        for name, area in re.findall(r"Chip area for module '\\(\S+)': ([\d.]+)", stat.read_text())
    }
    flat = flat_stat.read_text()
    total = float(re.search(r"Chip area for (?:top )?module '\\\S+': ([\d.]+)", flat).group(1))
    cell_counts = {
        c: int(n) for c, n in re.findall(r"^\s+(\w+X\d|DFF\w+|LATCH)\s+(\d+)$", flat, re.M)
    }
    storage = per_module.get(f"{top}.banks")
    if storage is None:
        raise RuntimeError(f"{verilog}: no module {top}.banks (the parameter store) after mapping")
    return {
        "area_um2": round(total, 1),
        "storage_um2": round(storage, 1),
        "logic_um2": round(total - storage, 1),
        "cells": int(re.search(r"Number of cells:\s+(\d+)", flat).group(1)),
        "flip_flops": sum(n for c, n in cell_counts.items() if c.startswith("DFF")),
        "cell_counts": cell_counts,
        "abc_target_ps": target_ps,
        "netlist": str(netlist),
        "map_seconds": round(time.perf_counter() - t0, 1),
    }


_POWER_ROW = re.compile(r"^(Sequential|Combinational|Total)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", re.M)


def _powers(text: str) -> list[dict]:
    """Every ``report_power`` table in ``text``: per group, internal/switching/leakage/total mW."""
    tables, current = [], {}
    for group, *values in _POWER_ROW.findall(text):
        current[group.lower()] = [float(v) * 1e3 for v in values]
        if group == "Total":
            tables.append(current)
            current = {}
    return tables


def static_timing(netlist: Path, top: str, *, activity_file: Path | None = None) -> dict:
    """OpenSTA on ``netlist``: worst path, Fmax, and the power at Fmax with OpenSTA's default
    activity and (``activity_file``, :func:`activity_tcl`) with a simulation's activity."""
    check_library()
    netlist = Path(netlist)
    loose = LOOSE_PERIOD_NS
    constrain = (
        "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]\n"
        "set_output_delay 0 -clock clk [all_outputs]\n"
    )
    script = (
        f"read_liberty {LIBERTY}\nread_verilog {netlist.name}\nlink_design {top}\n"
        f"create_clock -name clk -period {loose} [get_ports clk]\n{constrain}"
        "set ws [sta::worst_slack -max]\n"
        f"set period [expr {loose} - $ws]\n"
        'puts "WORST_PATH_NS $period"\n'
        "report_checks -path_delay max -digits 3\n"
        "create_clock -name clk -period $period [get_ports clk]\n"
        f"{constrain}"
        'puts "POWER default"\nreport_power\n'
    )
    if activity_file is not None:
        script += f'source {Path(activity_file).resolve()}\nputs "POWER gls"\nreport_power\n'
    tcl = netlist.with_suffix(".sta.tcl")
    tcl.write_text(script)
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["sta", "-no_splash", "-exit", tcl.name], cwd=netlist.parent, capture_output=True,
        text=True,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    netlist.with_suffix(".sta.log").write_text(log)
    found = re.search(r"WORST_PATH_NS (\S+)", log)
    if proc.returncode != 0 or found is None or re.search(r"^Error", log, re.M):
        raise RuntimeError(f"OpenSTA failed on {netlist}:\n{log[-3000:]}")
    period = float(found.group(1))
    path = re.search(r"Startpoint: (\S+).*?Endpoint: (\S+)", log, re.S)
    tables = _powers(log)
    out = {
        "corner": "typical",
        "worst_path_ns": round(period, 3),
        "fmax_mhz": round(1e3 / period, 1),
        "worst_path": {"from": path.group(1), "to": path.group(2)} if path else None,
        "power_default": _rounded(tables[0]),
        "sta_seconds": round(time.perf_counter() - t0, 1),
    }
    if activity_file is not None:
        out["power_gls"] = _rounded(tables[1])
    return out


def _rounded(table: dict) -> dict:
    keys = ("internal_mw", "switching_mw", "leakage_mw", "total_mw")
    return {
        g: dict(zip(keys, (round(v, 5) for v in vals), strict=True)) for g, vals in table.items()
    }


# ------------------------------------------------------------------ netlist drivers
_INSTANCE = re.compile(r"^  (\w+) (\S+) \((.*?)\n  \);", re.M | re.S)
_CONNECTION = re.compile(r"\.(\w+)\(([^()]*)\)")


def net_key(expr: str) -> str:
    r"""A netlist net expression as one name: ``\o__payload [3]`` and ``o__payload[3]`` ->
    ``o__payload[3]``."""
    return expr.strip().lstrip("\\").replace(" ", "")


def driver_pins(netlist: Path) -> dict[str, str]:
    """Net (:func:`net_key`) -> ``instance/pin`` of the cell output driving it."""
    outputs = output_pins()
    drivers = {}
    for cell, inst, body in _INSTANCE.findall(Path(netlist).read_text()):
        for pin, net in _CONNECTION.findall(body):
            if pin in outputs.get(cell, ()) and net.strip():
                drivers[net_key(net)] = f"{inst.lstrip(chr(92))}/{pin}"
    return drivers


def activity_tcl(rates: dict[str, tuple[float, float]], netlist: Path, inputs: set[str]) -> str:
    """OpenSTA commands setting each net's (activity per clock, duty) from ``rates``: on the
    cell pin driving it, or on the input port (bit names ``port[i]``) it is.
    The clock is left to its ``create_clock``."""
    drivers = driver_pins(netlist)
    lines = []
    for net, (act, duty) in sorted(rates.items()):
        port = net.split("[")[0]
        if port == "clk":
            continue
        if net in drivers:
            lines.append(
                f"sta::set_power_pin_activity [get_pins {{{drivers[net]}}}] {act:.6g} {duty:.6g}"
            )
        elif port in inputs:
            lines.append(
                f"set_power_activity -input_ports [get_ports {{{net}}}] "
                f"-activity {act:.6g} -duty {duty:.6g}"
            )
    return "\n".join(lines) + "\n"
