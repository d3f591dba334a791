"""Write synthesizable Verilog for the project's blocks (``make rtl``).

Default configs unless told otherwise::

    python -m tools.rtl --out build/rtl                                # defaults
    python -m tools.rtl --nmpu-config my_nmpu.json                     # any valid config
    python -m tools.rtl --nmpu-set lanes=16 --nmpu-set rounding=half_even

``--*-config`` takes a JSON object of config fields (the same dict that
capture files carry); ``--*-set key=value`` overrides one field, the value
parsed as JSON when it parses (numbers, booleans, lists) and as a string
otherwise. Invalid configs fail with the config's own error naming the field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def config_dict(path: str | None, sets: list[str], what: str) -> dict:
    """Merge a JSON config file and ``key=value`` overrides into one dict."""
    d: dict = {}
    if path:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"error: {what} config file {path}: {exc}") from None
        if not isinstance(d, dict):
            raise SystemExit(f"error: {what} config file {path}: top level must be an object")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --{what}-set takes key=value, not {item!r}")
        try:
            d[key] = json.loads(value)
        except json.JSONDecodeError:
            d[key] = value
    return d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/rtl", help="output folder")
    parser.add_argument("--nmpu-config", help="JSON file with NMPUConfig fields")
    parser.add_argument("--nmpu-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    from hw.nmpu import NMPU
    from hw.verilog import to_verilog
    from model.nmpu import NMPUConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        nmpu_cfg = NMPUConfig.from_dict(config_dict(args.nmpu_config, args.nmpu_set, "nmpu"))
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dut = NMPU(nmpu_cfg)
    (out / "nmpu.v").write_text(to_verilog(dut, "nmpu"))
    (out / "nmpu.json").write_text(json.dumps(nmpu_cfg.to_dict(), indent=2) + "\n")
    print(f"wrote {out / 'nmpu.v'} (latency {dut.latency} clocks) and its config nmpu.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
