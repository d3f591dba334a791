"""``make rtl``: synthesizable Verilog of the project's blocks, with their configs as JSON.

Why here: it elaborates the Amaranth components (``hw``) and writes them with the one
Verilog writer (``hw.verilog.write_verilog``); ``tools.rtl`` is its command line.
:func:`write_blocks` writes ``nmpu.v``, ``sar.v`` and ``tile.v`` (SAR -> serializer ->
NMPU; only when the two configs agree on columns and code width), each with its
config's ``to_dict()`` beside it; :func:`write_axi` the AXI-wrapped NMPU with its register
map (``.rdl``, C header, Markdown).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hw.nmpu import NMPU
from hw.sar import SAR
from hw.tile import TilePeriphery
from hw.verilog import write_verilog
from model.files import write_text_atomic
from model.golden.tile import TileConfig
from model.nmpu import NMPUConfig
from model.sar import SARConfig


def write_blocks(out: Path, nmpu_cfg: NMPUConfig, sar_cfg: SARConfig, log=None) -> list[Path]:
    """Write the blocks' Verilog and configs to ``out``; returns the Verilog files.

    ``log``: called with one line per file written, and with a note when there is no tile
    (the configs do not make one).
    """
    out = Path(out)
    log = log or (lambda line: None)
    written = []

    def write(name: str, component, cfg_dict: dict, note: str) -> None:
        written.append(write_verilog(component, name, out / f"{name}.v"))
        write_text_atomic(out / f"{name}.json", json.dumps(cfg_dict, indent=2) + "\n")
        log(f"wrote {out / name}.v ({note}) and {name}.json")

    nmpu = NMPU(nmpu_cfg)
    write("nmpu", nmpu, nmpu_cfg.to_dict(), f"latency {nmpu.latency} clocks")
    sar = SAR(sar_cfg)
    write("sar", sar, sar_cfg.to_dict(), f"{sar.period_at(sar_cfg.steps)} clocks per conversion")
    try:
        tile_cfg = TileConfig(sar_cfg, nmpu_cfg)
    except ValueError as exc:
        log(f"note: no tile.v: {exc}")
        return written
    tile = TilePeriphery(tile_cfg)
    write("tile", tile, tile_cfg.to_dict(), f"SAR -> NMPU, latency {tile.latency} clocks")
    return written


def write_axi(out: Path, nmpu_cfg: NMPUConfig, sar_cfg: SARConfig | None = None,
              log=None) -> list[Path]:  # fmt: skip
    """Write the AXI-wrapped NMPU for an SoC (``docs/integration.md``) to ``out``: its Verilog
    (``nmpu_axi.v``), an instantiation template (``nmpu_axi_inst.v``), the register map's
    SystemRDL source (``nmpu_axi.rdl``), a C header (peakrdl-cheader, ``nmpu_axi.h``) and a
    Markdown register document (peakrdl-markdown, ``nmpu_axi_regs.md``), all from the map
    elaborated for ``nmpu_cfg``; with ``sar_cfg`` (when the two make a tile) the same five
    for the AXI-wrapped tile (``tile_axi*``). Returns the files written."""
    from hw.axi.nmpu_axi import NMPUAxi
    from hw.axi.regmap import check_axi_config
    from hw.axi.tile_axi import TileAxi

    out = Path(out)
    log = log or (lambda line: None)
    try:
        check_axi_config(nmpu_cfg)
    except ValueError as exc:
        log(f"note: no nmpu_axi.v: {exc}")
        return []
    files = _write_axi_top(out, "nmpu_axi", NMPUAxi(nmpu_cfg), nmpu_cfg, None, nmpu_cfg.to_dict())
    log(f"wrote {out / 'nmpu_axi'}.v (AXI4-Stream + AXI4-Lite), _inst.v, .rdl, .h, _regs.md")
    if sar_cfg is not None:
        try:
            tile_cfg = TileConfig(sar_cfg, nmpu_cfg)
        except ValueError:
            return files
        files += _write_axi_top(out, "tile_axi", TileAxi(tile_cfg), nmpu_cfg, sar_cfg,
                                tile_cfg.to_dict())  # fmt: skip
        log(f"wrote {out / 'tile_axi'}.v (SAR pins + AXI), _inst.v, .rdl, .h, _regs.md")
    return files


def _write_axi_top(out: Path, name: str, wrapper, nmpu_cfg, sar_cfg, cfg_dict) -> list[Path]:
    from peakrdl_cheader.exporter import CHeaderExporter
    from peakrdl_markdown import MarkdownExporter

    from hw.axi.regmap import RDL_FILE, elaborate_rdl, rdl_parameters

    files = [write_verilog(wrapper, name, out / f"{name}.v")]
    write_text_atomic(out / f"{name}.json", json.dumps(cfg_dict, indent=2) + "\n")
    files.append(write_text_atomic(out / f"{name}_inst.v", instance_template(wrapper, name)))
    rdl_params = rdl_parameters(nmpu_cfg, wrapper.latency, sar_cfg)
    params = ", ".join(f"{k}={int(v)}" for k, v in rdl_params.items())
    rdl = f"// Elaborated by `make rtl` as {name} with: {params}\n" + RDL_FILE.read_text()
    files.append(write_text_atomic(out / f"{name}.rdl", rdl))
    root = elaborate_rdl(nmpu_cfg, wrapper.latency, sar_cfg)
    exporters = {  # names from the instance, not the parametrised type
        f"{name}.h": lambda p: CHeaderExporter().export(root.top, p, reuse_typedefs=False),
        f"{name}_regs.md": lambda p: MarkdownExporter().export(root.top, p, rename=name),
    }
    with tempfile.TemporaryDirectory(dir=out) as tmp:  # the exporters write files themselves
        for file, export in exporters.items():
            export(str(Path(tmp) / file))  # the header guard is named after the file
            files.append(write_text_atomic(out / file, (Path(tmp) / file).read_text()))
    return files


def instance_template(component, name: str) -> str:
    """A Verilog instantiation of ``component`` as module ``name``, every port named."""
    from hw.verilog import port_names

    names = [n for n, _ in port_names(component) if n != "rst"]
    names = list(dict.fromkeys(names))  # clk is both the domain's and a member
    width = max(len(n) for n in names)
    body = ",\n".join(f"    .{n:<{width}} ({n})" for n in names)
    head = f"// Instantiation template of {name} (written by `make rtl`).\n"
    return f"{head}{name} u_{name} (\n{body}\n);\n"
