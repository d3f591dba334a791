"""Accuracy of the float reference, the FP16 unit and the fixed-point NMPU on a capture,
through the golden chain (numpy only).

For a capture, :func:`chain_outputs` runs the golden tile chain
(``model.golden.tile.tile``: the SAR model with the front end the capture was calibrated
with, then the unit) on every captured vector, once with the NMPU and the capture's
parameters and once with the FP16 unit and the same calibration rounded to binary16
(``model.golden.fp16.fp16_params_from_fixed``); :func:`evaluate` gives the RMS error
against the float reference (output LSBs) and the digits accuracy of the rest of the
network fed each unit's activations. ``tools.accuracy`` prints them (``flows.accuracy``
adds the RTL); ``flows.ppa``'s format sweep reuses them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import digits
from model.flow.capture import Capture
from model.golden.fp16 import fp16_params_from_fixed
from model.golden.tile import tile

#: The committed captures (built-in simulator and aihwkit).
CAPTURES = tuple(
    Path(__file__).resolve().parents[2] / "captures" / f"{name}_digits.npz"
    for name in ("builtin", "aihwkit")
)


def accuracy(cap: Capture, out) -> float:
    """Digits accuracy of the network after the captured layer fed ``out`` (output LSBs)."""
    acc = cap.accuracy(out) if hasattr(cap, "accuracy") else None
    if acc is None:
        mlp = digits.get_mlp(hidden=cap.columns)
        acc = digits.rest_accuracy(mlp, np.asarray(out, np.float64) * cap.scaling["act_lsb"],
                                   cap.labels)  # fmt: skip
    return float(acc)


def chain_outputs(cap: Capture, nmpu_cfg=None, params=None) -> dict[str, np.ndarray]:
    """Golden-chain activations of every vector: ``fixed`` and ``fp16`` (``nmpu_cfg`` /
    ``params`` replace the capture's, e.g. narrowed formats)."""
    cfg = cap.tile_config
    if nmpu_cfg is not None:
        cfg = type(cfg)(cfg.sar, nmpu_cfg)
    params = cap.params() if params is None else params
    fe = AnalogFrontEnd.sample(cfg.sar, **(cap.provenance.get("adc_front_end") or {}))
    fixed = tile(cfg, fe, cap.analog, params).activations
    p16 = fp16_params_from_fixed(cfg.nmpu, params)
    fp16 = tile(cfg, fe, cap.analog, p16, unit="fp16").activations
    return {"fixed": fixed, "fp16": fp16}


def evaluate(cap: Capture, outs: dict[str, np.ndarray]) -> dict[str, dict]:
    """RMS error (output LSBs) and accuracy of each output set, with the float reference."""
    rows = {"float": {"rms_lsb": 0.0, "accuracy": accuracy(cap, cap.reference)}}
    for name, out in outs.items():
        err = np.asarray(out, np.float64) - cap.reference
        rows[name] = {"rms_lsb": float(np.sqrt(np.mean(err**2))), "accuracy": accuracy(cap, out)}
    return rows
