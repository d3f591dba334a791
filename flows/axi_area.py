"""Area the AXI wrappers add (``hw.axi.nmpu_axi.NMPUAxi``, ``hw.axi.tile_axi.TileAxi``), in
``make ppa``'s Yosys generic CMOS flow (``flows.synthesis``: logic transistors +
``FF_TRANSISTORS`` per flip-flop + ``MEMORY_BIT_TRANSISTORS`` per parameter-memory bit).

    python -m tools.ppa --axi-overhead [--columns 256 --lanes 64] [--yosys EXE]

Flattening the whole wrapped unit does not finish at the paper's size (Debian's Yosys 0.23
spends most of its time in ``share`` on the flattened wrapper: 47 % of 50 s at 32 x 8,
4.9x longer at 64 x 16 where the bare NMPU takes 3x), so each piece is synthesised alone,
flattened, with the same script (:data:`flows.synthesis.GENERIC_SYNTH`):

* ``nmpu``: ``NMPU(cfg)``, the standalone unit (the baseline);
* ``nmpu_readback``: ``NMPU(cfg, readback=True)``, the unit **as the wrappers instantiate
  it**: a read-back multiplexer per field from the datapath's read port to the addressed
  column, and the stall of the input in a read-back clock (``hw.param_store``). Both are
  wrapper overhead (a second read port, the former design, would be counted too);
* ``nmpu_axi_shell``: ``NMPUAxi`` with its NMPU a blackbox (AXI4-Lite slave, register block,
  counters, stream framer, flush and status logic);
* ``tile_rest``: ``TilePeriphery`` with its NMPU a blackbox (SAR and serializer; the same
  with and without ``readback``, which only passes the NMPU's ``rdata`` through);
* ``tile_axi_shell``: ``TileAxi`` with its tile a blackbox.

Then ``nmpu_axi = nmpu_axi_shell + nmpu_readback``, ``tile = tile_rest + nmpu``,
``tile_axi = tile_axi_shell + tile_rest + nmpu_readback``. The memories are counted from
their bits, as in ``flows.synthesis.measure``; a second read port costs
:data:`EXTRA_READ_PORT_TRANSISTORS` more per bit (10T instead of 8T), read from the
``RD_PORTS`` of the ``$mem_v2`` cells Yosys keeps. Cross-boundary optimisation is lost at the
blackbox ports (the sums can only be slightly larger than a flat run): at 32 x 8 the
hierarchical ``nmpu_axi`` is within 0.5 % of the flat run (docs/integration.md, "Figures").

Why here: it runs Yosys on the RTL (``flows.synthesis``); ``tools.ppa --axi-overhead`` is
the command line. Writes ``<out>/axi_area.json``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from flows.synthesis import (
    FF_TRANSISTORS,
    GENERIC_SYNTH,
    MEMORY_BIT_TRANSISTORS,
    storage_bits,
    yosys_exe,
)
from hw.verilog import write_verilog
from model.files import write_text_atomic
from model.nmpu import NMPUConfig

#: Transistors per memory bit for each read port beyond the first: the read stack of an 8T
#: register-file cell (one access and one driver transistor on its own read bit line), so
#: a one-write two-read cell is 10T.
EXTRA_READ_PORT_TRANSISTORS = 2
#: Issue 21's goal: the wrapper adds at most this much area (per cent) at the paper's size.
GOAL_PERCENT = 5.0

_CELL_OLD = re.compile(r"^\s+(\S+)\s+(\d+)\s*$", re.M)  # Yosys 0.23: "  $_NOT_   282"
_CELL_NEW = re.compile(r"^\s+(\d+)\s+(\S+)\s*$", re.M)  # newer: "  282   $_NOT_"
_NOT_CELLS = {"wires", "ports", "cells", "memories", "processes"}  # newer: "1218 wires"


def parse_stat(text: str, top: str) -> dict:
    """Cell counts and the transistor estimate of module ``top`` in ``stat -tech cmos``
    output, in Yosys 0.23's format (name, count) or the newer one (count, name). Returns
    ``{"cells": {type: count}, "logic_transistors": int}``."""
    start = text.index(f"=== {top} ===")
    end = text.find("=== ", start + len(top) + 8)
    section = text[start : end if end > 0 else len(text)]
    cells = {name: int(count) for name, count in _CELL_OLD.findall(section)}
    for count, name in _CELL_NEW.findall(section):
        if name not in _NOT_CELLS:
            cells[name] = int(count)
    found = re.search(r"Estimated number of transistors:\s+(\d+)", section)
    if found is None:
        raise ValueError(f"no transistor estimate for {top} in the stat output")
    return {"cells": cells, "logic_transistors": int(found.group(1))}


def piece_transistors(logic: int, flip_flops: int, memory_bits: int, read_ports: int) -> int:
    """Transistors of one synthesised piece: logic + flip-flops + memories, each memory bit
    ``MEMORY_BIT_TRANSISTORS`` with one read port and ``EXTRA_READ_PORT_TRANSISTORS`` more
    per further read port (``read_ports`` = read ports of the memories, all alike)."""
    per_bit = MEMORY_BIT_TRANSISTORS
    if memory_bits:
        if read_ports < 1:
            raise ValueError("memories without a read port")
        per_bit += EXTRA_READ_PORT_TRANSISTORS * (read_ports - 1)
    return logic + FF_TRANSISTORS * flip_flops + per_bit * memory_bits


def overhead(base: int, wrapped: int) -> dict:
    """``wrapped - base`` in transistors and per cent of ``base``."""
    return {
        "base_transistors": base,
        "wrapped_transistors": wrapped,
        "overhead_transistors": wrapped - base,
        "overhead_percent": round(100.0 * (wrapped - base) / base, 2),
    }


def synth_piece(
    verilog: Path, top: str, *, blackbox: str | None = None, yosys: str | None = None
) -> dict:
    """Flattened generic synthesis of ``verilog`` (``blackbox``: a module kept as one cell);
    returns the cell counts, flip-flops, logic transistors, the ``$mem_v2`` cells by read
    ports, and the wall time."""
    exe = yosys or yosys_exe()
    stat, ports = verilog.with_suffix(".stat.txt"), verilog.with_suffix(".ports.txt")
    bb = f"hierarchy -top {top}; blackbox {blackbox}; " if blackbox else ""
    count_ports = "; ".join(
        f"tee -q -a {ports.name} select -count t:$mem_v2 r:RD_PORTS={n} %i" for n in (1, 2, 3)
    )
    script = (
        f"read_verilog {verilog.name}; {bb}{GENERIC_SYNTH.format(top=top)}; "
        f"tee -q -o {stat.name} stat -tech cmos; {count_ports}"
    )
    ports.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [exe, "-q", "-p", script], cwd=verilog.parent, capture_output=True, text=True
    )
    seconds = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed on {verilog}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    parsed = parse_stat(stat.read_text(), top)
    cells = parsed["cells"]
    if blackbox and cells.get(blackbox) != 1:
        raise RuntimeError(f"{verilog}: blackbox {blackbox} is not one cell of {top}: {cells}")
    by_ports = [int(n) for n in re.findall(r"(\d+) objects", ports.read_text())]
    memories = cells.get("$mem_v2", 0)
    if len(by_ports) != 3 or sum(by_ports) != memories:
        raise RuntimeError(f"{verilog}: read ports of {memories} memories not found: {by_ports}")
    return {
        "cells": sum(c for n, c in cells.items() if n not in (blackbox, "$scopeinfo")),
        "flip_flops": sum(c for n, c in cells.items() if re.fullmatch(r"\$_\w*DFF\w*_", n)),
        "logic_transistors": parsed["logic_transistors"],
        "memories": memories,
        "memory_read_ports": {str(n): k for n, k in zip((1, 2, 3), by_ports, strict=True) if k},
        "synth_seconds": seconds,
    }


def yosys_version(exe: str | None = None) -> str:
    proc = subprocess.run([exe or yosys_exe(), "-V"], capture_output=True, text=True)
    return proc.stdout.strip()


def pieces(cfg: NMPUConfig, sar=None, tile: bool = True) -> dict:
    """name -> (component, Verilog top, blackbox module or None) of each piece at ``cfg``."""
    from hw.axi.nmpu_axi import NMPUAxi
    from hw.nmpu import NMPU

    out = {
        "nmpu": (NMPU(cfg), "nmpu", None),
        "nmpu_readback": (NMPU(cfg, readback=True), "nmpu", None),
        "nmpu_axi_shell": (NMPUAxi(cfg), "nmpu_axi", "nmpu_axi.nmpu"),
    }
    if tile:
        from hw.axi.tile_axi import TileAxi
        from hw.tile import TilePeriphery
        from model.golden.tile import TileConfig
        from model.sar import SARConfig

        tcfg = TileConfig(sar or SARConfig(columns=cfg.columns, out_width=cfg.in_width), cfg)
        out["tile_rest"] = (TilePeriphery(tcfg), "tile", "tile.nmpu")
        out["tile_axi_shell"] = (TileAxi(tcfg), "tile_axi", "tile_axi.tile")
    return out


def measure_overhead(
    cfg: NMPUConfig,
    out: Path,
    *,
    sar=None,
    tile: bool = True,
    yosys: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Synthesise every piece at ``cfg`` in ``out`` (one Yosys run at a time) and sum them:
    the NMPU's and (``tile``) the tile's area with and without the AXI wrapper, the
    overhead, and its breakdown."""
    name = f"c{cfg.columns}_l{cfg.lanes}"
    figures = {}
    for piece, (component, top, blackbox) in pieces(cfg, sar, tile).items():
        verilog = write_verilog(component, top, out / f"{piece}_{name}.v")
        log(f"axi overhead {name}: synthesising {piece} ...")
        syn = synth_piece(verilog, top, blackbox=blackbox, yosys=yosys)
        bits = storage_bits("fixed", cfg) if piece.startswith("nmpu") and not blackbox else 0
        if syn["memories"] != (len(cfg.param_fields) if bits else 0):
            raise RuntimeError(f"{verilog}: {syn['memories']} memories, expected one per field")
        kinds = list(syn["memory_read_ports"]) or ["0"]
        if len(kinds) != 1:
            raise RuntimeError(f"{verilog}: memories with different read ports: {kinds}")
        syn["memory_bits"], syn["read_ports"] = bits, int(kinds[0])
        syn["transistors"] = piece_transistors(
            syn["logic_transistors"], syn["flip_flops"], bits, syn["read_ports"]
        )
        log(f"  {piece}: {syn['transistors']:,} transistors ({syn['synth_seconds']} s)")
        figures[piece] = syn
    return summarise(cfg, figures)


