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
   built-in crossbar's defaults), unless ``full_scale`` is given; the options'
   ranges (:class:`ImportOptions`, docs/captures.md) and a scale that overflows
   float64 or leaves no usable conversion are refused (:func:`_full_scale`);
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
from model.analog.sar_frontend import AnalogFrontEnd, settings_problem
from model.files import check_input_path
from model.flow import calibration
from model.flow.calibration import CALIBRATION_INDEX, MAX_TARGET_CODES, layer_mac
from model.flow.capture import MAX_LABEL, read_npz
from model.flow.head import FIELD_RE as HEAD_FIELD_RE
from model.flow.head import as_float64, layers_from_arrays, make_head
from model.golden.nmpu import MAX_COLUMNS, NMPUConfig, nmpu
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig, adc_codes, nmpu_input

REQUIRED = ("analog_mac", "ideal_mac")
OPTIONAL = ("bias", "labels", "calibration")
#: Largest ``lanes`` chosen by default (the paper's tile: 64 lanes).
DEFAULT_MAX_LANES = 64
#: Range of ``out_percentile`` and ``act_percentile``: each percentile is the clip point of
#: its range (the ADC full scale, the largest output code); below the median, most samples
#: would saturate, which no calibration undoes.
PERCENTILE_RANGE = (50.0, 100.0)


def _real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


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

    def __post_init__(self):
        """The options' ranges (docs/captures.md), checked before any data is read; a
        ``ValueError`` names the command-line option."""
        lo, hi = PERCENTILE_RANGE
        why = {
            "out_percentile": "the percentile of |analog_mac| placed at --out-headroom of the "
            "ADC full scale",
            "act_percentile": "the percentile of the positive activations placed at the "
            "largest output code",
        }
        for name, text in why.items():
            value = getattr(self, name)
            if not (_real(value) and lo <= value <= hi):
                raise ValueError(
                    f"--{name.replace('_', '-')} must be in [{lo:g}, {hi:g}] ({text}; below the "
                    f"median most samples would saturate), not {value!r}"
                )
        h = self.out_headroom
        if not (_real(h) and 0 < h <= 1):
            raise ValueError(
                "--out-headroom must be in (0, 1] (the fraction of the ADC full scale the "
                f"--out-percentile percentile lands at; above 1 it would be clipped), not {h!r}"
            )
        fs = self.full_scale
        if fs is not None and not (_real(fs) and math.isfinite(fs) and fs > 0):
            raise ValueError(f"--full-scale must be positive and finite, not {fs!r}")
        n = self.max_vectors
        if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
            raise ValueError(f"--max-vectors must be >= 1, not {n!r}")
        if not isinstance(self.front_end, dict):
            raise ValueError(
                f"front_end must be a dict of --adc-* settings, not {self.front_end!r}"
            )


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


def read_source(path: str | Path) -> dict[str, Any]:
    """Read and check an import source ``.npz``; arrays with ``analog_mac``/``ideal_mac``
    as [vectors, phases, columns] float64, and ``path`` (the file, which
    :func:`import_arrays` names in its errors). ``ValueError`` names the file and field; a
    FIFO, directory or device is refused before it is opened (``read_npz``)."""
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
        if 0 in a.shape:
            src.fail(name, f"shape {a.shape} has an empty dimension")
        if a.shape[-1] > MAX_COLUMNS:
            src.fail(name, f"{a.shape[-1]} columns: a tile has at most {MAX_COLUMNS}")
        a = as_float64(a, name, src.fail)
        if a.ndim == 2:
            a = a[:, None, :]
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
        out["bias"] = as_float64(bias, "bias", src.fail)
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
    out["path"] = src.path
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
    """Calibrate and build the capture from checked source arrays (:func:`read_source`).

    Every ``ValueError`` names the source file (``src["path"]``, when given): the source's
    values that cannot be scaled (a full scale or ideal MAC beyond float64 or the NMPU),
    the options the source contradicts, a calibration that cannot fit.
    """
    where = src.get("path")
    try:
        return _import_arrays(src, opts, provenance, _Source(where or "import source"))
    except ValueError as exc:
        if where is None or str(exc).startswith(f"{where}: "):
            raise
        raise ValueError(f"{where}: {exc}") from None


