"""The AXI overhead measurement's arithmetic and parsing (``flows.axi_area``), without Yosys.

The measurement itself (``python -m tools.ppa --axi-overhead``, minutes at the paper's size)
is a command, not a test; here: both Yosys ``stat`` formats parse to the same figures, the
second read port is charged, the sums and percentages, and the command line's refusals.
"""

from __future__ import annotations

import pytest

from flows.axi_area import (
    EXTRA_READ_PORT_TRANSISTORS,
    GOAL_PERCENT,
    parse_stat,
    piece_transistors,
    summarise,
)
from flows.synthesis import FF_TRANSISTORS, MEMORY_BIT_TRANSISTORS
from model.nmpu import NMPUConfig
from tools.ppa import main as ppa_main

STAT_023 = """
11. Printing statistics.

=== nmpu_axi ===

   Number of wires:               1129
   Number of wire bits:           2478
   Number of memories:               0
   Number of cells:               1305
     $_NAND_                       362
     $_NOT_                        272
     $_SDFFE_PN0N_                  70
     $_SDFF_PP0_                     2
     $mem_v2                         4
     nmpu_axi.nmpu                   1

   Estimated number of transistors:       3936+
"""

STAT_NEW = """
11. Printing statistics.

=== nmpu_axi ===

        +----------Local Count, excluding submodules.
        |
     1218 wires
     2830 wire bits
       30 ports
     1519 cells
      362   $_NAND_
      272   $_NOT_
       70   $_SDFFE_PN0N_
        2   $_SDFF_PP0_
        4   $mem_v2
        3   $scopeinfo
        1   nmpu_axi.nmpu

   Estimated number of transistors:       3936+

=== design hierarchy ===

     1519 cells
   Estimated number of transistors:       9999+
"""


def test_both_stat_formats_parse_alike():
    old, new = parse_stat(STAT_023, "nmpu_axi"), parse_stat(STAT_NEW, "nmpu_axi")
    assert old["logic_transistors"] == new["logic_transistors"] == 3936
    new["cells"].pop("$scopeinfo")
    assert old["cells"] == new["cells"]
    assert old["cells"]["$_SDFFE_PN0N_"] == 70 and old["cells"]["nmpu_axi.nmpu"] == 1
    assert "wires" not in new["cells"] and "cells" not in new["cells"]
    with pytest.raises(ValueError):
        parse_stat(STAT_023, "nmpu")


def test_second_read_port_is_charged():
    one = piece_transistors(1000, 10, 64, 1)
    assert one == 1000 + 10 * FF_TRANSISTORS + 64 * MEMORY_BIT_TRANSISTORS
    assert piece_transistors(1000, 10, 64, 2) - one == 64 * EXTRA_READ_PORT_TRANSISTORS > 0
    assert piece_transistors(1000, 10, 0, 0) == 1000 + 10 * FF_TRANSISTORS
    with pytest.raises(ValueError):
        piece_transistors(1000, 10, 64, 0)


def _piece(transistors, bits=0, read_ports=0):
    return {
        "transistors": transistors,
        "memory_bits": bits,
        "read_ports": read_ports,
        "synth_seconds": 1.0,
    }


def test_summarise_sums_pieces_and_breaks_down():
    cfg = NMPUConfig(columns=32, lanes=8)
    bits = 3072
    figures = {
        "nmpu": _piece(200_000, bits, 1),
        "nmpu_readback": _piece(200_000 + 4_000 + EXTRA_READ_PORT_TRANSISTORS * bits, bits, 2),
        "nmpu_axi_shell": _piece(6_000),
        "tile_rest": _piece(100_000),
        "tile_axi_shell": _piece(7_000),
    }
    r = summarise(cfg, figures)
    n = r["nmpu_axi"]
    assert n["base_transistors"] == 200_000
    assert n["overhead_transistors"] == 6_000 + 4_000 + EXTRA_READ_PORT_TRANSISTORS * bits
    assert n["overhead_percent"] == round(100 * n["overhead_transistors"] / 200_000, 2)
    assert n["breakdown"] == {
        "wrapper_logic": 6_000,
        "readback_memory_port": EXTRA_READ_PORT_TRANSISTORS * bits,
        "readback_logic": 4_000,
    }
    assert sum(n["breakdown"].values()) == n["overhead_transistors"]
    t = r["tile_axi"]
    assert t["base_transistors"] == 300_000
    assert t["overhead_transistors"] == n["overhead_transistors"] + 1_000
    assert t["goal_met"] == (t["overhead_percent"] <= GOAL_PERCENT)
    assert n["goal_met"] is False  # 16,144 / 200,000 = 8.07 %
    assert r["synth_seconds"] == 5.0


@pytest.mark.parametrize(
    "argv", [["--axi-overhead", "--lane-only"], ["--axi-overhead", "--yosys", "/nonexistent/yosys"]]
)
def test_cli_refuses_before_synthesis(argv, tmp_path, capsys):
    assert ppa_main(["--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    assert not (tmp_path / "axi_area.json").exists()
