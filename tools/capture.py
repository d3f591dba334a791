"""Make capture files: regenerate one from a simulator, or import anyone's analog data.

Two commands::

    python -m tools.capture --simulator builtin|aihwkit --out F [--seed S ...]
    python -m tools.capture import SRC.npz --out CAPTURE.npz [--lanes N] [--nmpu-set k=v ...]
                                           [--sar-set k=v ...] [--adc-* ...]

``import`` (DESIGN 5.2, ``model.flow.importer``) takes plain arrays from any
analog simulator or chip; the rest of this docstring is the simulator flow.

The simulator flow (docs/captures.md) is ``model.flow.digits_capture``: the digits
MLP's layer 1 on a simulated PCM crossbar (built-in numpy model or IBM aihwkit),
the SAR model with a sampled analog front end (``--adc-*``), calibrated NMPU
parameters, written with ``model.capture.save``. The same arguments give
byte-identical files.

Exit status 0, or 2 with one line on stderr for invalid input.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from model.files import check_output_path
from model.flow import capture, digits, importer
from model.flow.digits_capture import CaptureSettings, build
from tools.cli import (
    FRONT_END_HELP,
    FRONT_END_TERMS,
    ArgumentParser,
    UsageError,
    add_front_end_options,
    config_dict,
    run,
    user_input,
)


def adc_settings(args) -> dict:
    """The ``AnalogFrontEnd.sample`` settings of the command line; the per-column gain and
    compression terms (DESIGN 9, import options only) appear only when set, so the
    committed captures' provenance is unchanged."""
    settings = {
        "mismatch": args.adc_mismatch,
        "offset": args.adc_offset,
        "noise": args.adc_noise,
        "seed": args.adc_seed,
    }
    for key in ("gain", "compression"):
        if getattr(args, f"adc_{key}", 0.0):
            settings[key] = getattr(args, f"adc_{key}")
    return settings


def settings(args) -> CaptureSettings:
    """The simulator flow's settings from the parsed command line."""
    return CaptureSettings(**vars(args))


