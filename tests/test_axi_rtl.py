"""`make rtl`'s AXI outputs (``flows.rtl.write_axi``): the wrapped Verilog, instantiation
template, SystemRDL source, C header and Markdown document agree with the compiled map."""

from __future__ import annotations

import re
import shutil
import subprocess

from flows.rtl import write_axi
from hw.axi.regmap import compile_map
from hw.nmpu import NMPU
from model.nmpu import NMPUConfig
from model.sar import SARConfig

CONFIG = NMPUConfig(columns=8, lanes=2, bn=False, activation="none", out_lsb_cut=0,
                    out_round_bits=3)  # fmt: skip


def test_write_axi_outputs_agree_with_the_map(tmp_path):
    write_axi(tmp_path, CONFIG, SARConfig(columns=8))
    names = {p.name for p in tmp_path.iterdir()}
    for top in ("nmpu_axi", "tile_axi"):
        assert {
            f"{top}{ext}" for ext in (".v", "_inst.v", ".rdl", ".h", "_regs.md", ".json")
        } <= names
    tile_header = (tmp_path / "tile_axi.h").read_text()
    assert "#define TILE_AXI__ID__MAGIC_reset 0x54494c45" in tile_header  # "TILE"
    assert "TILE_AXI__ADC_CTRL__ACTIVE_STEPS_bm 0x3f" in tile_header
    assert "ADC_CTRL" not in (tmp_path / "nmpu_axi.h").read_text()
    rmap = compile_map(CONFIG, len(NMPU.STAGES))  # the map the wrapper is built from
    header = (tmp_path / "nmpu_axi.h").read_text()
    doc = (tmp_path / "nmpu_axi_regs.md").read_text()
    for reg in rmap.registers:
        assert re.search(rf"\|\s*{reg.name}(\[0\])?\s*\|", doc), f"{reg.name} not documented"
        if reg.param is not None:
            continue
        for f in reg.fields:
            macro = f"NMPU_AXI__{reg.name}__{f.name.upper()}_bm"
            found = re.search(rf"#define {macro} (0x[0-9a-f]+)", header)
            assert found and int(found.group(1), 16) == f.mask, f"{macro}: {found}"
    # bn=False: the batch-norm arrays are absent from the map, the document and the RTL.
    assert {r.param for r in rmap.registers} == {None, "scale", "offset"}
    assert "BN_SCALE" not in doc and "BN_SCALE[" not in header
    verilog = (tmp_path / "nmpu_axi.v").read_text()
    top = verilog[verilog.index("module nmpu_axi(") :].split("endmodule")[0]
    ports = re.findall(r"^\s*(input|output) (?:\[\d+:0\] )?(\w+);", top, re.M)
    template = (tmp_path / "nmpu_axi_inst.v").read_text()
    assert ports and all(f".{name} " in template for _, name in ports)
    assert {n for _, n in ports} >= {"clk", "rst_n", "s_axis_tdata", "m_axis_tlast",
                                     "s_axil_awaddr", "s_axil_rresp", "irq"}  # fmt: skip
    if shutil.which("cc"):  # the header is valid C
        subprocess.run(["cc", "-fsyntax-only", "-x", "c", str(tmp_path / "nmpu_axi.h")],
                       check=True)  # fmt: skip
