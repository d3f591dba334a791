"""Write synthesizable Verilog for the project's blocks (``make rtl``).

Default configs unless told otherwise::

    python -m tools.rtl --out build/rtl                                # defaults
    python -m tools.rtl --nmpu-config my_nmpu.json                     # any valid config
    python -m tools.rtl --nmpu-set lanes=16 --nmpu-set rounding=half_even
    python -m tools.rtl --sar-set steps=10 --sar-set weights=[128,72,40,22,12,7,4,2,1,1]

Writes ``nmpu.v``, ``sar.v`` and ``tile.v`` (SAR -> serializer -> NMPU; only
when the two configs agree on columns and code width) with their configs as
JSON beside them.

``--*-config`` takes a JSON object of config fields (the same dict that
capture files carry); ``--*-set key=value`` overrides one field, the value
parsed as JSON when it parses (numbers, booleans, lists) and as a string
otherwise. Invalid configs fail with the config's own error naming the field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tools.cli import ArgumentParser, UsageError, run, user_input


def config_dict(path: str | None, sets: list[str], what: str) -> dict:
    """Merge a JSON config file and ``key=value`` overrides into one dict."""
    d: dict = {}
    if path:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{what} config file {path}: {exc}") from None
        if not isinstance(d, dict):
            raise UsageError(f"{what} config file {path}: top level must be an object")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--{what}-set takes key=value, not {item!r}")
        try:
            d[key] = json.loads(value)
        except json.JSONDecodeError:
            d[key] = value
    return d


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
    args = parser.parse_args(argv)

    from hw.nmpu import NMPU
    from hw.sar import SAR
    from hw.tile import TilePeriphery
    from hw.verilog import write_verilog
    from model.golden.nmpu import NMPUConfig
    from model.golden.sar import SARConfig
    from model.golden.tile import TileConfig

    out = Path(args.out)
    with user_input():
        nmpu_cfg = NMPUConfig.from_dict(config_dict(args.nmpu_config, args.nmpu_set, "nmpu"))
        sar_cfg = SARConfig.from_dict(config_dict(args.sar_config, args.sar_set, "sar"))

    def write(name: str, component, cfg_dict: dict, note: str) -> None:
        write_verilog(component, name, out / f"{name}.v")
        (out / f"{name}.json").write_text(json.dumps(cfg_dict, indent=2) + "\n")
        print(f"wrote {out / name}.v ({note}) and {name}.json")

    nmpu = NMPU(nmpu_cfg)
    write("nmpu", nmpu, nmpu_cfg.to_dict(), f"latency {nmpu.latency} clocks")
    sar = SAR(sar_cfg)
    write("sar", sar, sar_cfg.to_dict(), f"{sar.period_at(sar_cfg.steps)} clocks per conversion")
    try:
        tile_cfg = TileConfig(sar_cfg, nmpu_cfg)
    except ValueError as exc:
        print(f"note: no tile.v: {exc}")
        return 0
    tile = TilePeriphery(tile_cfg)
    write("tile", tile, tile_cfg.to_dict(), f"SAR -> NMPU, latency {tile.latency} clocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
