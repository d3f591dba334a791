"""Derive the NMPU per-column parameters from a simulated chip and a trained layer.

Nothing here is invented per column: the correction ``scale``/``offset`` are
least-squares fits of the chip's measured ADC codes against the ideal codes,
and ``bn_scale``/``bn_offset`` fold the layer's bias (or batch-norm) and the
chosen output quantum into the NMPU's second affine (DESIGN 3.2, 3.3). Every
value is rounded to its format and must fit: :func:`quantise` raises a
``ValueError`` naming the parameter, column, value and format otherwise.

Units (one column, one phase)
-----------------------------
* ADC: the signed view ``x = code - 2**(in_width-1)`` of the offset-binary
  code; one code LSB is ``q = out_scale / 2**(in_width-1)`` MAC units, and the
  ideal code of a MAC value ``m`` is ``floor(m / q)`` clipped to the code range.
* Correction: ``a = x * scale + offset`` (real values) estimates ``t = m / q``,
  the ideal MAC in code LSBs. A least-squares fit of the measured codes
  against the ideal ones, ``x ~ slope * t + intercept``, over the calibration
  vectors (samples whose measured code sits on a rail are excluded), inverted,
  gives ``gain = 1 / slope`` and ``offset = -intercept / slope``; for an ideal chip it is
  ``gain = 1``, ``offset = 0.5`` (the floor quantiser's half-LSB bias).
  After rounding ``gain`` the offset is re-fitted as the mean residual.
* Stage 1 keeps ``a`` (``y = a`` up to the stage-1 rounding).
* Batch-norm: the layer output is ``h = A * m + B`` (``A = 1``, ``B = bias``
  for a plain dense layer; ``A = gamma / sqrt(var + eps)``,
  ``B = beta + (bias - mean) * A`` for a folded batch-norm). The NMPU output
  integer is ``out = round(z * 2**out_frac)`` with ``z = y * bn_scale + bn_offset``;
  asking ``out = h / act_lsb`` gives
  ``bn_scale = A * q / (act_lsb * 2**out_frac)``, ``bn_offset = B / (act_lsb * 2**out_frac)``.
* ``act_lsb`` (layer-output units per output LSB) defaults to the
  ``act_percentile`` percentile of the float activations over the calibration
  vectors divided by the largest output code.

Several phases
--------------
The NMPU applies one ``scale``/``offset`` to every phase and accumulates
``acc = sum_k w_k * a_k`` with ``w_k = phase_signs[k] * 2**phase_shifts[k]``
(DESIGN 3.3). Phase ``k`` is one conversion of the same column (an input bit
slice, or a positive or negative input pass) whose ideal MAC is ``m_k``; the
layer's MAC is ``m = sum_k w_k m_k``. The correction is one fit over the
samples of all phases (same column, same ADC), so ``acc`` estimates ``m / q``
and the batch-norm fold is the one above with that ``m``.

Unsigned codes and ``bn = False``
---------------------------------
With ``in_signed = False`` the NMPU sees the offset-binary code, whose zero is
at ``2**(in_width-1)``: the same fit gives an offset near ``-2**(in_width-1)``,
which ``offset_fmt`` must hold. Without the batch-norm stage (``bn = False``)
the layer affine is folded into the correction: ``scale = A q gain / U``,
``offset = (A q offset_lsb + B / W) / U`` with ``U = act_lsb * 2**out_frac`` and
``W = sum_k w_k`` (a bias needs ``W != 0``), and ``act_lsb`` is raised where needed
so that the scales fit ``scale_fmt``.

Weak columns
------------
A column whose gain is not observable (no varying unclipped sample: all
weights ~0, or every sample on an ADC rail) gets gain 0 and the mean target;
a parameter outside its format is saturated when ``saturate`` is set (the
columns are listed in :attr:`Calibration.saturated` and :meth:`Calibration.report`)
and otherwise a ``ValueError`` naming the parameter, column, value, format and the
setting that would make it fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.golden.fixed import MAX_MODEL_BITS, QFormat, int_range

#: Conversion index of the first calibration read (the ``first_index`` of the ADC
#: conversions of the calibration vectors): far from a capture's own conversions
#: (0, 1, ...), so their comparator-noise draws are independent. Every flow that reads
#: calibration vectors through an ADC (captures, the importer, the whole network,
#: ADC-aware training) uses this one value.
CALIBRATION_INDEX = 1_000_000
#: Largest ``|reference MAC|`` in code LSBs ``q`` that :func:`calibrate` takes: the golden
#: model's integers hold at most ``MAX_MODEL_BITS`` (62) bits, so no NMPU accumulator holds
#: more (and the fit's sums of squares stay far inside float64).
MAX_TARGET_CODES = 2.0**MAX_MODEL_BITS


def quantise(
    values, fmt: QFormat, name: str, *, saturate: bool = False, hint: str = ""
) -> np.ndarray:
    """Round real ``values`` [columns] to raw integers of ``fmt`` (nearest, ties away from 0).

    A value outside the format raises ``ValueError`` naming ``name``, the column,
    the value and the format (plus ``hint``, the cause or the fix), unless
    ``saturate`` is set (then it is clamped; :func:`clamped` tells which columns).
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        c = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(
            f"calibration: {name}[{c}] = {v[c]} is not finite" + (f"; {hint}" if hint else "")
        )
    raw = _round(v, fmt)
    bad = np.flatnonzero((raw < fmt.min_raw) | (raw > fmt.max_raw))
    if bad.size and not saturate:
        c = int(bad[0])
        lo = fmt.min_raw / (1 << fmt.frac_bits)
        hi = fmt.max_raw / (1 << fmt.frac_bits)
        raise ValueError(
            f"calibration: {name}[{c}] = {v[c]:.6g} does not fit {fmt} "
            f"(range [{lo}, {hi}]); {bad.size} column(s) out of range"
            + (f"; {hint}" if hint else "")
        )
    return np.clip(raw, fmt.min_raw, fmt.max_raw).astype(np.int64)


