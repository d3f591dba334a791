"""``make ppa``: area, timing, power and energy of the fixed-point NMPU against the FP16
baseline (DESIGN 8, ``docs/ppa.md``).

For each unit (``fixed``: ``hw.nmpu.NMPU``; ``fp16``: ``hw.fp16.unit.FP16Unit``) and each
configuration (one lane serving 4 columns, and the paper's 256 columns x 64 lanes, or any
``columns`` x ``lanes``), the Verilog that ``hw.verilog.write_verilog`` writes goes
through three flows, each giving ratios from itself only:

* **OSU 0.18 um standard cells** (the primary flow, ``flows.stdcell``): Yosys maps to the
  library, OpenSTA gives the worst path (``fmax_mhz``) at the typical corner and the power
  at that clock; the netlist is simulated at gate level on Icarus in the unit's own cocotb
  bench (``flows.gls``: ``gls_mismatches`` against the golden model, and the per-net
  toggle rates OpenSTA's power then uses: ``activity`` ``gls``). Area ``area_um2`` =
  datapath ``logic_um2`` + parameter store ``storage_um2`` (the ``banks`` module: the
  two-slot parameter memories mapped to flip-flops, their write decoders and read
  multiplexers). ``energy_pj_per_column`` = power / Fmax x ``cycles_per_vector`` /
  ``columns``.
* **Yosys generic CMOS** (``flows.synthesis.measure``, under ``generic``): transistors,
  parameter memories kept as memory bits.
* **ECP5** (``flows.synthesis.map_ecp5``, under ``ecp5``; ``fpga``): LUT4, DSP, Fmax.

``cycles_per_vector`` is ``phases * columns / lanes`` for both units (one beat per clock,
fully pipelined). Writes ``<out>/ppa.json`` and ``ppa.png``.

Why here: every figure comes from synthesis, static timing and gate-level simulation
(``flows.synthesis``, ``flows.stdcell``, ``flows.gls``); the format sweep also runs the
golden chain on the committed captures (``model.flow.accuracy``). ``tools.ppa`` is the
command line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flows.gls import gls_activity, run_gls
from flows.stdcell import LIBRARY, map_cells, static_timing
from flows.synthesis import FF_TRANSISTORS, UNITS, measure
from hw.verilog import port_names
from model.capture import load as load_capture
from model.files import save_figure, write_text_atomic
from model.flow.calibration import quantise
from model.golden.fixed import QFormat
from model.nmpu import NMPUConfig

#: The paper's figures (Ferro et al. 2024): FP16 unit area / NMPU area, NMPU speed-up.
PAPER = {"area": 7.8, "speedup": 139.0}
PAPER_SETTING = (
    "paper: ASIC synthesis in the authors' technology and library, and their FP16 system's "
    "organisation (how many FP16 operators served how many columns; it sets the speed-up "
    "directly); here: OSU 0.18 um cells (Yosys + OpenSTA, typical corner, no wire load), "
    "both units fully pipelined at `lanes` columns per clock with the same lane count and "
    "the same function: two multiply-adds (correction and batch-norm) at the project's "
    "default formats, and the paper's one multiply-add per column (folded) at the formats "
    "the mnist1d format sweep found accuracy-neutral; parameters in two-slot flip-flop "
    "stores in both units"
)


#: The paper's unit (Ferro et al.): one multiply-add per column, ``ReLU(din x scale +
#: offset)``, the bias or batch-norm folded into scale and offset by the calibration and the
#: import (``bn = False``), one rounding, at the accuracy-neutral formats of the format
#: sweep on mnist1d (``model.flow.mnist1d_task``, ``docs/fp16.md``: a 4-bit scale, the 8-bit
#: offset). The FP16 unit of the same function is built from the same config.
PAPER_UNIT = "folded_scale4"


def paper_unit(cfg: NMPUConfig) -> NMPUConfig:
    """``cfg`` (columns, lanes, phases, ...) as the paper's folded unit (:data:`PAPER_UNIT`);
    the output keeps one code LSB, as the import sets it (``model.flow.importer``)."""
    from model.flow.mnist1d_task import FORMAT_VARIANTS

    folded = NMPUConfig.from_dict({**cfg.to_dict(), **FORMAT_VARIANTS[PAPER_UNIT], "out_lsb_cut": 0,
                                   "out_round_bits": 0})  # fmt: skip
    return replace(folded, out_round_bits=max(folded.frac_y, 0))


def breakdown(unit: str, cfg: NMPUConfig, out: Path) -> dict:
    """Where a unit's datapath goes: the correction and batch-norm stages as the difference
    to the same unit synthesised without them (``correction=False`` / ``bn=False``), the
    rest (accumulation, compressions, output stage, framing, parameter-port logic)."""
    full = measure(unit, cfg, out, fpga=False)["datapath_transistors"]
    no_cor = measure(unit, replace(cfg, correction=False), out, fpga=False)
    # Without batch-norm the output rounds y itself to an integer (else it is a constant).
    no_bn_cfg = replace(cfg, bn=False, out_lsb_cut=0, out_round_bits=max(cfg.frac_y, 0))
    no_bn = measure(unit, no_bn_cfg, out, fpga=False, tag="_nobn")
    cor = full - no_cor["datapath_transistors"]
    bn = full - no_bn["datapath_transistors"]
    return {"datapath": full, "correction": cor, "batch_norm": bn, "rest": full - cor - bn}


#: Fixed-point format sweep: (name, scale, offset, stage-1 fraction bits, mid_width,
#: bn_scale, bn_offset). The cuts follow from the formats (``narrowed``) so the output
#: stays an integer.
SWEEP = (
    ("default", "UQ(1,7)", "Q(7,1)", 3, 16, "Q(4,12)", "Q(10,6)"),
    ("narrow-bn", "UQ(1,7)", "Q(7,1)", 1, 12, "Q(4,8)", "Q(10,2)"),
    ("narrow", "UQ(1,5)", "Q(6,1)", 0, 10, "Q(3,6)", "Q(9,0)"),
    ("narrowest", "UQ(1,4)", "Q(6,0)", 0, 9, "Q(3,4)", "Q(9,0)"),
)


def narrowed(cfg: NMPUConfig, scale, offset, frac_y: int, mid_width: int, bn_scale, bn_offset):
    """``cfg`` with other formats; the cuts chosen so ``y`` has ``frac_y`` fraction bits and
    the output keeps ``cfg.out_frac``."""
    s, o = QFormat.parse(scale), QFormat.parse(offset)
    g, b = QFormat.parse(bn_scale), QFormat.parse(bn_offset)
    frac_a = max(s.frac_bits, o.frac_bits)
    mid_cut = frac_a - frac_y - cfg.mid_round_bits
    frac_z = max(frac_y + g.frac_bits, b.frac_bits)
    out_cut = frac_z - cfg.out_round_bits - cfg.out_frac
    return replace(
        cfg, scale_fmt=s, offset_fmt=o, mid_lsb_cut=mid_cut, mid_width=mid_width,
        bn_scale_fmt=g, bn_offset_fmt=b, out_lsb_cut=out_cut,
    )  # fmt: skip


def requantise(params: dict, old: NMPUConfig, new: NMPUConfig) -> dict:
    """Each raw parameter of ``old``'s formats rounded (saturated) to ``new``'s."""
    out = {}
    for f in new.param_fields:
        real = params[f] / 2.0 ** old.param_format(f).frac_bits
        out[f] = quantise(real, new.param_format(f), f, saturate=True)
    return out


def format_sweep(out: Path) -> list[dict]:
    """Accuracy (golden chain, both committed captures) and one-lane area of each SWEEP point."""
    from model.flow.accuracy import CAPTURES, accuracy, chain_outputs

    caps = [load_capture(p) for p in CAPTURES]
    lane = NMPUConfig(columns=4, lanes=1)
    rows = []
    for name, *fmts in SWEEP:
        entry = {"name": name, "formats": dict(zip(
            ("scale", "offset", "frac_y", "mid_width", "bn_scale", "bn_offset"), fmts,
            strict=True))}  # fmt: skip
        for cap in caps:
            cfg = narrowed(cap.nmpu_config, *fmts)
            outs = chain_outputs(cap, cfg, requantise(cap.params(), cap.nmpu_config, cfg))
            rms = np.sqrt(np.mean((outs["fixed"] - cap.reference) ** 2))
            entry[Path(cap.path).stem] = {
                "fixed_rms_lsb": round(float(rms), 3),
                "fixed": round(100 * accuracy(cap, outs["fixed"]), 2),
                "fp16": round(100 * accuracy(cap, outs["fp16"]), 2),
                "float": round(100 * accuracy(cap, cap.reference), 2),
            }
        m = measure("fixed", narrowed(lane, *fmts), out, fpga=False, tag=f"_{name}")
        entry["lane_datapath_transistors"] = m["datapath_transistors"]
        entry["lane_storage_bits"] = m["storage_bits"]
        rows.append(entry)
    return rows


def columns_per_second(u: dict, fmax_mhz: float) -> float:
    return u["columns"] / u["cycles_per_vector"] * fmax_mhz * 1e6


def ratios(fixed: dict, fp16: dict) -> dict:
    """FP16 over fixed (or fixed over FP16 for speed), each flow from itself only."""

    def per_area(u):
        return columns_per_second(u, u["fmax_mhz"]) / u["area_um2"]

    g_fx, g_fp = fixed["generic"], fp16["generic"]

    out = {
        "area_fp16_over_fixed": round(fp16["area_um2"] / fixed["area_um2"], 2),
        "logic_area_fp16_over_fixed": round(fp16["logic_um2"] / fixed["logic_um2"], 2),
        "fmax_fixed_over_fp16": round(fixed["fmax_mhz"] / fp16["fmax_mhz"], 2),
        "throughput_per_area_fixed_over_fp16": round(per_area(fixed) / per_area(fp16), 2),
        "energy_fp16_over_fixed": round(
            fp16["energy_pj_per_column"] / fixed["energy_pj_per_column"], 2
        ),
        "generic": {
            "area_fp16_over_fixed_datapath": round(
                g_fp["datapath_transistors"] / g_fx["datapath_transistors"], 2
            ),
            "area_fp16_over_fixed_total": round(g_fp["transistors"] / g_fx["transistors"], 2),
        },
    }
    e_fx, e_fp = fixed.get("ecp5"), fp16.get("ecp5")
    if e_fx and e_fp:

        def per_lut(u, e):
            return columns_per_second(u, e["fmax_mhz"]) / e["lut4"]

        out["ecp5"] = {
            "lut4_fp16_over_fixed": round(e_fp["lut4"] / e_fx["lut4"], 2),
            "fmax_fixed_over_fp16": round(e_fx["fmax_mhz"] / e_fp["fmax_mhz"], 2),
            "throughput_per_lut4_fixed_over_fp16": round(
                per_lut(fixed, e_fx) / per_lut(fp16, e_fp), 2
            ),
        }
    return out


def measure_unit(
    unit: str, cfg: NMPUConfig, out: Path, *, fpga: bool, gls_vectors: int, seed: int,
    log=None,
) -> dict:  # fmt: skip
    """One unit at one configuration through the three flows (DESIGN 8's unit fields)."""
    log = log or (lambda line: None)
    component = UNITS[unit](cfg)  # for its latency and ports; never elaborated here
    component._MustUse__silence = True
    generic = measure(unit, cfg, out, fpga=fpga)
    verilog = out / f"{unit}_c{cfg.columns}_l{cfg.lanes}.v"
    cells = map_cells(verilog, unit)
    netlist = Path(cells["netlist"])
    gls, activity_file, activity = None, None, None
    if gls_vectors:
        log(f"  gate-level simulation of {unit} ({gls_vectors} vectors, seed {seed}) ...")
        gls = run_gls(unit, cfg, netlist, unit, out / f"gls_{unit}_c{cfg.columns}_l{cfg.lanes}",
                      seed=seed, vectors=gls_vectors)  # fmt: skip
        inputs = {name for name, is_input in port_names(component) if is_input}
        activity_file = netlist.with_suffix(".activity.tcl")
        activity = gls_activity(gls, netlist, inputs, activity_file)
    sta = static_timing(netlist, unit, activity_file=activity_file)
    fmax = sta["fmax_mhz"]
    p_default = sta["power_default"]["total"]["total_mw"]
    p_gls = sta["power_gls"]["total"]["total_mw"] if gls else None
    power = p_gls if gls else p_default
    cycles = cfg.phases * cfg.beats

    def energy(p_mw):  # pJ per column: power x clock period x clocks per column
        return None if p_mw is None else round(p_mw / fmax * 1e3 * cycles / cfg.columns, 3)

    ecp5 = {k: generic[k] for k in ("lut4", "dsp", "lutram_cells", "fpga_flip_flops",
                                    "fmax_mhz", "fpga_seconds") if k in generic}  # fmt: skip
    return {
        "unit": unit,
        "function": "two_mult" if cfg.bn else "folded",
        "lanes": cfg.lanes,
        "columns": cfg.columns,
        "pipeline_stages": component.latency,
        "area_um2": cells["area_um2"],
        "storage_um2": cells["storage_um2"],
        "logic_um2": cells["logic_um2"],
        "logic_um2_per_lane": round(cells["logic_um2"] / cfg.lanes, 1),
        "storage_um2_per_column": round(cells["storage_um2"] / cfg.columns, 1),
        "cells": cells["cells"],
        "flip_flops": cells["flip_flops"],
        "storage_bits": generic["storage_bits"],
        "fmax_mhz": fmax,
        "worst_path_ns": sta["worst_path_ns"],
        "power_mw": power,
        "activity": "gls" if gls else "default",
        "power_default_mw": p_default,
        "power_gls_mw": p_gls,
        "power_breakdown": {"default": sta["power_default"], "gls": sta.get("power_gls")},
        "energy_pj_per_column": energy(power),
        "energy_pj_per_column_default": energy(p_default),
        "energy_pj_per_column_gls": energy(p_gls),
        "cycles_per_vector": cycles,
        "gls_mismatches": gls["mismatches"] if gls else None,
        "gls": None
        if gls is None
        else {
            **{k: v for k, v in gls.items() if k != "rates"},
            **activity,
        },
        "cell_counts": cells["cell_counts"],
        "seconds": {"map": cells["map_seconds"], "sta": sta["sta_seconds"]},
        "generic": {k: v for k, v in generic.items() if k not in ecp5},
        "ecp5": ecp5 if ecp5.get("lut4") is not None else None,
    }


def paper_estimate(units: dict, columns: int = 256, lanes: int = 64) -> dict:
    """The paper configuration extrapolated linearly from a measured one: datapath area per
    lane x ``lanes`` + store area per column x ``columns``, at the measured Fmax (used only
    when the paper configuration itself was not run)."""
    out = {}
    for unit, u in units.items():
        area = u["logic_um2_per_lane"] * lanes + u["storage_um2_per_column"] * columns
        out[unit] = {
            "area_um2": round(area, 1),
            "fmax_mhz": u["fmax_mhz"],
            "columns_per_second": round(lanes / (u["cycles_per_vector"] * u["lanes"] /
                                                 u["columns"]) * u["fmax_mhz"] * 1e6),
            "energy_pj_per_column": u["energy_pj_per_column"],
            "from": f"{u['columns']} columns x {u['lanes']} lanes",
        }  # fmt: skip
    fx, fp = out["fixed"], out["fp16"]
    out["area_fp16_over_fixed"] = round(fp["area_um2"] / fx["area_um2"], 2)
    return out


#: FP16 lane counts of the system table (all serving the paper's 256 columns).
SYSTEM_FP16_LANES = (1, 4, 16, 64)


def system_table(units: dict, columns: int = 256, lanes: int = 64) -> list[dict]:
    """The paper's system-level comparison, EXTRAPOLATED from a measured configuration: the
    NMPU at ``lanes`` lanes against FP16 units of fewer lanes serving the same ``columns``
    (area = datapath per lane x lanes + parameter store per column x columns; each unit at
    its measured Fmax; one beat per clock). Ratios fixed over FP16: ``area_ratio`` is FP16
    area / fixed area (> 1: the NMPU is smaller), ``throughput_ratio`` fixed vectors/s over
    FP16 vectors/s. Energy is not extrapolated (the store's and the datapath's power are not
    separated by this flow)."""
    fx, fp = units["fixed"], units["fp16"]

    def system(u, n_lanes):
        area = u["logic_um2_per_lane"] * n_lanes + u["storage_um2_per_column"] * columns
        cycles = u["cycles_per_vector"] * u["lanes"] / u["columns"] * columns / n_lanes
        return area, cycles, u["fmax_mhz"] * 1e6 / cycles

    a_fx, c_fx, v_fx = system(fx, lanes)
    rows = []
    for n in SYSTEM_FP16_LANES:
        a, c, v = system(fp, n)
        rows.append({
            "fp16_lanes": n, "fixed_lanes": lanes, "columns": columns,
            "fp16_area_um2": round(a), "fixed_area_um2": round(a_fx),
            "fp16_cycles_per_vector": c, "fixed_cycles_per_vector": c_fx,
            "fp16_vectors_per_s": round(v), "fixed_vectors_per_s": round(v_fx),
            "area_ratio": round(a / a_fx, 3), "throughput_ratio": round(v_fx / v, 2),
            "extrapolated_from": f"{fx['columns']} columns x {fx['lanes']} lanes",
        })  # fmt: skip
    return rows


def table(rows: list[tuple[str, dict]]) -> str:
    """The OSU 0.18 um table (primary flow)."""
    cols = (
        ("config", 14), ("unit", 13), ("area um2", 11), ("logic um2", 11), ("store um2", 11),
        ("cells", 7), ("FFs", 6), ("Fmax MHz", 9), ("P def mW", 9), ("P gls mW", 9),
        ("pJ/col", 9), ("cyc/vec", 8), ("GLS err", 8),
    )  # fmt: skip
    lines = ["".join(f"{c:>{w}}" for c, w in cols)]
    for config, r in rows:
        values = (
            config, r["unit"], f"{r['area_um2']:,.0f}", f"{r['logic_um2']:,.0f}",
            f"{r['storage_um2']:,.0f}", r["cells"], r["flip_flops"], r["fmax_mhz"],
            r["power_default_mw"], r["power_gls_mw"] if r["power_gls_mw"] is not None else "-",
            f"{r['energy_pj_per_column']:.1f}", r["cycles_per_vector"],
            r["gls_mismatches"] if r["gls_mismatches"] is not None else "-",
        )  # fmt: skip
        lines.append("".join(f"{v!s:>{w}}" for v, (_, w) in zip(values, cols, strict=True)))
    return "\n".join(lines)


def generic_table(rows: list[tuple[str, dict]]) -> str:
    """The Yosys generic-CMOS table (secondary flow)."""
    cols = (
        ("config", 14), ("unit", 13), ("cells", 9), ("FFs", 7), ("storage bits", 13),
        ("datapath FFs", 13), ("logic tr.", 10), ("datapath tr.", 13), ("total tr.", 10),
    )  # fmt: skip
    lines = ["".join(f"{c:>{w}}" for c, w in cols)]
    for config, r in rows:
        g = r["generic"]
        values = (
            config, r["unit"], g["cells"], g["flip_flops"], g["storage_bits"],
            g["datapath_flip_flops"], g["logic_transistors"], g["datapath_transistors"],
            g["transistors"],
        )  # fmt: skip
        lines.append("".join(f"{v:>{w}}" for v, (_, w) in zip(values, cols, strict=True)))
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Three panels per configuration: area (datapath + parameter store), throughput per
    area, energy per column (default and simulated activity), both units, OSU 0.18 um."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(report["configs"])
    system = report.get("system")
    n_rows = len(configs) + bool(system)
    fig, axes = plt.subplots(n_rows, 3, figsize=(13, 3.6 * n_rows), squeeze=False)
    if system:
        ax = axes[-1][0]
        fp16_lanes = [r["fp16_lanes"] for r in system]
        ax.loglog(fp16_lanes, [r["throughput_ratio"] for r in system], "o-",
                  label="NMPU / FP16 throughput")  # fmt: skip
        ax.loglog(fp16_lanes, [r["area_ratio"] for r in system], "s-", label="FP16 / NMPU area")
        ax.axhline(PAPER["speedup"], ls=":", color="tab:blue", label="paper 139x")
        ax.axhline(PAPER["area"], ls=":", color="tab:orange", label="paper 7.8x")
        ax.set_xlabel("FP16 lanes serving 256 columns (NMPU: 64 lanes)")
        ax.set_title("system level (extrapolated)")
        ax.legend(fontsize=7)
        for spare in axes[-1][1:]:
            spare.axis("off")
    for row, config in zip(axes, configs, strict=False):
        units = report["configs"][config]["units"]
        names = list(units)
        logic = [units[u]["logic_um2"] / 1e3 for u in names]
        store = [units[u]["storage_um2"] / 1e3 for u in names]
        row[0].bar(names, logic, label="datapath")
        row[0].bar(names, store, bottom=logic, label="parameter store")
        row[0].set_ylabel("area (1000 um^2)")
        row[0].set_title(f"{config}: area")
        row[0].legend(fontsize=7)
        tpa = [columns_per_second(units[u], units[u]["fmax_mhz"]) / units[u]["area_um2"]
               for u in names]  # fmt: skip
        row[1].bar(names, tpa, color="tab:green")
        row[1].set_ylabel("columns / s / um^2")
        row[1].set_title("throughput per area (at Fmax)")
        x = np.arange(len(names))
        e_def = [units[u]["energy_pj_per_column_default"] for u in names]
        e_gls = [units[u]["energy_pj_per_column_gls"] or 0 for u in names]
        row[2].bar(x - 0.2, e_def, 0.4, label="OpenSTA default activity")
        row[2].bar(x + 0.2, e_gls, 0.4, label="gate-level simulation activity")
        row[2].set_xticks(x, names)
        row[2].set_ylabel("pJ per column")
        row[2].set_title("energy per column")
        row[2].legend(fontsize=7)
    fig.suptitle(f"{LIBRARY} (OSU 0.18 um, typical corner): fixed-point NMPU vs FP16 unit")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


#: The one-lane configuration (breakdown and format sweep).
LANE = "lane (4 col, 1 lane)"


def run_ppa(
    out: Path,
    *,
    columns: int = 256,
    lanes: int = 64,
    lane_only: bool = False,
    lane_columns: int = 4,
    fpga: bool = True,
    sweep: bool = True,
    folded: bool = True,
    gls_vectors: int = 256,
    seed: int = 1,
    log=None,
) -> tuple[dict, list[tuple[str, dict]]]:
    """Measure both units at the one-lane configuration (``lane_columns`` columns) and
    (unless ``lane_only``) at ``columns`` x ``lanes``; gate-level simulation with
    ``gls_vectors`` random vectors (``seed``; 0: none, OpenSTA's default activity); with
    ``sweep``, the one-lane stage breakdown and the format sweep (generic CMOS); with
    ``folded``, also the paper's unit (:func:`paper_unit`) and the FP16 unit of the same
    function at each configuration (``fixed_folded``, ``fp16_folded``). Writes
    ``<out>/ppa.json`` and ``<out>/ppa.png`` (Verilog, netlists, scripts and logs in
    ``<out>/ppa_rtl``); returns the report and the table rows. ``log``: progress lines.
    """
    log = log or (lambda line: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rtl = out / "ppa_rtl"
    rtl.mkdir(exist_ok=True)
    lane_label = LANE if lane_columns == 4 else f"lane ({lane_columns} col, 1 lane)"
    configs = {lane_label: NMPUConfig(columns=lane_columns, lanes=1)}
    if not lane_only:
        big = NMPUConfig(columns=columns, lanes=lanes)
        label = "paper (256, 64)" if (columns, lanes) == (256, 64) else "scaled"
        configs[f"{label}: {big.columns} col, {big.lanes} lanes"] = big
    report: dict = {"library": LIBRARY, "corner": "typical", "ff_transistors": FF_TRANSISTORS,
                    "gls_seed": seed, "configs": {}}  # fmt: skip
    rows = []
    for label, cfg in configs.items():
        units = {}
        for unit in UNITS:
            log(f"{unit} at {label}: synthesis (OSU 0.18 um, generic CMOS"
                + (", ECP5" if fpga else "") + ") ...")  # fmt: skip
            units[unit] = measure_unit(unit, cfg, rtl, fpga=fpga, gls_vectors=gls_vectors,
                                       seed=seed, log=log)  # fmt: skip
            rows.append((f"{cfg.columns} col x {cfg.lanes}", units[unit]))
        report["configs"][label] = {"units": units, "ratios": ratios(units["fixed"], units["fp16"])}
        if folded:  # the paper's function, both units (own folder: the same file names)
            (rtl / "folded").mkdir(exist_ok=True)
            for unit in UNITS:
                log(f"{unit} (folded, {PAPER_UNIT}) at {label} ...")
                u = measure_unit(unit, paper_unit(cfg), rtl / "folded", fpga=fpga,
                                 gls_vectors=gls_vectors, seed=seed, log=log)  # fmt: skip
                units[f"{unit}_folded"] = {**u, "unit": f"{unit}_folded"}
                rows.append((f"{cfg.columns} col x {cfg.lanes}", units[f"{unit}_folded"]))
            report["configs"][label]["ratios_folded"] = ratios(
                units["fixed_folded"], units["fp16_folded"]
            )
    # DESIGN 8's top-level fields: the largest configuration measured.
    last = report["configs"][list(configs)[-1]]
    report["units"], report["ratios"] = last["units"], last["ratios"]
    if folded:
        report["ratios_folded"] = last["ratios_folded"]
        measured = paper_unit(configs[list(configs)[-1]])  # the top level's configuration
        report["paper_unit"] = {"formats": PAPER_UNIT, "config": measured.to_dict()}
    if (columns, lanes) != (256, 64) or lane_only:
        report["paper_estimate"] = paper_estimate(last["units"])
    report["system"] = system_table(last["units"])
    if folded:
        pair = {u: last["units"][f"{u}_folded"] for u in UNITS}
        report["system_folded"] = system_table(pair)
    report["paper"] = {**PAPER, "setting": PAPER_SETTING}
    if sweep:
        lane = NMPUConfig(columns=4, lanes=1)
        log("stage breakdown and format sweep (one lane, generic CMOS) ...")
        report["breakdown_lane"] = {u: breakdown(u, lane, rtl) for u in UNITS}
        report["format_sweep"] = format_sweep(rtl)
    write_text_atomic(out / "ppa.json", json.dumps(report, indent=2) + "\n")
    plot(report, out / "ppa.png")
    return report, rows


def system_lines(system: list[dict], what: str) -> list[str]:
    """The printed system table (``system_table`` rows) of one pair of units."""
    lines = []
    lines.append(
        f"system level, {what} (EXTRAPOLATED from {system[0]['extrapolated_from']}): NMPU at "
        f"{system[0]['fixed_lanes']} lanes vs FP16 units serving {system[0]['columns']} "
        f"columns; paper: NMPU {PAPER['area']}x smaller and {PAPER['speedup']}x faster"
    )
    for r in system:
        lines.append(
            f"  FP16 {r['fp16_lanes']:>2} lanes: {r['fp16_area_um2']:>12,} um^2, "
            f"{r['fp16_cycles_per_vector']:>5g} cycles/vector; NMPU "
            f"{r['fixed_area_um2']:,} um^2, {r['fixed_cycles_per_vector']:g} cycles/vector"
            f": FP16/NMPU area {r['area_ratio']}x, NMPU/FP16 throughput "
            f"{r['throughput_ratio']}x"
        )
    hit = [r for r in system if r["area_ratio"] >= PAPER["area"]
           and r["throughput_ratio"] >= PAPER["speedup"]]  # fmt: skip
    lines.append(
        f"  no row has the NMPU both 7.8x smaller and 139x faster: the per-column parameter "
        f"store (in both units) sets a floor under the FP16 system's area, so fewer FP16 "
        f"lanes buy speed-up (1 lane: {system[0]['throughput_ratio']}x) at an area ratio "
        f"that falls towards the stores' ratio ({system[0]['area_ratio']}x); system-level "
        "ratios measure the architecture (lanes), not the arithmetic"
        if not hit
        else f"  rows with both: FP16 lanes {[r['fp16_lanes'] for r in hit]}"
    )
    return lines


def summary(report: dict, rows: list[tuple[str, dict]]) -> list[str]:
    """The report as printed lines: the OSU table, its ratios against the paper, the
    generic-CMOS and ECP5 figures with their own ratios, the breakdown and the format sweep."""
    lines = [
        f"{report['library']} ({report['corner']} corner; area = cells, no wire load; Fmax "
        "from OpenSTA's worst path; power at Fmax with OpenSTA's default activity and with "
        "the gate-level simulation's; pJ/col at the simulated activity)",
        table(rows),
    ]
    for label, entry in report["configs"].items():
        r = entry["ratios"]
        lines.append(
            f"{label}: FP16/fixed area {r['area_fp16_over_fixed']}x (paper {PAPER['area']}x; "
            f"datapath {r['logic_area_fp16_over_fixed']}x), fixed/FP16 Fmax "
            f"{r['fmax_fixed_over_fp16']}x, throughput per um^2 "
            f"{r['throughput_per_area_fixed_over_fp16']}x (paper {PAPER['speedup']}x, "
            f"system level), energy per column FP16/fixed {r['energy_fp16_over_fixed']}x"
        )
    for label, entry in report["configs"].items():
        r = entry.get("ratios_folded")
        if r:
            lines.append(
                f"{label}, the paper's unit (one multiply-add, {PAPER_UNIT}) vs FP16 of the same "
                f"function: FP16/fixed area {r['area_fp16_over_fixed']}x (goal >= 3x; datapath "
                f"{r['logic_area_fp16_over_fixed']}x), fixed/FP16 Fmax "
                f"{r['fmax_fixed_over_fp16']}x, throughput per um^2 "
                f"{r['throughput_per_area_fixed_over_fp16']}x (goal >= 5x), energy per column "
                f"FP16/fixed {r['energy_fp16_over_fixed']}x (goal >= 3x)"
            )
    est = report.get("paper_estimate")
    if est:
        lines.append(
            "paper configuration (256 columns, 64 lanes) EXTRAPOLATED linearly from "
            f"{est['fixed']['from']} (datapath per lane, store per column; not synthesised): "
            + "; ".join(f"{u} {est[u]['area_um2']:,.0f} um^2 at {est[u]['fmax_mhz']} MHz"
                        for u in ("fixed", "fp16"))
            + f"; FP16/fixed area {est['area_fp16_over_fixed']}x"
        )  # fmt: skip
    for key, what in (("system", "two-multiplier units"), ("system_folded", "folded units")):
        if report.get(key):
            lines += system_lines(report[key], what)
    lines.append(f"setting: {PAPER_SETTING}")
    lines += ["secondary: Yosys generic CMOS (transistors; memories as bits)", generic_table(rows)]
    for label, entry in report["configs"].items():
        g = entry["ratios"]["generic"]
        lines.append(
            f"{label} generic: FP16/fixed datapath {g['area_fp16_over_fixed_datapath']}x, "
            f"total {g['area_fp16_over_fixed_total']}x"
        )
        e = entry["ratios"].get("ecp5")
        if e:
            lines.append(
                f"{label} ECP5: FP16/fixed LUT4 {e['lut4_fp16_over_fixed']}x, fixed/FP16 Fmax "
                f"{e['fmax_fixed_over_fp16']}x, throughput per LUT4 "
                f"{e['throughput_per_lut4_fixed_over_fp16']}x"
            )
    for config, r in rows:
        e = r.get("ecp5")
        if e:
            lines.append(f"ECP5 {config} {r['unit']}: {e['lut4']} LUT4, {e['dsp']} MULT18X18D, "
                         f"{e['lutram_cells']} DPR16X4, {e['fpga_flip_flops']} FF, "
                         f"Fmax {e['fmax_mhz']} MHz")  # fmt: skip
    for config, r in rows:
        g = r["gls"]
        if g:
            lines.append(
                f"GLS {config} {r['unit']}: {g['vectors']} vectors, {g['values_checked']} "
                f"outputs checked, {g['mismatches']} mismatches (seed {g['seed']}); "
                f"mean activity {g['mean_activity']} per clock over {g['nets']} nets"
            )
    for unit, b in report.get("breakdown_lane", {}).items():
        lines.append(
            f"one-lane datapath breakdown {unit} (generic transistors): "
            + ", ".join(f"{k} {v}" for k, v in b.items())
        )
    for e in report.get("format_sweep", []):
        accs = "; ".join(
            f"{c}: fixed {e[c]['fixed']} % (RMS {e[c]['fixed_rms_lsb']} LSB), fp16 {e[c]['fp16']} %"
            for c in ("builtin_digits", "aihwkit_digits")
        )
        lines.append(
            f"sweep {e['name']} {e['formats']}: lane datapath "
            f"{e['lane_datapath_transistors']} tr., storage {e['lane_storage_bits']} bits; {accs}"
        )
    return lines
