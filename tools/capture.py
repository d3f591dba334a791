"""Regenerate a capture file: ``python -m tools.capture --simulator builtin --out F --seed S``.

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
from pathlib import Path

import numpy as np

from model.analog import crossbar
from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import calibration, capture, digits
from model.golden.nmpu import NMPUConfig, nmpu
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig, adc_codes, nmpu_input
from tools.cli import ArgumentParser, UsageError, run, user_input

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


def adc_settings(args) -> dict:
    return {
        "mismatch": args.adc_mismatch,
        "offset": args.adc_offset,
        "noise": args.adc_noise,
        "seed": args.adc_seed,
    }


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
    return " ".join(parts)


def build(args) -> dict:
    """Run the flow; return the keyword arguments of ``model.capture.save``."""
    mlp_cache = Path(args.mlp_cache) if args.mlp_cache else None
    if mlp_cache is not None and mlp_cache.exists():
        mlp = digits.MLP.load(mlp_cache)
        if mlp.hidden != args.hidden:
            raise UsageError(f"{mlp_cache}: hidden width {mlp.hidden} != --hidden {args.hidden}")
    else:
        mlp = digits.train_mlp(args.hidden)
        if mlp_cache is not None:
            mlp_cache.parent.mkdir(parents=True, exist_ok=True)
            mlp.save(mlp_cache)
    data = digits.load_data()
    if not 1 <= args.vectors <= len(data.y_test):
        raise UsageError(f"--vectors must be in [1, {len(data.y_test)}], not {args.vectors}")
    x_cal = data.x_train
    x = data.x_test[: args.vectors]
    labels = data.y_test[: args.vectors]

    xcfg = crossbar.CrossbarConfig(
        rows=mlp.w1.shape[0], t_inference=args.t_inference, dac_bits=args.dac_bits
    )
    if args.simulator == "builtin":
        result = crossbar.simulate(xcfg, mlp.w1, x, seed=args.seed, calib_x=x_cal)
        sim_version = {"model.crossbar": crossbar.MODEL_VERSION, "numpy": np.__version__}
    else:
        from model.analog import aihwkit_adapter

        result = aihwkit_adapter.simulate(xcfg, mlp.w1, x, seed=args.seed, calib_x=x_cal)
        sim_version = aihwkit_adapter.versions()

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
        "noise": {
            "model": "PCM, Nandakumar et al. ICECS 2019 (aihwkit PCMLikeNoiseModel constants)",
            "prog_noise_scale": xcfg.prog_noise_scale,
            "drift_scale": xcfg.drift_scale,
            "read_noise_scale": xcfg.read_noise_scale,
            "t_inference_s": xcfg.t_inference,
            "adc": "SAR model with the sampled front end below, in calibration and make sim",
        },
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
    }


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
    args = parse_args(argv)
    with user_input():  # front-end settings, calibration that does not fit, a bad capture
        kw = build(args)
        path = capture.save(args.out, **kw)
    prov = kw["provenance"]
    print(
        f"{path}: {kw['analog'].shape[0]} vectors x {kw['analog'].shape[2]} columns; "
        f"float acc {prov['float_accuracy']:.4f}, golden chain acc {prov['golden_accuracy']:.4f}"
    )
    print(json.dumps(kw["scaling"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
