"""Import analog data from any simulator or chip into a capture (DESIGN 5.2).

The source is a plain ``.npz`` of arrays (no metadata, no pickle):

===================  ==================================  ===============================
field                shape                               meaning
===================  ==================================  ===============================
``analog_mac``       [vectors, columns] or               column outputs in MAC units
                     [vectors, phases, columns] float    (weight x input) before the ADC
``ideal_mac``        same                                the exact float MAC (reference)
``bias``             [columns] float, optional           the layer's bias (default 0)
``labels``           [vectors] int, optional             class labels
``head_weight_<i>``  [in, out] float, optional           the network after this layer:
``head_bias_<i>``    [out] float, optional               ReLU between, argmax at the end
``calibration``      [vectors] bool, optional            vectors that fit the correction
===================  ==================================  ===============================

:func:`import_arrays` then

1. splits the vectors: ``calibration`` True fits the per-column correction and
   False is scored and written to the capture; without ``calibration``, even
   indices (0, 2, ...) calibrate and odd ones are scored (one vector: both);
2. chooses the ADC full scale ``out_scale`` (MAC units per full scale): the
   ``out_percentile`` percentile of ``|analog_mac|`` over the calibration
   vectors and all phases at ``out_headroom`` of full scale (99.9 and 0.8, the
   built-in crossbar's defaults), unless ``full_scale`` is given;
3. converts the calibration vectors through the SAR model with the chosen
   analog front end and calibrates the NMPU (``model.flow.calibration``,
   saturating and reporting weak columns), choosing the formats the user did
   not set where the defaults cannot hold the result: ``offset_fmt`` wide enough
   for unsigned codes, ``out_lsb_cut``/``out_round_bits`` for ``bn = False``,
   ``out_lsb_cut`` so that ``bn_scale`` fits, ``mid_width`` so that the stage-1
   output does not saturate;
4. returns ``model.capture.save`` keyword arguments (scored vectors only, the
   head, and a provenance recording the source, the split, the choices and the
   float and golden-model accuracies) plus the report lines.

Phases: ``phases > 1`` needs the phase weights, ``--nmpu-set phase_shifts=[...]``
and/or ``phase_signs=[...]``; the layer's MAC is ``sum_k sign_k 2**shift_k mac_k``
(DESIGN 3.3).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.analog.crossbar import choose_out_scale
from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import calibration
from model.flow.calibration import CALIBRATION_INDEX
from model.flow.capture import MAX_LABEL, read_npz
from model.flow.head import FIELD_RE as HEAD_FIELD_RE
from model.flow.head import layers_from_arrays, make_head
from model.golden.nmpu import NMPUConfig, nmpu
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig, adc_codes, nmpu_input

REQUIRED = ("analog_mac", "ideal_mac")
OPTIONAL = ("bias", "labels", "calibration")
#: Largest ``lanes`` chosen by default (the paper's tile: 64 lanes).
DEFAULT_MAX_LANES = 64


@dataclass(frozen=True)
class ImportOptions:
    """What the user chooses on the command line (``tools.capture import``).

    ``nmpu_set`` / ``sar_set``: config fields (``NMPUConfig`` / ``SARConfig``) to set;
    ``front_end``: ``AnalogFrontEnd.sample`` settings (``{}``: ideal ADC);
    ``max_vectors``: keep at most this many scored vectors (first ones);
    ``saturate``: clamp parameters outside their formats (reported) instead of failing.
    """

    lanes: int | None = None
    nmpu_set: dict = field(default_factory=dict)
    sar_set: dict = field(default_factory=dict)
    front_end: dict = field(default_factory=dict)
    full_scale: float | None = None
    out_percentile: float = 99.9
    out_headroom: float = 0.8
    act_percentile: float = 99.9
    max_vectors: int | None = None
    saturate: bool = True


@dataclass
class Imported:
    """The capture to write (``model.capture.save`` keyword arguments) and the report."""

    capture: dict[str, Any]
    report: list[str]


class _Source:
    """Raises ``ValueError("<file>: field '<name>': <problem>")`` for the import source."""

    def __init__(self, path):
        self.path = str(path)

    def fail(self, name: str, problem: str):
        raise ValueError(f"{self.path}: field '{name}': {problem}")


def valid_lanes(columns: int, limit: int = DEFAULT_MAX_LANES) -> list[int]:
    """Every ``lanes`` dividing ``columns`` (at most ``limit``), ascending."""
    return [n for n in range(1, min(columns, limit) + 1) if columns % n == 0]


def choose_lanes(columns: int, lanes: int | None) -> int:
    """``lanes`` if it divides ``columns`` (else a ``ValueError`` suggesting one), or the
    largest divisor of ``columns`` up to 64 when not given."""
    if lanes is None:
        return valid_lanes(columns)[-1]
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"--lanes must be a positive integer, not {lanes!r}")
    if columns % lanes:
        ok = valid_lanes(columns, columns)
        near = min(ok, key=lambda n: (abs(n - lanes), -n))
        shown = ", ".join(str(n) for n in ok if n <= 256)
        raise ValueError(
            f"--lanes {lanes} does not divide the {columns} columns (lanes must divide columns); "
            f"valid: {shown}; e.g. --lanes {near}"
        )
    return lanes


def read_source(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check an import source ``.npz``; arrays with ``analog_mac``/``ideal_mac``
    as [vectors, phases, columns] float64. ``ValueError`` names the file and field."""
    src = _Source(path)
    arrays = read_npz(path, "import source")
    for name in REQUIRED:
        if name not in arrays:
            src.fail(name, "missing (required: analog_mac and ideal_mac)")
    unknown = sorted(
        n for n in arrays if n not in REQUIRED + OPTIONAL and not HEAD_FIELD_RE.match(n)
    )
    if unknown:
        src.fail(unknown[0], f"unknown field (known: {', '.join(REQUIRED + OPTIONAL)}, head_*)")
    out: dict[str, Any] = {}
    shape = None
    for name in REQUIRED:
        a = arrays[name]
        if a.dtype.kind not in "fiu":
            src.fail(name, f"dtype {a.dtype} is not a real number type")
        if a.ndim not in (2, 3):
            src.fail(
                name, f"must be [vectors, columns] or [vectors, phases, columns], not {a.shape}"
            )
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 2:
            a = a[:, None, :]
        if 0 in a.shape:
            src.fail(name, f"shape {arrays[name].shape} has an empty dimension")
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            src.fail(name, f"non-finite value at index {[int(i) for i in bad[0]]}")
        if shape is not None and a.shape != shape:
            src.fail(
                name, f"shape {arrays[name].shape} != analog_mac's {arrays['analog_mac'].shape}"
            )
        shape = a.shape
        out[name] = a
    vectors, _, columns = shape
    bias = arrays.get("bias")
    if bias is None:
        out["bias"] = np.zeros(columns)
    else:
        if bias.dtype.kind not in "fiu" or bias.shape != (columns,):
            src.fail("bias", f"must be a real [columns] = ({columns},) array, not {bias.dtype} "
                     f"{bias.shape}")  # fmt: skip
        out["bias"] = np.asarray(bias, dtype=np.float64)
        if not np.all(np.isfinite(out["bias"])):
            src.fail("bias", "non-finite value")
    labels = arrays.get("labels")
    if labels is not None:
        if labels.dtype.kind not in "iu" or labels.shape != (vectors,):
            src.fail("labels", f"must be an integer [vectors] = ({vectors},) array, not "
                     f"{labels.dtype} {labels.shape}")  # fmt: skip
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) > MAX_LABEL):
            src.fail("labels", f"values must be in [0, {MAX_LABEL}], found "
                     f"[{int(labels.min())}, {int(labels.max())}]")  # fmt: skip
        out["labels"] = np.asarray(labels, dtype=np.int64)
    mask = arrays.get("calibration")
    if mask is not None:
        if mask.dtype.kind != "b" or mask.shape != (vectors,):
            src.fail("calibration", f"must be a bool [vectors] = ({vectors},) array, not "
                     f"{mask.dtype} {mask.shape}")  # fmt: skip
        if not mask.any():
            src.fail("calibration", "selects no vector")
        out["calibration"] = np.asarray(mask)
    head = make_head(layers_from_arrays(arrays, src.fail), columns, src.fail)
    if head is not None and labels is not None and labels.size and labels.max() >= head.classes:
        src.fail("labels", f"label {int(labels.max())} is not one of the head's {head.classes} "
                 "classes")  # fmt: skip
    out["head"] = head
    return out


