"""Make capture files: regenerate one from a simulator, or import anyone's analog data.

Two commands::

    python -m tools.capture --simulator builtin|aihwkit --out F [--seed S ...]
    python -m tools.capture import SRC.npz --out CAPTURE.npz [--lanes N] [--nmpu-set k=v ...]
                                           [--sar-set k=v ...] [--adc-* ...]

``import`` (DESIGN 5.2, ``model.flow.importer``) takes plain arrays from any
analog simulator or chip; the rest of this docstring is the simulator flow.

Flow (docs/captures.md): train or load the digits MLP, program layer 1
(64 x hidden) onto a simulated PCM crossbar (built-in numpy model or IBM
aihwkit), read the calibration vectors (training split) and the capture
vectors (first ``--vectors`` of the test split), digitise the calibration
reads through the SAR model with a sampled analog front end (CDAC mismatch,
comparator offset and noise; ``--adc-*``), fit the NMPU parameters
(``model.flow.calibration``) so the per-column correction absorbs the crossbar's
and the ADC's column errors, and write the capture (``model.capture.save``).
The front end is recorded in the provenance (``adc_front_end``) so that
``make sim`` converts with the same instance.
The same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from model.analog import crossbar
from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import calibration, capture, digits, importer
from model.flow.head import make_head
from model.golden.nmpu import NMPUConfig, nmpu
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig, adc_codes, nmpu_input
from tools.cli import (
    FRONT_END_TERMS,
    ArgumentParser,
    UsageError,
    add_front_end_options,
    run,
    user_input,
)

LAYER = "fc1"


def make_config(columns: int, lanes: int) -> TileConfig:
    """The tile config of a capture (the only place it is chosen)."""
    return TileConfig(SARConfig(columns=columns), NMPUConfig(columns=columns, lanes=lanes))


#: Conversion index of the first calibration read: far from the capture's own
#: conversions (0, 1, ...), so their comparator-noise draws are independent.
CALIBRATION_INDEX = 1_000_000


def front_end(sar_cfg, args) -> AnalogFrontEnd:
    """The ADC analog front end of this capture (``AnalogFrontEnd.ideal`` when all zero)."""
    return AnalogFrontEnd.sample(sar_cfg, **adc_settings(args))


def noise_provenance(xcfg, adc: str) -> dict:
    """The crossbar's noise settings as a capture records them, plus what ``adc`` says."""
    return {
        "model": "PCM, Nandakumar et al. ICECS 2019 (aihwkit PCMLikeNoiseModel constants)",
        "prog_noise_scale": xcfg.prog_noise_scale,
        "drift_scale": xcfg.drift_scale,
        "read_noise_scale": xcfg.read_noise_scale,
        "t_inference_s": xcfg.t_inference,
        "adc": adc,
    }


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


def nmpu_codes(cfg: TileConfig, fe, v, first_index: int = 0) -> np.ndarray:
    """The NMPU's codes for one-phase normalised values ``v`` [vectors, columns] through ``fe``."""
    codes, _ = adc_codes(cfg, fe, v[:, None, :], first_index=first_index)
    return nmpu_input(cfg, codes)


def command_line(args) -> str:
    """Canonical command reproducing this capture (stored in the provenance)."""
    parts = [
        "python -m tools.capture",
        f"--simulator {args.simulator}",
        f"--out {args.out}",
        f"--vectors {args.vectors}",
        f"--seed {args.seed}",
        f"--hidden {args.hidden}",
        f"--lanes {args.lanes}",
        f"--t-inference {args.t_inference:g}",
        f"--dac-bits {args.dac_bits}",
        f"--adc-mismatch {args.adc_mismatch:g}",
        f"--adc-offset {args.adc_offset:g}",
        f"--adc-noise {args.adc_noise:g}",
        f"--adc-seed {args.adc_seed}",
    ]
    if args.input_bits is not None:
        parts += [
            f"--input-bits {args.input_bits}",
            f"--slice-bits {args.slice_bits}",
            f"--mlp-cache {args.mlp_cache}",
        ]
    return " ".join(parts)


def get_mlp(args) -> digits.MLP:
    """The trained network: from ``--mlp-cache`` if present, else trained (and cached)."""
    mlp_cache = Path(args.mlp_cache) if args.mlp_cache else None
    if mlp_cache is not None and mlp_cache.exists():
        mlp = digits.MLP.load(mlp_cache)
        if mlp.hidden != args.hidden:
            raise UsageError(f"{mlp_cache}: hidden width {mlp.hidden} != --hidden {args.hidden}")
    else:
        mlp = digits.train_mlp(args.hidden, input_bits=args.input_bits)
        if mlp_cache is not None:
            mlp_cache.parent.mkdir(parents=True, exist_ok=True)
            mlp.save(mlp_cache)
    return mlp


