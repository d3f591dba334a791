"""Write synthesizable Verilog for the project's blocks (``make rtl``).

Default configs unless told otherwise::

    python -m tools.rtl --out build/rtl                                # defaults
    python -m tools.rtl --nmpu-config my_nmpu.json                     # any valid config
    python -m tools.rtl --nmpu-set lanes=16 --nmpu-set rounding=half_even
    python -m tools.rtl --sar-set steps=10 --sar-set weights=[128,72,40,22,12,7,4,2,1,1]

Writes ``nmpu.v``, ``sar.v`` and ``tile.v`` (SAR -> serializer -> NMPU; only
when the two configs agree on columns and code width) with their configs as
JSON beside them; with ``--axi`` (``make rtl`` passes it) also the AXI-wrapped NMPU:
``nmpu_axi.v``, ``nmpu_axi_inst.v``, ``nmpu_axi.rdl``, ``nmpu_axi.h`` and
``nmpu_axi_regs.md``, and the same five ``tile_axi*`` for the AXI-wrapped tile
(docs/integration.md).

``--*-config`` takes a JSON object of config fields (the same dict that
capture files carry); ``--*-set key=value`` overrides one field, the value
parsed as JSON when it parses (numbers, booleans, lists) and as a string
otherwise. Invalid configs fail with the config's own error naming the field (exit
status 2, one line). Hardware whose estimated size is above the limit (docs/nmpu.md,
"Hardware size": the tile's, or the NMPU's and the SAR's when there is no tile) is refused
before anything is elaborated unless ``--allow-large``; near it, a warning line says so.
The Verilog is written by ``flows.rtl``; this is the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from model.files import check_output_dir
from tools.cli import (
    ArgumentParser,
    add_allow_large,
    check_hardware,
    config_dict,
    run,
    user_input,
)


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for any invalid input."""
    return run(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/rtl", help="output folder")
    parser.add_argument("--nmpu-config", help="JSON file with NMPUConfig fields")
    parser.add_argument("--nmpu-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sar-config", help="JSON file with SARConfig fields")
    parser.add_argument("--sar-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--axi", action="store_true",
        help="also write the AXI-wrapped NMPU and tile with their register map, C header and "
        "document (docs/integration.md; `make rtl` passes it)",
    )  # fmt: skip
    add_allow_large(parser)
    args = parser.parse_args(argv)
    with user_input():  # a FIFO or file as the folder: refused before any elaboration
        check_output_dir(args.out, "--out")

    from flows.rtl import write_axi, write_blocks
    from model.golden.tile import TileConfig
    from model.nmpu import NMPUConfig
    from model.sar import SARConfig

    with user_input():
        nmpu_cfg = NMPUConfig.from_dict(config_dict(args.nmpu_config, args.nmpu_set, "nmpu"))
        sar_cfg = SARConfig.from_dict(config_dict(args.sar_config, args.sar_set, "sar"))
    try:
        blocks = [TileConfig(sar_cfg, nmpu_cfg)]  # the largest of the three blocks written
    except ValueError:  # no tile.v (write_blocks says why)
        blocks = [nmpu_cfg, sar_cfg]
    check_hardware(*blocks, allow_large=args.allow_large)
    write_blocks(Path(args.out), nmpu_cfg, sar_cfg, log=print)
    if args.axi:
        write_axi(Path(args.out), nmpu_cfg, sar_cfg, log=print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
