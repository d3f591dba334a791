"""Gate-level simulation of a unit's mapped netlist: bit-exact check and per-net activity
(DESIGN 8, ``docs/ppa.md``).

The OSU 0.18 um netlist :func:`flows.stdcell.map_cells` writes keeps the RTL's ports, so
it replaces the RTL Verilog of the unit's own cocotb bench (``tb.benches.nmpu``, which
serves both units): :func:`run_gls` renames its module to the bench's top level
(``nmpu``), adds activity counters on every net (:func:`bench_netlist`; Icarus under
cocotb runs with dumping off, so no VCD), and runs the bench's ``full_rate`` test on
Icarus (``tb.runner.run_cocotb``) with the library's cell models (``osu018_stdcells.v``,
zero delay: Icarus ignores their ``specify`` blocks; :func:`cell_models`). The bench
scores every output beat against the golden model (``model.golden.nmpu`` or
``model.golden.fp16``, random parameters and codes, seeded); its scoreboard's mismatch
count is ``gls_mismatches``.

The counters give, per net bit, transitions per clock cycle (``activity``) and the
fraction of clock edges at which it is 1 (``duty``), sampled at the rising edges from the
first input beat to the end of the drain; ``flows.stdcell.activity_tcl`` turns them into
OpenSTA commands.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flows.stdcell import CELL_MODELS, activity_tcl
from hw.verilog import write_if_changed
from model.nmpu import NMPUConfig
from tb.runner import SUMMARY_FILE, CocotbFailure, run_cocotb
from tb.stream.bench import SETTINGS_ENV

#: The bench's top-level module name (``tb.runner.BENCHES["nmpu"]``).
BENCH_TOP = "nmpu"
COUNTS_FILE = "gls_activity.txt"


_WIRE = re.compile(r"^  wire (?:\[(\d+):(\d+)\] )?(\S+);$", re.M)


def net_bits(text: str) -> list[str]:
    """Every net bit a gate-level netlist declares: ``name`` or ``name[i]``."""
    bits = []
    for msb, lsb, name in _WIRE.findall(text):
        if msb:
            lo, hi = sorted((int(msb), int(lsb)))
            bits += [f"{name}[{i}]" for i in range(lo, hi + 1)]
        else:
            bits.append(name)
    return bits


def bench_netlist(netlist: Path, top: str, counts: Path) -> tuple[str, list[str]]:
    """The gate-level netlist as the bench's top level, with activity counters: from the first
    rising edge of ``i__valid`` (the first input beat), at every rising clock edge, each net
    bit's settled value (before the edge's register updates) is compared with the one at
    the previous edge (a toggle) and counted when 1 (its duty); a ``final`` block writes the
    edges and the counts to ``counts``. Zero-delay simulation has no physical glitches, so
    none are counted (OpenSTA's propagated default activity has none either). Returns the
    text and the net bits in the order of the counts file."""
    text = Path(netlist).read_text()
    text, n = re.subn(rf"^module {re.escape(top)}\(", f"module {BENCH_TOP}(", text, flags=re.M)
    if n != 1:
        raise RuntimeError(f"{netlist}: module {top} not found")
    bits = [b for b in net_bits(text) if b != "clk"]
    count = len(bits)
    lines = [
        "  // Activity counters (flows.gls): simulation only.",
        "  reg gls_on = 1'b0;",
        "  integer gls_edges = 0;",
        f"  integer gls_toggles [0:{count - 1}];",
        f"  integer gls_high [0:{count - 1}];",
        "  integer gls_i, gls_fd;",
        "  initial begin",
        f"    for (gls_i = 0; gls_i < {count}; gls_i = gls_i + 1) begin",
        "      gls_toggles[gls_i] = 0;",
        "      gls_high[gls_i] = 0;",
        "    end",
        "    @(posedge i__valid) gls_on = 1'b1;",
        "  end",
    ]
    lines += [
        f"  reg gls_prev [0:{count - 1}];",
        "  always @(posedge clk) if (gls_on) begin",
        "    gls_edges = gls_edges + 1;",
    ]
    for k, b in enumerate(bits):
        lines += [
            f"    if (gls_edges > 1 && {b} !== gls_prev[{k}])",
            f"      gls_toggles[{k}] = gls_toggles[{k}] + 1;",
            f"    gls_prev[{k}] = {b};",
            f"    if ({b} === 1'b1) gls_high[{k}] = gls_high[{k}] + 1;",
        ]
    lines += [
        "  end",
        "  final begin",
        f'    gls_fd = $fopen("{counts}", "w");',
        '    $fwrite(gls_fd, "%0d\\n", gls_edges);',
        f"    for (gls_i = 0; gls_i < {count}; gls_i = gls_i + 1)",
        '      $fwrite(gls_fd, "%0d %0d\\n", gls_toggles[gls_i], gls_high[gls_i]);',
        "    $fclose(gls_fd);",
        "  end",
    ]
    head, sep, tail = text.rpartition("endmodule")
    return head + "\n".join(lines) + "\n" + sep + tail, bits


#: The library model's state element in DFFPOSX1 (a sequential UDP, which starts at x).
_UDP_DFF = "udp_dff (DS0000, D, CLK, 1'B0, 1'B0, NOTIFIER);"


def cell_models(out: Path) -> Path:
    """The library's cell models with DFFPOSX1's state starting at 0, as every register of
    the RTL does (Amaranth's ``init``): the same positive-edge flip-flop, but without the
    time-0 x that the RTL does not have (registers without reset, the parameter memories'
    unwritten slots), which gate-level x-pessimism would carry into valid outputs."""
    text = CELL_MODELS.read_text()
    start = text.index("module DFFPOSX1")
    end = text.index("endmodule", start)
    body = text[start:end]
    if body.count(_UDP_DFF) != 1:
        raise RuntimeError(f"{CELL_MODELS}: DFFPOSX1 is not the expected udp_dff model")
    body = body.replace(_UDP_DFF, "reg DS0000 = 1'b0;\n   always @(posedge CLK) DS0000 <= D;")
    return write_if_changed(Path(out) / "osu018_stdcells_gls.v", text[:start] + body + text[end:])


def run_gls(
    unit: str, cfg: NMPUConfig, netlist: Path, top: str, build_dir: Path, *, seed: int,
    vectors: int,
) -> dict:  # fmt: skip
    """Run the bench's ``full_rate`` test on the gate-level ``netlist`` of ``unit`` at
    ``cfg`` (``vectors`` random vectors, ``seed``); returns the scoreboard's figures
    (``mismatches``, ``values_checked``), the cycles, and each net bit's toggle rate
    (``rates``: net -> (transitions per clock, fraction of clock edges at 1))."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    counts = build_dir / COUNTS_FILE
    counts.unlink(missing_ok=True)
    text, bits = bench_netlist(netlist, top, counts)
    source = write_if_changed(build_dir / f"{unit}_gls.v", text)
    summary = build_dir / SUMMARY_FILE
    summary.unlink(missing_ok=True)
    settings = {"config": cfg.to_dict(), "vectors": vectors, "unit": unit, "summary": str(summary)}
    failure = None
    try:
        run_cocotb(
            sim="icarus", sources=[cell_models(build_dir), source], toplevel=BENCH_TOP,
            test_module="tb.benches.nmpu", build_dir=build_dir / "icarus", seed=seed,
            extra_env={SETTINGS_ENV: json.dumps(settings)}, testcase="full_rate",
        )  # fmt: skip
    except CocotbFailure as exc:  # mismatches: still report the figures the bench wrote
        failure = str(exc)
    lines = summary.read_text().splitlines() if summary.exists() else []
    if not lines or not counts.exists():
        raise RuntimeError(f"gate-level simulation of {unit} reported nothing: {failure}")
    f = json.loads(lines[-1])
    edges, *rows = counts.read_text().split("\n")
    edges = int(edges)
    rates = {}
    for bit, row in zip(bits, rows, strict=False):
        toggles, high = (int(v) for v in row.split())
        rates[bit] = (toggles / max(1, edges - 1), high / max(1, edges))
    return {
        "seed": seed,
        "vectors": f["vectors"],
        "cycles": f["cycles"],
        "values_checked": f["output_values_checked"],
        "mismatches": f["output_mismatches"],
        "failure": failure,
        "clock_edges": edges,
        "rates": rates,
    }


def gls_activity(gls: dict, netlist: Path, inputs: set[str], out: Path) -> dict:
    """``gls``'s toggle rates written as OpenSTA commands to ``out``; returns the mean
    activity of the nets and the number of clock edges counted."""
    rates = gls["rates"]
    Path(out).write_text(activity_tcl(rates, netlist, inputs))
    acts = [a for a, _ in rates.values()]
    return {
        "clock_edges": gls["clock_edges"],
        "nets": len(acts),
        "mean_activity": round(sum(acts) / max(1, len(acts)), 4),
        "tcl": str(out),
    }