def summarise(cfg: NMPUConfig, figures: dict) -> dict:
    """The sums, overheads and breakdown from the pieces' ``figures`` (pure arithmetic)."""
    t = {k: v["transistors"] for k, v in figures.items()}
    rb, alone = figures["nmpu_readback"], figures["nmpu"]
    extra_ports = rb["read_ports"] - alone["read_ports"]  # 1: the read-back port
    port_tr = EXTRA_READ_PORT_TRANSISTORS * rb["memory_bits"] * extra_ports
    breakdown = {
        "wrapper_logic": t["nmpu_axi_shell"],
        "readback_memory_port": port_tr,
        "readback_logic": t["nmpu_readback"] - t["nmpu"] - port_tr,
    }
    report = {
        "columns": cfg.columns,
        "lanes": cfg.lanes,
        "pieces": figures,
        "nmpu_axi": {
            **overhead(t["nmpu"], t["nmpu_axi_shell"] + t["nmpu_readback"]),
            "breakdown": breakdown,
        },
    }
    if "tile_rest" in t:
        tile = t["tile_rest"] + t["nmpu"]
        report["tile_axi"] = {
            **overhead(tile, t["tile_axi_shell"] + t["tile_rest"] + t["nmpu_readback"]),
            "breakdown": {**breakdown, "wrapper_logic": t["tile_axi_shell"]},
        }
    for key in ("nmpu_axi", "tile_axi"):
        if key in report:
            report[key]["goal_met"] = report[key]["overhead_percent"] <= GOAL_PERCENT
    report["synth_seconds"] = round(sum(v["synth_seconds"] for v in figures.values()), 1)
    return report