def simulate(args, mlp, x, calib_x):
    """The analog simulator's result for inputs ``x`` (``CrossbarResult``) and its versions."""
    xcfg = crossbar.CrossbarConfig(
        rows=mlp.w1.shape[0], t_inference=args.t_inference, dac_bits=args.dac_bits
    )
    if args.simulator == "builtin":
        result = crossbar.simulate(xcfg, mlp.w1, x, seed=args.seed, calib_x=calib_x)
        return xcfg, result, {"model.crossbar": crossbar.MODEL_VERSION, "numpy": np.__version__}
    from model.analog import aihwkit_adapter

    result = aihwkit_adapter.simulate(xcfg, mlp.w1, x, seed=args.seed, calib_x=calib_x)
    return xcfg, result, aihwkit_adapter.versions()


def build(args) -> dict:
    """Run the flow; return the keyword arguments of ``model.capture.save``."""
    if args.input_bits is not None:
        return build_sliced(args)
    mlp = get_mlp(args)
    data = digits.load_data()
    if not 1 <= args.vectors <= len(data.y_test):
        raise UsageError(f"--vectors must be in [1, {len(data.y_test)}], not {args.vectors}")
    x_cal = data.x_train
    x = data.x_test[: args.vectors]
    labels = data.y_test[: args.vectors]

    xcfg, result, sim_version = simulate(args, mlp, x, x_cal)

    cfg = make_config(mlp.hidden, args.lanes)
    fe = front_end(cfg.sar, args)
    cal_read = result.chip.read(x_cal) / result.out_scale
    cal_codes = nmpu_codes(cfg, fe, cal_read, first_index=CALIBRATION_INDEX)[:, 0, :]
    cal = calibration.calibrate(
        cfg.nmpu, cal_codes, x_cal @ mlp.w1, out_scale=result.out_scale, bias=mlp.b1
    )
    reference = calibration.reference_outputs(cfg.nmpu, cal, result.reference, bias=mlp.b1)

    # Expected accuracy of the whole chain (golden model, this ADC instance), for the record.
    out = nmpu(cfg.nmpu, nmpu_codes(cfg, fe, result.analog), **cal.params())
    provenance = {
        "simulator": args.simulator,
        "simulator_version": sim_version,
        "python": platform.python_version(),
        "network": f"digits MLP 64-{mlp.hidden}-10 (ReLU), sklearn load_digits, x = pixel/8 - 1",
        "layer": f"{LAYER} ({mlp.w1.shape[0]}x{mlp.hidden}), weights+bias of model.digits",
        "vectors": f"first {args.vectors} of the test split (split_seed 0, 25 %)",
        "calibration_vectors": f"training split ({len(x_cal)} vectors)",
        "crossbar": xcfg.to_dict(),
        "noise": noise_provenance(
            xcfg, "SAR model with the sampled front end below, in calibration and make sim"
        ),
        "seed": args.seed,
        "command": command_line(args),
        "float_accuracy": digits.float_accuracy(mlp, x, labels),
        "adc_front_end": adc_settings(args),
        "golden_accuracy": digits.rest_accuracy(mlp, cal.dequantise(out), labels),
    }
    return {
        "analog": result.analog[:, None, :],
        **cal.params(),
        "reference": reference,
        "labels": labels,
        "sar_config": cfg.sar,
        "nmpu_config": cfg.nmpu,
        "provenance": provenance,
        "scaling": cal.scaling(),
        "head": mlp.head,
    }


def slices(xi, bits: int, slice_bits: int) -> np.ndarray:
    """Unsigned integer inputs [vectors, rows] -> slices [vectors, phases, rows], LSB first."""
    xi = np.asarray(xi).astype(np.int64)
    mask = (1 << slice_bits) - 1
    return np.stack([(xi >> s) & mask for s in range(0, bits, slice_bits)], axis=1).astype(
        np.float64
    )


