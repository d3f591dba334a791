"""``make rtl``: synthesizable Verilog of the project's blocks, with their configs as JSON.

Why here: it elaborates the Amaranth components (``hw``) and writes them with the one
Verilog writer (``hw.verilog.write_verilog``); ``tools.rtl`` is its command line.
:func:`write_blocks` writes ``nmpu.v``, ``sar.v`` and ``tile.v`` (SAR -> serializer ->
NMPU; only when the two configs agree on columns and code width), each with its
config's ``to_dict()`` beside it.
"""

from __future__ import annotations

import json
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