def split(vectors: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Calibration and scored vector indices, and how they were chosen (for the report)."""
    idx = np.arange(vectors)
    if mask is not None:
        cal, scored = idx[mask], idx[~mask]
        if scored.size == 0:
            return cal, cal, f"all {vectors} vectors calibrate and are scored (in-sample)"
        return (
            cal,
            scored,
            (
                f"{cal.size} vectors marked by 'calibration' calibrate; the other {scored.size} "
                "are scored"
            ),
        )
    if vectors == 1:
        return idx, idx, "the one vector calibrates and is scored (in-sample)"
    return (
        idx[0::2],
        idx[1::2],
        (
            f"even vectors ({(vectors + 1) // 2}) calibrate, odd vectors ({vectors // 2}) are "
            "scored (no 'calibration' field)"
        ),
    )


def _configs(columns: int, phases: int, opts: ImportOptions) -> tuple[dict, dict]:
    """The SAR and NMPU config dicts: the user's settings plus what the source fixes."""
    sar = {"columns": columns, **opts.sar_set}
    nm = dict(opts.nmpu_set)
    for key, value in (("columns", columns), ("phases", phases)):
        if key in nm and nm[key] != value:
            raise ValueError(
                f"--nmpu-set {key}={nm[key]!r} contradicts the source ({value} {key} in analog_mac)"
            )
    if "columns" in opts.sar_set and opts.sar_set["columns"] != columns:
        raise ValueError(f"--sar-set columns={opts.sar_set['columns']!r} contradicts the source "
                         f"({columns} columns in analog_mac)")  # fmt: skip
    if "lanes" in nm and opts.lanes is not None and nm["lanes"] != opts.lanes:
        raise ValueError("--lanes and --nmpu-set lanes= disagree")
    nm["lanes"] = choose_lanes(columns, nm.get("lanes", opts.lanes))
    nm.update(columns=columns, phases=phases)
    if phases > 1 and "phase_shifts" not in nm and "phase_signs" not in nm:
        raise ValueError(
            f"the source has {phases} phases: give their weights with --nmpu-set "
            "phase_shifts=[...] (bit slices) and/or phase_signs=[...] (e.g. [1,-1] for "
            "positive/negative passes)"
        )
    sar_cfg = SARConfig.from_dict(sar)
    nm.setdefault("in_width", sar_cfg.out_width)
    if nm.get("in_signed") is False and "offset_fmt" not in nm:
        # Unsigned codes: the zero MAC sits at code 2**(in_width-1), which the offset holds.
        nm["offset_fmt"] = f"Q({nm['in_width'] + 2},1)"
    if nm.get("bn") is False:
        frac_y = NMPUConfig.from_dict({**nm, "out_lsb_cut": 0, "out_round_bits": 0}).frac_y
        nm.setdefault("out_lsb_cut", 0)
        nm.setdefault("out_round_bits", frac_y)  # output LSB = one code LSB
    return sar, nm


def import_arrays(
    src: dict[str, Any], opts: ImportOptions, *, provenance: dict | None = None
) -> Imported:
    """Calibrate and build the capture from checked source arrays (:func:`read_source`)."""
    analog_mac, ideal_mac = src["analog_mac"], src["ideal_mac"]
    vectors, phases, columns = analog_mac.shape
    sar_dict, nm_dict = _configs(columns, phases, opts)
    user = set(opts.nmpu_set)
    cal_idx, scored, split_text = split(vectors, src.get("calibration"))
    if opts.max_vectors is not None:
        if opts.max_vectors < 1:
            raise ValueError(f"--max-vectors must be >= 1, not {opts.max_vectors}")
        scored = scored[: opts.max_vectors]
        split_text += f"; the first {scored.size} scored vectors are written"

    if opts.full_scale is not None:
        if not (math.isfinite(opts.full_scale) and opts.full_scale > 0):
            raise ValueError(f"--full-scale must be positive and finite, not {opts.full_scale}")
        out_scale, scale_text = float(opts.full_scale), f"given: {opts.full_scale:g} MAC units"
    else:
        try:
            out_scale = choose_out_scale(
                analog_mac[cal_idx], opts.out_percentile, opts.out_headroom
            )
        except ValueError as exc:
            raise ValueError(f"ADC full scale: {exc} (analog_mac is all zero?)") from None
        scale_text = (
            f"{out_scale:.6g} MAC units: the {opts.out_percentile:g} percentile of |analog_mac| "
            f"over the calibration vectors at {opts.out_headroom:g} of full scale"
        )
    analog = analog_mac / out_scale

    chosen: list[str] = []
    for _ in range(4):  # formats the user did not set are adjusted at most a few times
        cfg = TileConfig(SARConfig.from_dict(sar_dict), NMPUConfig.from_dict(nm_dict))
        fe = AnalogFrontEnd.sample(cfg.sar, **opts.front_end)
        codes, _ = adc_codes(cfg, fe, analog[cal_idx], first_index=CALIBRATION_INDEX)
        cal = calibration.calibrate(
            cfg.nmpu,
            nmpu_input(cfg, codes),
            ideal_mac[cal_idx],
            out_scale=out_scale,
            bias=src["bias"],
            act_percentile=opts.act_percentile,
            saturate=opts.saturate,
        )
        change = _format_change(cfg.nmpu, cal, user, out_scale)
        if not change:
            break
        key, value, why = change
        chosen.append(f"{key} = {value} ({why})")
        nm_dict[key] = value

    head = src.get("head")
    labels = src.get("labels")
    reference = calibration.reference_outputs(cfg.nmpu, cal, ideal_mac[scored], bias=src["bias"])
    codes, _ = adc_codes(cfg, fe, analog[scored])
    out = nmpu(cfg.nmpu, nmpu_input(cfg, codes), **cal.params())
    err = out - reference
    lab = labels[scored] if labels is not None else None
    float_acc = golden_acc = None
    if head is not None and lab is not None:
        float_acc = head.accuracy(reference * cal.act_lsb, lab)
        golden_acc = head.accuracy(out * cal.act_lsb, lab)

    report = [
        f"vectors: {split_text}",
        f"ADC full scale: {scale_text}",
        f"ADC front end: {opts.front_end or 'ideal'}",
        f"NMPU: {columns} columns in {cfg.nmpu.lanes} lanes, {phases} phase(s)"
        + (
            f" (shifts {list(cfg.nmpu.phase_shifts)}, signs {list(cfg.nmpu.phase_signs)})"
            if phases > 1
            else ""
        ),  # fmt: skip
        *[f"chose {c}" for c in chosen],
        *[f"calibration: {line}" for line in cal.report()],
        f"golden model on the scored vectors: RMS error {float(np.sqrt(np.mean(err**2))):.3f} "
        "output LSB vs float",
        "accuracy: "
        + (
            f"float {100 * float_acc:.2f} %, golden chain {100 * golden_acc:.2f} % "
            f"({scored.size} scored vectors, the source's head)"
            if float_acc is not None
            else "not available ("
            + ("the source has no network head" if head is None else "the source has no labels")
            + ")"
        ),
    ]
    prov = {
        "simulator": "import",
        "vectors": split_text,
        "scored_vectors": _ranges(scored),
        "calibration_vectors": _ranges(cal_idx),
        "adc_full_scale": scale_text,
        "adc_front_end": dict(opts.front_end),
        "noise": {"adc": "SAR model with the front end adc_front_end, in calibration and make sim"},
        "formats_chosen": chosen,
        "calibration_report": cal.report(),
        "float_accuracy": float_acc,
        "golden_accuracy": golden_acc,
        **(provenance or {}),
    }
    capture = {
        "analog": analog[scored],
        **cal.params(),
        "reference": reference,
        "labels": lab,
        "sar_config": cfg.sar,
        "nmpu_config": cfg.nmpu,
        "provenance": prov,
        "scaling": cal.scaling(),
        "head": head,
    }
    return Imported(capture, report)


def _format_change(cfg: NMPUConfig, cal, user: set, out_scale: float):
    """One format setting to change (key, value, why) so the calibration fits, or None."""
    sat = cal.saturated
    if cal.mid_saturation and "mid_width" not in user:
        return "mid_width", cfg.mid_width + 1, "the stage-1 output saturated"
    if cfg.bn and sat.get("bn_scale") and "out_lsb_cut" not in user and cfg.out_lsb_cut > 0:
        q = out_scale / (1 << (cfg.in_width - 1))
        need = q / (cal.act_lsb * 2.0**cal.out_frac)
        top = cfg.bn_scale_fmt.max_raw / (1 << cfg.bn_scale_fmt.frac_bits)
        k = max(1, math.ceil(math.log2(need / top)))
        return "out_lsb_cut", max(0, cfg.out_lsb_cut - k), "bn_scale did not fit"
    return None


def _ranges(idx: np.ndarray) -> str:
    """Indices as compact ranges: ``0-9, 12, 14-20``."""
    idx = [int(i) for i in idx]
    if not idx:
        return ""
    parts, start, prev = [], idx[0], idx[0]
    for i in idx[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        step_parts = f"{start}-{prev}" if prev > start else f"{start}"
        parts.append(step_parts)
        if i is not None:
            start = prev = i
    if len(parts) > 8 and all(b - a == 2 for a, b in zip(idx, idx[1:], strict=False)):
        return f"{idx[0]}, {idx[1]}, ..., {idx[-1]} (every other)"
    return ", ".join(parts) if len(parts) <= 8 else ", ".join(parts[:8]) + f", ... ({len(idx)})"


def source_digest(path: str | Path) -> str:
    """SHA-256 of the source file (recorded in the provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