def _full_scale(
    src: _Source, analog_cal: np.ndarray, opts: ImportOptions, in_width: int
) -> tuple[float, str]:
    """``out_scale`` (MAC units per ADC full scale) and how it was chosen, refusing a scale
    that overflows float64 or leaves no usable conversion (docs/captures.md):

    * ``--full-scale X``: the ADC saturates calibration samples beyond ``X``, so at least
      half of them must lie inside it (``X`` above the median of ``|analog_mac|``), and one
      code LSB ``X / 2**(in_width-1)`` must not exceed every one of them (all would convert
      to the zero code);
    * a percentile: it must be above 0 (else there is no scale to derive) and divided by
      ``--out-headroom`` finite; the option ranges then guarantee both rules above.
    """
    codes = float(1 << (in_width - 1))  # code LSBs per full scale (the signed view)
    mag = np.abs(analog_cal)
    if opts.full_scale is not None:
        x = float(opts.full_scale)
        median, top = float(np.median(mag)), float(mag.max())
        if not median < x:
            raise ValueError(
                f"--full-scale {x:g} puts at least half of the calibration samples beyond the "
                f"full scale (median |analog_mac| {median:.6g} MAC units), where the ADC "
                "saturates; give more than the median"
            )
        if top < x / codes:
            raise ValueError(
                f"--full-scale {x:g}: one code LSB ({x / codes:.6g} MAC units) is above every "
                f"calibration sample (largest |analog_mac| {top:.6g}), all would convert to "
                f"the zero code; give at most {top * codes:.6g}"
            )
        out_scale, text = x, f"given: {x:g} MAC units"
    else:
        p, h = opts.out_percentile, opts.out_headroom
        if h * codes < 1:
            raise ValueError(
                f"--out-headroom {h:g} puts the {p:g} percentile of |analog_mac| below one code "
                f"LSB (1/{codes:g} of full scale at in_width {in_width}): give at least "
                f"{1 / codes:g}"
            )
        level = float(np.percentile(mag, p))
        if not level > 0:
            zero = float(np.mean(mag == 0))
            src.fail(
                "analog_mac",
                f"the {p:g} percentile of |analog_mac| over the calibration vectors is 0 "
                f"({100 * zero:.1f} % of their samples are 0): no full scale to derive; "
                "give --full-scale",
            )
        out_scale = choose_out_scale(analog_cal, p, h)
        if not math.isfinite(out_scale):
            c = int(np.unravel_index(np.argmax(mag), mag.shape)[-1])
            src.fail(
                "analog_mac",
                f"the {p:g} percentile of |analog_mac| ({level:.6g}) at --out-headroom {h:g} of "
                f"full scale overflows float64 (column {c} reaches {float(mag.max()):.6g}); "
                "rescale the source or give --full-scale",
            )
        text = (
            f"{out_scale:.6g} MAC units: the {p:g} percentile of |analog_mac| "
            f"over the calibration vectors at {h:g} of full scale"
        )
    if not out_scale / codes > 0:
        src.fail(
            "analog_mac",
            f"the full scale {out_scale:.6g} MAC units is too small for float64: its code LSB "
            f"(1/{codes:g} of it) underflows; rescale the source",
        )
    return out_scale, text


def _check_scaled(src: _Source, analog_mac, ideal_mac, bias, cfg, out_scale: float) -> None:
    """The source's values against the chosen full scale, all vectors: ``analog_mac /
    out_scale`` finite, ``|ideal_mac|`` within :data:`~model.flow.calibration.MAX_TARGET_CODES`
    code LSBs (no NMPU accumulator holds more), and the layer output ``sum_k w_k
    ideal_mac[k] + bias`` finite. Each refusal names the field, vector and column."""

    def where(mask) -> str:
        v, *_, c = (int(i) for i in np.argwhere(mask)[0])
        return f"vector {v}, column {c}"

    q = out_scale / float(1 << (cfg.in_width - 1))
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(analog_mac / out_scale)
        if bad.any():
            src.fail(
                "analog_mac",
                f"value at {where(bad)} overflows float64 divided by the full scale "
                f"{out_scale:.6g} MAC units",
            )
        bad = np.abs(ideal_mac) > MAX_TARGET_CODES * q
        if bad.any():
            v = float(ideal_mac[tuple(np.argwhere(bad)[0])])
            src.fail(
                "ideal_mac",
                f"{v:.6g} at {where(bad)} is beyond 2**62 code LSBs ({q:.6g} MAC units each at "
                f"the full scale {out_scale:.6g}), more than any NMPU accumulator holds (are "
                "analog_mac and ideal_mac in the same units?)",
            )
        m = layer_mac(cfg, ideal_mac)
        bad = ~np.isfinite(m)
        if bad.any():
            at = where(bad[:, None, :])
            src.fail("ideal_mac", f"the layer MAC (phases weighted, summed) overflows at {at}")
        bad = ~np.isfinite(m + bias)
        if bad.any():
            at = where(bad[:, None, :])
            src.fail("bias", f"the layer output (MAC + bias) overflows float64 at {at}")


def _import_arrays(src, opts: ImportOptions, provenance, source: _Source) -> Imported:
    analog_mac, ideal_mac = src["analog_mac"], src["ideal_mac"]
    vectors, phases, columns = analog_mac.shape
    sar_dict, nm_dict = _configs(columns, phases, opts)
    sar_cfg, nm_cfg = SARConfig.from_dict(sar_dict), NMPUConfig.from_dict(nm_dict)
    bad = settings_problem(sar_cfg, opts.front_end)
    if bad is not None:
        raise ValueError(f"--adc-{bad[0]} {bad[1]}")
    user = set(opts.nmpu_set)
    cal_idx, scored, split_text = split(vectors, src.get("calibration"))
    if opts.max_vectors is not None:
        scored = scored[: opts.max_vectors]
        split_text += f"; the first {scored.size} scored vectors are written"

    out_scale, scale_text = _full_scale(source, analog_mac[cal_idx], opts, nm_cfg.in_width)
    _check_scaled(source, analog_mac, ideal_mac, src["bias"], nm_cfg, out_scale)
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
        if not math.isfinite(need / top):
            return None
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
    """SHA-256 of the source file (recorded in the provenance); a path that is not a regular
    file is refused before it is opened (``model.files.check_input_path``)."""
    check_input_path(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