def run(
    out: Path,
    cfg: NMPUConfig,
    *,
    tile: bool = True,
    yosys: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """:func:`measure_overhead` at ``cfg``, Verilog and Yosys files in ``out/axi_area``,
    the report in ``out/axi_area.json``; returns the report."""
    work = out / "axi_area"
    work.mkdir(parents=True, exist_ok=True)
    report = {
        "flow": "Yosys generic CMOS (flows.synthesis.GENERIC_SYNTH), each piece flattened "
        "alone, the inner unit a blackbox in the wrappers' own runs",
        "yosys": yosys_version(yosys),
        "assumptions": {
            "ff_transistors": FF_TRANSISTORS,
            "memory_bit_transistors": MEMORY_BIT_TRANSISTORS,
            "extra_read_port_transistors_per_bit": EXTRA_READ_PORT_TRANSISTORS,
        },
        "goal_percent": GOAL_PERCENT,
        **measure_overhead(cfg, work, tile=tile, yosys=yosys, log=log),
    }
    write_text_atomic(out / "axi_area.json", json.dumps(report, indent=1) + "\n")
    return report


def summary(report: dict) -> list[str]:
    """The report as table lines."""
    lines = [
        f"AXI wrapper area, {report['columns']} columns x {report['lanes']} lanes "
        f"({report['yosys'].split(' (')[0]}, generic CMOS transistors):",
        "| unit | alone | with AXI | overhead | wrapper logic | read-back logic | "
        "2nd read port | goal <= 5 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("nmpu_axi", "NMPU"), ("tile_axi", "tile")):
        if key not in report:
            continue
        r, b = report[key], report[key]["breakdown"]
        lines.append(
            f"| {label} | {r['base_transistors']:,} | {r['wrapped_transistors']:,} | "
            f"+{r['overhead_percent']} % | {b['wrapper_logic']:,} | {b['readback_logic']:,} | "
            f"{b['readback_memory_port']:,} | {'met' if r['goal_met'] else 'NOT met'} |"
        )
    times = ", ".join(f"{k} {v['synth_seconds']} s" for k, v in report["pieces"].items())
    lines.append(f"Yosys wall time: {times}")
    return lines