def _round(v: np.ndarray, fmt: QFormat) -> np.ndarray:
    scaled = v * float(1 << fmt.frac_bits)
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)


def clamped(values, fmt: QFormat) -> tuple[int, ...]:
    """Columns whose ``values`` :func:`quantise` would saturate in ``fmt``."""
    raw = _round(np.asarray(values, dtype=np.float64), fmt)
    return tuple(int(c) for c in np.flatnonzero((raw < fmt.min_raw) | (raw > fmt.max_raw)))


def fit_correction(
    codes, target, width: int, signed: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column correction ``target ~ gain * codes + offset`` from a least-squares fit.

    The fit characterises each column as ``codes ~ slope * target + intercept``
    (measured vs ideal code, as a chip calibration does) and inverts it:
    ``gain = 1 / slope``, ``offset = -intercept / slope``. The corrected code is
    then unbiased given the ideal value (no regression dilution by noise).

    ``codes`` (the NMPU's view of the ADC codes: signed, or unsigned offset-binary
    when ``signed`` is False) and ``target`` (ideal MAC in code LSBs) are
    [samples, columns]. Samples with a code on a rail are excluded. Returns
    ``gain``, ``offset`` and the number of samples used per column. A weak column
    (codes that do not vary, ideal values spanning less than one code, or every
    sample on a rail) gets ``gain = 0`` and the mean target as offset.
    """
    codes = np.asarray(codes, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if codes.shape != target.shape or codes.ndim != 2:
        raise ValueError(f"codes {codes.shape} and target {target.shape} must match, 2-D")
    lo, hi = int_range(width, signed)
    use = (codes > lo) & (codes < hi)
    n = use.sum(axis=0)
    gain = np.empty(codes.shape[1])
    offset = np.empty(codes.shape[1])
    for c in range(codes.shape[1]):
        x, t = codes[use[:, c], c], target[use[:, c], c]
        if x.size == 0 or np.ptp(x) == 0 or np.ptp(t) < 1.0:
            # A weak column (e.g. all-zero weights, ideal values spanning less than one
            # code, always clipped): the gain is not observable, the correction is the mean.
            gain[c], offset[c] = 0.0, float(np.mean(t if t.size else target[:, c]))
            continue
        # Characterise the column (measured code vs ideal code), then invert it.
        design = np.stack([t, np.ones_like(t)], axis=1)
        (slope, icept), *_ = np.linalg.lstsq(design, x, rcond=None)
        if not abs(slope) > 1e-9:
            gain[c], offset[c] = 0.0, float(np.mean(t))
            continue
        gain[c], offset[c] = 1.0 / slope, -icept / slope
    return gain, offset, n


@dataclass(frozen=True)
class Calibration:
    """NMPU per-column parameters (raw integers of their formats) and how they were derived.

    Members
    -------
    scale, offset, bn_scale, bn_offset : int64 ndarray [columns]
        Raw fixed-point values for ``model.nmpu.nmpu`` / the configuration port
        (``bn_*`` are zeros when the config has no batch-norm stage).
    gain, offset_lsb : float ndarray [columns]
        The unrounded correction fit (gain, offset in code LSBs).
    out_scale : float
        MAC units per ADC full scale (from the crossbar).
    act_lsb : float
        Layer-output units per NMPU output LSB.
    out_frac : int
        Fraction bits of the NMPU output integer.
    saturated : dict
        Parameter name -> columns whose value was clamped to its format.
    weak : tuple of int
        Columns whose gain was not observable (set to 0: the column outputs a constant).
    clipped : tuple of int
        Columns with no calibration sample off the ADC rails.
    mid_saturation : float
        Fraction of calibration samples (vector x column) saturating the stage-1 output.
    notes : tuple of str
        Choices the calibration made (e.g. a coarser ``act_lsb``), for the report.
    """

    scale: np.ndarray
    offset: np.ndarray
    bn_scale: np.ndarray
    bn_offset: np.ndarray
    gain: np.ndarray
    offset_lsb: np.ndarray
    out_scale: float
    act_lsb: float
    out_frac: int
    saturated: dict = field(default_factory=dict)
    weak: tuple = ()
    clipped: tuple = ()
    mid_saturation: float = 0.0
    notes: tuple = ()

    def params(self) -> dict[str, np.ndarray]:
        """The four raw arrays, keyed as ``model.nmpu.nmpu`` and ``model.capture.save`` want."""
        return {
            "scale": self.scale,
            "offset": self.offset,
            "bn_scale": self.bn_scale,
            "bn_offset": self.bn_offset,
        }

    def scaling(self) -> dict[str, Any]:
        """JSON-able scalars that relate codes and outputs to float units (for capture metadata)."""
        return {
            "out_scale": self.out_scale,
            "act_lsb": self.act_lsb,
            "out_frac": self.out_frac,
        }

    def dequantise(self, out) -> np.ndarray:
        """NMPU output integers -> float layer activations ``out * act_lsb``."""
        return np.asarray(out, dtype=np.float64) * self.act_lsb

    def report(self) -> list[str]:
        """One line per thing a user should know: saturated, weak and clipped columns, choices."""
        lines = []
        for name, cols in self.saturated.items():
            if cols:
                lines.append(f"saturated {name} at its format's limit in column(s) {_cols(cols)}")
        if self.weak:
            lines.append(
                f"weak column(s) {_cols(self.weak)}: gain not observable on the calibration "
                "data (constant output)"
            )
        if self.clipped:
            lines.append(
                f"column(s) {_cols(self.clipped)}: every calibration sample on an ADC rail "
                "(lower the ADC input level)"
            )
        if self.mid_saturation:
            lines.append(
                f"stage-1 output saturates on {100 * self.mid_saturation:.2f} % of calibration "
                "samples (raise mid_width or mid_lsb_cut)"
            )
        return lines + list(self.notes)


def _cols(cols) -> str:
    cols = list(cols)
    text = ", ".join(str(c) for c in cols[:12])
    return text + (f", ... ({len(cols)} in all)" if len(cols) > 12 else "")


def choose_act_lsb(h, out_max: int, percentile: float = 99.9) -> float:
    """Output quantum putting the ``percentile`` of positive activations ``h`` at ``out_max``."""
    if not (isinstance(percentile, (int, float, np.integer, np.floating))
            and 0 < percentile <= 100):  # fmt: skip
        raise ValueError(f"calibration: act_percentile must be in (0, 100], not {percentile!r}")
    h = np.asarray(h, dtype=np.float64)
    pos = h[h > 0]
    if pos.size == 0:
        raise ValueError(
            "calibration: no positive layer activation on the calibration vectors to size "
            "the output range on (check the bias and the MAC sign, or pass act_lsb)"
        )
    return float(np.percentile(pos, percentile)) / out_max


def phase_weights(cfg) -> np.ndarray:
    """``w_k = phase_signs[k] * 2**phase_shifts[k]``: the weight of phase ``k`` in ``acc``."""
    return np.array(
        [sg * float(1 << sh) for sh, sg in zip(cfg.phase_shifts, cfg.phase_signs, strict=True)]
    )


def layer_mac(cfg, phase_mac) -> np.ndarray:
    """The layer MAC ``m = sum_k w_k m_k`` [vectors, columns] of per-phase MACs.

    ``phase_mac``: [vectors, phases, columns], or [vectors, columns] for one phase.
    """
    m = np.asarray(phase_mac, dtype=np.float64)
    if m.ndim == 2:
        m = m[:, None, :]
    if m.ndim != 3 or m.shape[1] != cfg.phases:
        raise ValueError(
            f"per-phase MAC must have shape (vectors, {cfg.phases}, {cfg.columns}), not {m.shape}"
        )
    return np.einsum("vpc,p->vc", m, phase_weights(cfg))


def _fit_hint(name: str, values, fmt: QFormat, cfg) -> str:
    """Why ``values`` do not fit ``fmt`` and which setting would make them fit."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]  # an overflowed value: no format holds it, k counts the others
    top = fmt.max_raw / (1 << fmt.frac_bits)
    ratio = max(float(v.max()) if v.size else 0.0, 1e-300) / top if top > 0 else 1.0
    k = max(1, math.ceil(math.log2(ratio))) if math.isfinite(ratio) else 1
    if name == "bn_scale":
        return (
            f"bn_scale = A q / (act_lsb 2**out_frac) with out_frac = {cfg.out_frac} (set by the "
            "formats' fraction bits and the mid/out cuts); "
            f"out_lsb_cut {cfg.out_lsb_cut - k} or a bn_scale_fmt with {k} more integer bit(s) "
            "would fit, or a larger act_lsb"
        )
    if name == "bn_offset":
        return (
            f"bn_offset = bias / (act_lsb 2**out_frac), out_frac = {cfg.out_frac}; a bn_offset_fmt "
            f"with {k} more integer bit(s) or a larger act_lsb would fit"
        )
    if name == "offset" and not cfg.in_signed:
        return (
            "unsigned ADC codes (in_signed = False) put the zero MAC at code "
            f"{1 << (cfg.in_width - 1)}, so offset_fmt must hold about -{1 << (cfg.in_width - 1)}"
            f" (e.g. Q({cfg.in_width + 1},{fmt.frac_bits}))"
        )
    return f"a {name}_fmt with {k} more integer bit(s) would fit, or pass saturate=True"


def calibrate(
    cfg,
    codes,
    reference_mac,
    *,
    out_scale: float,
    bias,
    bn_gain=None,
    act_lsb: float | None = None,
    act_percentile: float = 99.9,
    saturate: bool = False,
) -> Calibration:
    """Fit the correction and fold the layer affine into the NMPU parameters.

    Parameters
    ----------
    cfg : model.nmpu.NMPUConfig (or an object with its fields)
        Uses ``columns``, ``phases`` with their shifts and signs, ``in_width``,
        ``in_signed``, ``bn``, the four ``*_fmt`` formats, the cut/round fields and
        ``out_width``.
    codes : int array [vectors, phases, columns] (or [vectors, columns] for one phase)
        The NMPU's view of the measured ADC codes of the calibration vectors
        (``model.golden.tile.nmpu_input``: signed or unsigned per ``cfg.in_signed``).
    reference_mac : float array, the shape of ``codes``
        Ideal float MAC of each phase of the same vectors (MAC units).
    out_scale : float
        MAC units per ADC full scale, as used to normalise the analog values.
    bias : float array [columns]
        ``B`` of the layer affine ``h = A * m + B`` (the dense bias, or folded batch-norm).
    bn_gain : float array [columns], optional
        ``A`` of the layer affine (default 1).
    act_lsb : float, optional
        Output quantum; default :func:`choose_act_lsb` of the calibration activations.
    saturate : bool
        Clamp a parameter outside its format (and list the column) instead of raising.
    """
    codes = np.asarray(codes)
    ref = np.asarray(reference_mac, dtype=np.float64)
    if codes.ndim == 2:
        codes = codes[:, None, :]
    if ref.ndim == 2:
        ref = ref[:, None, :]
    want = (cfg.phases, cfg.columns)
    if codes.ndim != 3 or codes.shape[1:] != want:
        raise ValueError(
            f"calibration: codes must have shape (vectors, {cfg.phases}, {cfg.columns}) "
            f"(phases, columns of the NMPU config), not {codes.shape}"
        )
    if ref.shape != codes.shape:
        raise ValueError(
            f"calibration: reference MAC shape {ref.shape} != codes shape {codes.shape}"
        )
    lo, hi = int_range(cfg.in_width, cfg.in_signed)
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(
            f"calibration: codes outside the NMPU's {'signed' if cfg.in_signed else 'unsigned'} "
            f"{cfg.in_width}-bit range [{lo}, {hi}] (in_signed must match the codes' view)"
        )
    vectors, phases, columns = codes.shape
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (columns,))
    a_gain = np.ones(columns) if bn_gain is None else np.asarray(bn_gain, dtype=np.float64)
    a_gain = np.broadcast_to(a_gain, (columns,))
    weights = phase_weights(cfg)
    w_sum = float(weights.sum())
    notes: list[str] = []
    saturated: dict[str, tuple[int, ...]] = {}

    if not (isinstance(out_scale, (int, float, np.integer, np.floating))
            and math.isfinite(out_scale) and out_scale > 0):  # fmt: skip
        raise ValueError(f"calibration: out_scale must be positive and finite, not {out_scale!r}")
    q = out_scale / (1 << (cfg.in_width - 1))
    bad = np.argwhere(~np.isfinite(ref))
    if bad.size:
        raise ValueError(
            f"calibration: reference MAC value at index {[int(i) for i in bad[0]]} is not finite"
        )
    bad = np.argwhere(np.abs(ref) > MAX_TARGET_CODES * q)
    if bad.size:
        v, p, c = (int(i) for i in bad[0])
        raise ValueError(
            f"calibration: reference MAC {ref[v, p, c]:.6g} (vector {v}, phase {p}, column {c}) "
            f"is beyond 2**{MAX_MODEL_BITS} code LSBs of {q:.6g} (out_scale {out_scale:.6g})"
        )
    flat_codes = codes.transpose(1, 0, 2).reshape(phases * vectors, columns)
    target = ref.transpose(1, 0, 2).reshape(phases * vectors, columns) / q
    gain, offset_lsb, n_used = fit_correction(flat_codes, target, cfg.in_width, cfg.in_signed)
    use = (flat_codes > lo) & (flat_codes < hi)
    clipped = tuple(int(c) for c in np.flatnonzero(n_used == 0))
    weak = tuple(int(c) for c in np.flatnonzero(gain == 0))

    m = layer_mac(cfg, ref)  # [vectors, columns], the layer's MAC
    h = a_gain * m + bias
    out_lo, out_hi = cfg.out_range
    out_frac = cfg.out_frac
    if act_lsb is None:
        act_lsb = choose_act_lsb(h, out_hi, act_percentile)
    if not act_lsb > 0:
        raise ValueError(f"calibration: act_lsb must be positive, not {act_lsb!r}")

    def fit(name, values, fmt):
        if saturate:
            saturated[name] = clamped(values, fmt)
        return quantise(
            values, fmt, name, saturate=saturate, hint=_fit_hint(name, values, fmt, cfg)
        )

    if cfg.bn:
        scale = fit("scale", gain, cfg.scale_fmt)
        # Re-fit the offset for the rounded gain: mean residual over the unclipped samples.
        s_real = scale / float(1 << cfg.scale_fmt.frac_bits)
        resid = np.where(use, target - flat_codes * s_real, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            offset_refit = resid.sum(axis=0) / use.sum(axis=0)
        offset_refit = np.where(use.sum(axis=0) > 0, offset_refit, offset_lsb)
        offset = fit("offset", offset_refit, cfg.offset_fmt)
        unit = act_lsb * 2.0**out_frac
        bn_scale = fit("bn_scale", a_gain * q / unit, cfg.bn_scale_fmt)
        bn_offset = fit("bn_offset", bias / unit, cfg.bn_offset_fmt)
        y_real = _stage1(cfg, codes, scale, offset)
    else:
        # No batch-norm stage: the layer affine lives in the correction (module docstring).
        if np.any(bias != 0) and w_sum == 0:
            raise ValueError(
                "calibration: bn = False folds the bias into the correction offset, which the "
                "phases weigh by sum(phase_signs * 2**phase_shifts) = 0; use bn = True"
            )
        smax = cfg.scale_fmt.max_raw / (1 << cfg.scale_fmt.frac_bits)
        need = np.abs(a_gain * q * gain) / (2.0**out_frac * smax)
        need = need[gain != 0]
        if need.size:
            floor = float(np.percentile(need, 90) if saturate else need.max())
            if floor > act_lsb:
                why = (
                    f"; out_frac = {out_frac} makes one output LSB 2**{-out_frac} scale units: "
                    "lower out_lsb_cut / out_round_bits"
                    if floor > 4 * act_lsb
                    else ""
                )
                notes.append(
                    f"act_lsb raised from {act_lsb:.6g} to {floor:.6g} so that the scales fit "
                    f"{cfg.scale_fmt} (bn = False: the scale carries the layer gain){why}"
                )
                act_lsb = floor
        unit = act_lsb * 2.0**out_frac
        scale = fit("scale", a_gain * q * gain / unit, cfg.scale_fmt)
        s_real = scale / float(1 << cfg.scale_fmt.frac_bits)
        # Offset re-fit for the rounded scale, in output units: mean residual.
        goal = (a_gain * q * target) / unit
        resid = np.where(use, goal - flat_codes * s_real, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            o_corr = resid.sum(axis=0) / use.sum(axis=0)
        o_corr = np.where(use.sum(axis=0) > 0, o_corr, a_gain * q * offset_lsb / unit)
        bias_part = bias / (w_sum * unit) if w_sum else np.zeros(columns)
        offset = fit("offset", o_corr + bias_part, cfg.offset_fmt)
        bn_scale = np.zeros(columns, dtype=np.int64)
        bn_offset = np.zeros(columns, dtype=np.int64)
        y_real = _stage1(cfg, codes, scale, offset)
    y_max = float(1 << (cfg.mid_width - 1)) / 2.0**cfg.frac_y
    mid_sat = float(np.mean(np.abs(y_real) >= y_max)) if y_real.size else 0.0
    return Calibration(
        scale=scale,
        offset=offset,
        bn_scale=bn_scale,
        bn_offset=bn_offset,
        gain=gain,
        offset_lsb=offset_lsb,
        out_scale=float(out_scale),
        act_lsb=float(act_lsb),
        out_frac=int(out_frac),
        saturated={k: v for k, v in saturated.items() if v},
        weak=weak,
        clipped=clipped,
        mid_saturation=mid_sat,
        notes=tuple(notes),
    )


def _stage1(cfg, codes, scale, offset) -> np.ndarray:
    """The accumulator value ``sum_k w_k (x_k scale + offset)`` (real units), before stage 1."""
    s = scale / float(1 << cfg.scale_fmt.frac_bits)
    o = offset / float(1 << cfg.offset_fmt.frac_bits)
    a = codes * s + o
    return np.einsum("vpc,p->vc", a, phase_weights(cfg))


def reference_outputs(cfg, cal: Calibration, reference_mac, *, bias, bn_gain=None) -> np.ndarray:
    """Float reference of the NMPU output: the ideal layer output ``h / act_lsb``.

    ``reference_mac``: the ideal MAC per phase, [vectors, phases, columns] (or
    [vectors, columns] for one phase), combined as the NMPU's phases are.
    Activation (ReLU / clip) as configured, unquantised, not saturated to
    ``out_width``: directly comparable with the NMPU's integer outputs.
    """
    ref = layer_mac(cfg, reference_mac)
    a_gain = 1.0 if bn_gain is None else np.asarray(bn_gain, dtype=np.float64)
    r = (a_gain * ref + np.asarray(bias, dtype=np.float64)) / cal.act_lsb
    if cfg.activation != "none":
        r = np.maximum(r, 0.0)
    if cfg.activation == "relu_clip":
        r = np.minimum(r, float(cfg.relu_max))
    return r