def build_sliced(args) -> dict:
    """The simulator flow with bit-sliced inputs (``--input-bits``): one phase per slice.

    Inputs are ``--input-bits``-bit unsigned codes of the digits; slice ``k`` (its
    ``--slice-bits`` bits, value ``s``) drives the crossbar as ``s / (2**slice_bits - 1)``
    in one conversion, the NMPU shifts phase ``k`` by ``k * slice_bits``. The chip's
    reads become an import source (training split: calibration; first ``--vectors`` of
    the test split: scored) for ``model.flow.importer``, so this is the import path.
    """
    bits, sb = args.input_bits, args.slice_bits
    if not 1 <= sb <= bits or bits % sb or bits > 8:
        raise UsageError(f"--slice-bits {sb} must divide --input-bits {bits} (at most 8)")
    mlp = get_mlp(args)
    data = digits.load_data(input_bits=bits)
    if not 1 <= args.vectors <= len(data.y_test):
        raise UsageError(f"--vectors must be in [1, {len(data.y_test)}], not {args.vectors}")
    xi = np.concatenate([data.x_train, data.x_test[: args.vectors]])
    labels = np.concatenate([data.y_train, data.y_test[: args.vectors]])
    level = float((1 << sb) - 1)
    sl = slices(xi, bits, sb)  # [vectors, phases, rows]
    phases = sl.shape[1]
    flat = sl.reshape(-1, sl.shape[2]) / level
    xcfg, result, sim_version = simulate(args, mlp, flat, None)
    shape = (len(xi), phases, mlp.hidden)
    analog_mac = (result.analog * result.out_scale * level).reshape(shape)
    ideal_mac = (result.reference * level).reshape(shape)
    src = {
        "analog_mac": analog_mac,
        "ideal_mac": ideal_mac,
        "bias": mlp.b1,
        "labels": labels,
        "calibration": np.arange(len(xi)) < len(data.x_train),
        "head": make_head(mlp.head, mlp.hidden, _bug),
    }
    opts = importer.ImportOptions(
        lanes=args.lanes,
        nmpu_set={"phase_shifts": list(range(0, bits, sb))},
        front_end=adc_settings(args),
        out_percentile=xcfg.out_percentile,
        out_headroom=xcfg.out_headroom,
    )
    prov = {
        "simulator": args.simulator,
        "simulator_version": sim_version,
        "python": platform.python_version(),
        "network": f"digits MLP 64-{mlp.hidden}-10 (ReLU), sklearn load_digits, inputs "
        f"{bits}-bit codes round(pixel * {(1 << bits) - 1} / 16)",
        "layer": f"{LAYER} ({mlp.w1.shape[0]}x{mlp.hidden}), weights+bias of model.digits, "
        f"inputs bit-sliced into {phases} phases of {sb} bit(s) (LSB first)",
        "crossbar": xcfg.to_dict(),
        "noise": noise_provenance(
            xcfg,
            "SAR model with the sampled front end adc_front_end, in calibration and make sim",
        ),
        "seed": args.seed,
        "command": command_line(args),
    }
    imported = importer.import_arrays(src, opts, provenance=prov)
    for line in imported.report:
        print(line)
    return imported.capture


def _bug(name, problem):
    raise AssertionError(f"the digits network's head is malformed: {name}: {problem}")


def parse_args(argv=None):
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulator", choices=("builtin", "aihwkit"), default="builtin")
    ap.add_argument("--out", required=True, help="capture file to write (.npz)")
    ap.add_argument("--vectors", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=digits.HIDDEN, help="layer-1 width = columns")
    ap.add_argument("--lanes", type=int, default=8, help="NMPU lanes (divides --hidden)")
    ap.add_argument("--t-inference", type=float, default=3600.0, help="seconds after programming")
    ap.add_argument("--dac-bits", type=int, default=8)
    ap.add_argument(
        "--input-bits",
        type=int,
        help="quantise inputs to this many unsigned bits and bit-slice them into phases",
    )
    ap.add_argument("--slice-bits", type=int, default=1, help="bits per input slice (phase)")
    adc = ap.add_argument_group("ADC analog front end (model.sar.AnalogFrontEnd.sample)")
    adc.add_argument("--adc-mismatch", type=float, default=0.02, help="unit-cap relative sigma")
    adc.add_argument("--adc-offset", type=float, default=0.5, help="comparator offset sigma, LSB")
    adc.add_argument("--adc-noise", type=float, default=0.3, help="comparator noise sigma, LSB")
    adc.add_argument("--adc-seed", type=int, default=1)
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
        kw = build(args)
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
    ap.add_argument("--max-vectors", type=int, help="write at most this many scored vectors")
    ap.add_argument(
        "--no-saturate",
        action="store_true",
        help="fail on a parameter outside its format instead of saturating it",
    )
    fs = ap.add_argument_group("ADC full scale (default: percentile of |analog_mac|)")
    fs.add_argument("--full-scale", type=float, help="MAC units per ADC full scale")
    fs.add_argument("--out-percentile", type=float, default=99.9)
    fs.add_argument("--out-headroom", type=float, default=0.8)
    fs.add_argument(
        "--act-percentile",
        type=float,
        default=99.9,
        help="activation percentile put at the largest output code",
    )
    adc = ap.add_argument_group(
        "ADC analog front end (model.sar.AnalogFrontEnd.sample; default ideal)"
    )
    add_front_end_options(adc)
    return ap.parse_args(argv)


def import_main(argv) -> int:
    """``python -m tools.capture import``: one line on stderr and status 2 for bad input."""
    from tools.rtl import config_dict

    args = parse_import_args(argv)
    front_end = {
        k: v
        for k, v in adc_settings(args).items()
        if v or (k == "seed" and any(adc_settings(args).values()))
    }
    terms = FRONT_END_TERMS
    if front_end and not any(front_end.get(k) for k in terms):
        raise UsageError("--adc-seed needs --adc-mismatch/offset/noise/gain/compression")
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
