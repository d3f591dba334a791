"""``make sim``: co-verify the RTL against the golden model and print the figures.

Two stimuli:

* a capture file (default ``captures/builtin_digits.npz``): analog column
  values go through the SAR back end in closed loop with the analog
  front-end model, then through the NMPU, all in one simulation, checked
  bit-exactly against the golden chain (see ``tb/benches/tile.py``);
* ``--synthetic``: the NMPU alone at its paper-default configuration on a
  seeded random stimulus (``tb/benches/nmpu.py``).

The work is done by ``flows.sim_capture`` and ``flows.sim_synthetic``; this is the
command line. Exit status is non-zero on any mismatch (1), 2 with one line on stderr for
invalid input.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from flows.sim_capture import DEFAULT_CAPTURE, check_size, run_capture
from model.files import check_output_dir
from tb.runner import SIMULATORS
from tools.cli import (
    FRONT_END_TERMS,
    SEED,
    ArgumentParser,
    UsageError,
    add_front_end_options,
    bounded_int,
    check_front_end_options,
    run,
    user_input,
)

#: Most ``--vectors`` of a synthetic run (per cocotb test, about 20 tests): hours on Icarus.
MAX_SYNTHETIC_VECTORS = 100_000


def show(result: tuple[int, list[str]]) -> int:
    """Print a run's report lines; return its exit status."""
    status, lines = result
    print("\n".join(lines))
    return status


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 (pass), 1 (a mismatch), or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", choices=SIMULATORS, default="icarus")
    parser.add_argument("--capture", help=f"capture file (default {DEFAULT_CAPTURE.name})")
    parser.add_argument("--synthetic", action="store_true", help="NMPU alone on random data")
    parser.add_argument("--seed", type=SEED, default=1)
    parser.add_argument(
        "--unit",
        choices=("fixed", "fp16"),
        default="fixed",
        help="tile post-processing: the fixed-point NMPU or the FP16 baseline (make sim UNIT=fp16)",
    )
    parser.add_argument(
        "--vectors",
        type=bounded_int(1, MAX_SYNTHETIC_VECTORS),
        default=20,
        help=f"synthetic vectors per test (1 to {MAX_SYNTHETIC_VECTORS})",
    )
    adc = parser.add_argument_group(
        "ADC analog front end (default: the instance the capture was calibrated with)"
    )
    adc.add_argument("--adc-ideal", action="store_true", help="ideal front end")
    add_front_end_options(adc)
    parser.add_argument(
        "--build-dir",
        help="root of the per-capture build folders (default build/sim; make sim BUILD_DIR=)",
    )
    parser.add_argument(
        "--waves",
        action="store_true",
        help="record a waveform, FST (Icarus) or VCD (Verilator) (make sim WAVES=1)",
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="run captures above the size guard (vectors x phases x columns > 2**19) and "
        "tiles above the hardware size limit (docs/nmpu.md, Hardware size)",
    )
    args = parser.parse_args(argv)
    if args.build_dir:
        with user_input():  # a FIFO or file as the folder: refused before any build
            check_output_dir(args.build_dir, "--build-dir")
    adc_keys = FRONT_END_TERMS
    adc_values = tuple(getattr(args, f"adc_{k}") for k in adc_keys)
    adc_given = any(adc_values) or args.adc_seed or args.adc_ideal
    if args.synthetic:
        if args.capture or adc_given or args.waves or args.allow_large or args.unit != "fixed":
            raise UsageError(
                "--synthetic runs the NMPU alone: it takes no --capture, --adc-*, --waves, "
                "--allow-large or --unit"
            )
        from flows.sim_synthetic import run_synthetic

        return show(run_synthetic(args.sim, args.seed, args.vectors))
    if args.adc_ideal and (any(adc_values) or args.adc_seed):
        raise UsageError(
            "--adc-ideal conflicts with --adc-mismatch/offset/noise/gain/compression/seed"
        )
    if args.adc_seed and not any(adc_values):
        raise UsageError("--adc-seed needs --adc-mismatch/offset/noise/gain/compression")
    from model.capture import load

    fe = {} if args.adc_ideal else None
    if any(adc_values):
        fe = {k: v for k, v in zip(adc_keys, adc_values, strict=True) if v or k in adc_keys[:3]}
        fe["seed"] = args.adc_seed
    capture = Path(args.capture) if args.capture else DEFAULT_CAPTURE
    with user_input():  # a bad file, front end or size: one line naming it, before any build
        cap = load(capture)
        if fe:
            check_front_end_options(cap.sar_config, fe)  # the front end's ranges, --adc-*
        warning = check_size(cap, args.allow_large)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    report = run_capture(
        args.sim,
        cap,
        args.seed,
        front_end=fe,
        build_root=Path(args.build_dir) if args.build_dir else None,
        waves=args.waves,
        allow_large=args.allow_large,
        unit=args.unit,
        log=functools.partial(print, flush=True),
    )
    return show(report)


if __name__ == "__main__":
    sys.exit(main())
