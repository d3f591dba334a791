"""The whole digits network on the tile, co-verified layer by layer on the RTL.

    python -m tools.network --out build/network [--sim icarus|verilator] [--vectors N]

Every layer of the digits MLP runs through its own crossbar, SAR ADC and NMPU
(``model.flow.network``): layer ``L``'s integer activations drive layer ``L + 1``'s
input DAC (bit-sliced into phases), the last layer has no ReLU, the answer is the
argmax of its outputs. Per layer this writes a capture (``<out>/layer<L>.npz``,
schema v2, the rest of the network as its head) and runs it on the RTL
(``tb.runner.run_tile_capture``: SAR in closed loop, NMPU, every code and activation
scored against the golden chain). The RTL outputs of layer ``L`` are the inputs of
layer ``L + 1``'s capture, so the RTL chain is co-verified end to end. Prints a table
per layer (RMS error against the float layer and against the float network,
mismatches, vectors checked) and the end-to-end accuracy of the float network, the
golden all-hardware chain and the RTL all-hardware chain; writes ``<out>/network.json``.

The work is done by ``model.flow.digits_network`` (the golden chain) and
``flows.network`` (the RTL chain and the report); this is the command line.

Exit status 0 iff every layer ran with 0 mismatches and the RTL chain equals the golden
chain; 2 with one line for invalid input.
"""

from __future__ import annotations

import functools
import sys
import time

from flows import network as rtl_network
from model.files import check_output_dir
from model.flow import digits_network
from model.golden.tile import TileConfig
from tools.cli import (
    SEED,
    ArgumentParser,
    UsageError,
    add_allow_large,
    bounded_int,
    check_hardware,
    run,
    user_input,
)

#: Bits per phase: ``InputSpec`` takes 1 to 15 (and they must divide the activation width).
SLICE_BITS = bounded_int(1, 15)


def parse_args(argv=None):
    ap = ArgumentParser(prog="python -m tools.network", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/network", help="folder for captures and builds")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
    ap.add_argument(
        "--vectors",
        type=bounded_int(1, 1_000_000),
        help="scored test vectors (first N of the test split; default all)",
    )
    ap.add_argument(
        "--network",
        choices=sorted(digits_network.NETWORKS),
        default="mlp256",
        help="mlp256: 64-256-10 on 4-bit pixel codes (the paper's tile); "
        "mlp32: 64-32-10 on signed inputs pixel/8 - 1",
    )
    ap.add_argument("--lanes", help="NMPU lanes per layer, comma-separated (default: largest "
                    "divisor of the columns up to 64)")  # fmt: skip
    ap.add_argument(
        "--slice-bits", type=SLICE_BITS, default=4, help="bits per phase of hidden activations"
    )
    ap.add_argument(
        "--input-slice-bits",
        type=SLICE_BITS,
        default=1,
        help="bits per phase of 4-bit pixel codes",
    )
    ap.add_argument("--seed", type=SEED, default=1, help="crossbar seed (layer L: seed + L)")
    ap.add_argument("--sim-seed", type=SEED, default=1, help="cocotb seed")
    ap.add_argument("--adc-ideal", action="store_true", help="ideal ADC front ends")
    ap.add_argument("--no-rtl", action="store_true", help="golden chain only")
    add_allow_large(ap)
    return ap.parse_args(argv)


def parse_lanes(text: str | None) -> tuple[int, ...] | None:
    """``--lanes 8,2`` -> ``(8, 2)``."""
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--lanes must be integers separated by commas, not {text!r}") from None


def main(argv=None) -> int:
    return run(_main, argv)


def _main(argv) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with user_input():  # a FIFO or file as the folder: refused before the golden chain
        out = check_output_dir(args.out, "--out")
    t0 = time.perf_counter()
    with user_input():
        run_ = digits_network.build(
            args.network,
            vectors=args.vectors,
            lanes=parse_lanes(args.lanes),
            slice_bits=args.slice_bits,
            input_slice_bits=args.input_slice_bits,
            seed=args.seed,
            adc_ideal=args.adc_ideal,
        )
        rtl = None
        for layer in [] if args.no_rtl else run_.layers:  # every tile, before any is built
            tile = TileConfig(layer.capture["sar_config"], layer.capture["nmpu_config"])
            check_hardware(tile, allow_large=args.allow_large, what=f"layer {layer.index}")
        out.mkdir(parents=True, exist_ok=True)
        if args.no_rtl:
            rtl_network.save_layers(run_, out)
        else:
            log = functools.partial(print, flush=True)
            rtl = rtl_network.run_rtl(run_, out, args.sim, args.sim_seed, log=log)
    ok, lines = rtl_network.finish(run_, rtl, out, args.sim, time.perf_counter() - t0)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