def parse_args(argv=None):
    d = CaptureSettings()  # the defaults
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulator", choices=("builtin", "aihwkit"), default=d.simulator)
    ap.add_argument("--out", required=True, help="capture file to write (.npz)")
    ap.add_argument(
        "--vectors", type=int, default=d.vectors, help="test vectors captured, 1 to 450"
    )
    ap.add_argument("--seed", type=int, default=d.seed, help="crossbar seed, 0 to 2**63-1")
    ap.add_argument(
        "--hidden", type=int, default=d.hidden, help="layer-1 width = columns, 1 to 4096"
    )
    ap.add_argument("--lanes", type=int, default=d.lanes, help="NMPU lanes (divides --hidden)")
    ap.add_argument(
        "--t-inference", type=float, default=d.t_inference, help="seconds after programming"
    )
    ap.add_argument("--dac-bits", type=int, default=d.dac_bits)
    ap.add_argument(
        "--input-bits",
        type=int,
        help="quantise inputs to this many unsigned bits (1 to 8) and bit-slice them into phases",
    )
    ap.add_argument(
        "--slice-bits",
        type=int,
        default=d.slice_bits,
        help="bits per input slice (phase), divides --input-bits",
    )
    adc = ap.add_argument_group("ADC analog front end (model.sar.AnalogFrontEnd.sample)")
    for term in ("mismatch", "offset", "noise", "seed"):
        adc.add_argument(
            f"--adc-{term}",
            type=int if term == "seed" else float,
            default=getattr(d, f"adc_{term}"),
            help=FRONT_END_HELP[term],
        )
    ap.add_argument(
        "--mlp-cache",
        default=str(digits.MLP_CACHE.relative_to(Path.cwd()))
        if digits.MLP_CACHE.is_relative_to(Path.cwd())
        else str(digits.MLP_CACHE),
        help="trained weights: loaded if present, else trained and written ('' to skip)",
    )
    return ap.parse_args(argv)


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line on stderr for invalid input."""
    return run(_main, argv)


def _main(argv) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["import"]:
        return import_main(argv[1:])
    args = parse_args(argv)
    with user_input():  # front-end settings, calibration that does not fit, a bad capture
        check_output_path(args.out, "--out")  # a directory or FIFO: refused before any work
        if args.mlp_cache:  # read if present, else written
            check_output_path(args.mlp_cache, "--mlp-cache")
        kw = build(settings(args), log=print)
        path = capture.save(args.out, **kw)
    prov = kw["provenance"]
    a = kw["analog"]
    print(
        f"{path}: {a.shape[0]} vectors x {a.shape[1]} phases x {a.shape[2]} columns; "
        f"float acc {prov['float_accuracy']:.4f}, golden chain acc {prov['golden_accuracy']:.4f}"
    )
    print(json.dumps(kw["scaling"]))
    return 0


IMPORT_USAGE = (
    "python -m tools.capture import SRC.npz --out CAPTURE.npz [--lanes N] "
    "[--nmpu-set k=v ...] [--sar-set k=v ...] [ADC front-end options]"
)


def parse_import_args(argv):
    ap = ArgumentParser(
        prog="python -m tools.capture import",
        usage=IMPORT_USAGE,
        description="Import analog data (plain arrays, see docs/captures.md) into a capture "
        "that make sim CAPTURE=... runs.",
    )
    ap.add_argument("src", metavar="SRC.npz", help="analog_mac, ideal_mac, bias, labels, head_*")
    ap.add_argument("--out", required=True, help="capture file to write (.npz)")
    ap.add_argument(
        "--lanes", type=int, help="NMPU lanes (divides columns; default: largest divisor up to 64)"
    )
    ap.add_argument(
        "--nmpu-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="NMPUConfig field, e.g. phase_shifts=[0,1,2,3] or in_signed=false",
    )
    ap.add_argument(
        "--sar-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="SARConfig field, e.g. steps=10",
    )
    ap.add_argument("--max-vectors", type=int, help="write at most this many scored vectors (>= 1)")
    ap.add_argument(
        "--no-saturate",
        action="store_true",
        help="fail on a parameter outside its format instead of saturating it",
    )
    fs = ap.add_argument_group("ADC full scale (default: percentile of |analog_mac|)")
    fs.add_argument(
        "--full-scale",
        type=float,
        help="MAC units per ADC full scale: above the median |analog_mac| of the calibration "
        "vectors, at most 2**(in_width-1) times the largest",
    )
    fs.add_argument(
        "--out-percentile",
        type=float,
        default=99.9,
        help="percentile of |analog_mac| put at --out-headroom of full scale, 50 to 100",
    )
    fs.add_argument(
        "--out-headroom",
        type=float,
        default=0.8,
        help="fraction of full scale, 2**-(in_width-1) (one code) to 1",
    )
    fs.add_argument(
        "--act-percentile",
        type=float,
        default=99.9,
        help="activation percentile put at the largest output code, 50 to 100",
    )
    adc = ap.add_argument_group(
        "ADC analog front end (model.sar.AnalogFrontEnd.sample; default ideal)"
    )
    add_front_end_options(adc)
    return ap.parse_args(argv)


def import_main(argv) -> int:
    """``python -m tools.capture import``: one line on stderr and status 2 for bad input."""
    args = parse_import_args(argv)
    with user_input():  # a directory or FIFO to write: refused before reading anything
        check_output_path(args.out, "--out")
    front_end = {
        k: v
        for k, v in adc_settings(args).items()
        if v or (k == "seed" and any(adc_settings(args).values()))
    }
    terms = FRONT_END_TERMS
    if front_end and not any(front_end.get(k) for k in terms):
        raise UsageError("--adc-seed needs --adc-mismatch/offset/noise/gain/compression")
    with user_input():  # the options' ranges, before the source is read
        opts = importer.ImportOptions(
            lanes=args.lanes,
            nmpu_set=config_dict(None, args.nmpu_set, "nmpu"),
            sar_set=config_dict(None, args.sar_set, "sar"),
            front_end=front_end,
            full_scale=args.full_scale,
            out_percentile=args.out_percentile,
            out_headroom=args.out_headroom,
            act_percentile=args.act_percentile,
            max_vectors=args.max_vectors,
            saturate=not args.no_saturate,
        )
    with user_input():  # the source, the settings, a calibration that cannot fit
        src = importer.read_source(args.src)
        prov = {
            "source": str(args.src),
            "source_sha256": importer.source_digest(args.src),
            "command": "python -m tools.capture import " + shlex.join(argv),
        }
        imported = importer.import_arrays(src, opts, provenance=prov)
        path = capture.save(args.out, **imported.capture)
    a = imported.capture["analog"]
    print(f"{path}: {a.shape[0]} vectors x {a.shape[1]} phases x {a.shape[2]} columns")
    for line in imported.report:
        print(f"  {line}")
    print(f"run it: make sim CAPTURE={path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
