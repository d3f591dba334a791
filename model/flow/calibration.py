"""Derive the NMPU per-column parameters from a simulated chip and a trained layer.

Nothing here is invented per column: the correction ``scale``/``offset`` are
least-squares fits of the chip's measured ADC codes against the ideal codes,
and ``bn_scale``/``bn_offset`` fold the layer's bias (or batch-norm) and the
chosen output quantum into the NMPU's second affine (DESIGN 3.2, 3.3). Every
value is rounded to its format and must fit: :func:`quantise` raises a
``ValueError`` naming the parameter, column, value and format otherwise.

Units (one column, ``phases = 1``)
----------------------------------
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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.golden.fixed import QFormat


def quantise(values, fmt: QFormat, name: str, *, saturate: bool = False) -> np.ndarray:
    """Round real ``values`` [columns] to raw integers of ``fmt`` (nearest, ties away from 0).

    A value outside the format raises ``ValueError`` naming ``name``, the column,
    the value and the format, unless ``saturate`` is set (then it is clamped).
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        c = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"calibration: {name}[{c}] = {v[c]} is not finite")
    scaled = v * float(1 << fmt.frac_bits)
    raw = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    bad = np.flatnonzero((raw < fmt.min_raw) | (raw > fmt.max_raw))
    if bad.size and not saturate:
        c = int(bad[0])
        lo = fmt.min_raw / (1 << fmt.frac_bits)
        hi = fmt.max_raw / (1 << fmt.frac_bits)
        raise ValueError(
            f"calibration: {name}[{c}] = {v[c]:.6g} does not fit {fmt} "
            f"(range [{lo}, {hi}]); {bad.size} column(s) out of range"
        )
    return np.clip(raw, fmt.min_raw, fmt.max_raw).astype(np.int64)


def fit_correction(codes, target, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column correction ``target ~ gain * codes + offset`` from a least-squares fit.

    The fit characterises each column as ``codes ~ slope * target + intercept``
    (measured vs ideal code, as a chip calibration does) and inverts it:
    ``gain = 1 / slope``, ``offset = -intercept / slope``. The corrected code is
    then unbiased given the ideal value (no regression dilution by noise).

    ``codes`` (signed ADC codes) and ``target`` (ideal MAC in code LSBs) are
    [vectors, columns]. Samples with a code on a rail are excluded. Returns
    ``gain``, ``offset`` and the number of samples used per column. A column
    whose codes do not vary, or whose ideal values span less than one code,
    gets ``gain = 0`` and the mean target as offset.
    """
    codes = np.asarray(codes, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if codes.shape != target.shape or codes.ndim != 2:
        raise ValueError(f"codes {codes.shape} and target {target.shape} must match, 2-D")
    half = 1 << (width - 1)
    use = (codes > -half) & (codes < half - 1)
    n = use.sum(axis=0)
    gain = np.empty(codes.shape[1])
    offset = np.empty(codes.shape[1])
    for c in range(codes.shape[1]):
        x, t = codes[use[:, c], c], target[use[:, c], c]
        if x.size == 0:
            raise ValueError(
                f"calibration: every calibration sample of column {c} is clipped at an ADC "
                "rail; lower the crossbar's out_headroom or use other calibration vectors"
            )
        if np.ptp(x) == 0 or np.ptp(t) < 1.0:
            # A dead column (e.g. all-zero weights, ideal values spanning less than one
            # code): the gain is not observable, so the correction is the mean target.
            gain[c], offset[c] = 0.0, float(np.mean(t))
            continue
        # Characterise the column (measured code vs ideal code), then invert it.
        design = np.stack([t, np.ones_like(t)], axis=1)
        (slope, icept), *_ = np.linalg.lstsq(design, x, rcond=None)
        if not abs(slope) > 1e-9:
            raise ValueError(f"calibration: column {c} has no measurable gain ({slope:.3g})")
        gain[c], offset[c] = 1.0 / slope, -icept / slope
    return gain, offset, n


@dataclass(frozen=True)
class Calibration:
    """NMPU per-column parameters (raw integers of their formats) and how they were derived.

    Members
    -------
    scale, offset, bn_scale, bn_offset : int64 ndarray [columns]
        Raw fixed-point values for ``model.nmpu.nmpu`` / the configuration port.
    gain, offset_lsb : float ndarray [columns]
        The unrounded correction fit (gain, offset in code LSBs).
    out_scale : float
        MAC units per ADC full scale (from the crossbar).
    act_lsb : float
        Layer-output units per NMPU output LSB.
    out_frac : int
        Fraction bits of the NMPU output integer.
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


def choose_act_lsb(h, out_max: int, percentile: float = 99.9) -> float:
    """Output quantum putting the ``percentile`` of positive activations ``h`` at ``out_max``."""
    h = np.asarray(h, dtype=np.float64)
    pos = h[h > 0]
    if pos.size == 0:
        raise ValueError("calibration: no positive activation to size the output range on")
    return float(np.percentile(pos, percentile)) / out_max


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
) -> Calibration:
    """Fit the correction and fold the layer affine into the NMPU parameters.

    Parameters
    ----------
    cfg : model.nmpu.NMPUConfig (or an object with its fields)
        Uses ``columns``, ``phases``, ``in_width``, ``in_signed``, ``bn``, the four
        ``*_fmt`` formats, the cut/round fields and ``out_width``.
    codes : int array [vectors, columns]
        Measured signed ADC codes of the calibration vectors (``phases = 1``).
    reference_mac : float array [vectors, columns]
        Ideal float MAC of the same vectors (MAC units).
    out_scale : float
        MAC units per ADC full scale, as used to normalise the analog values.
    bias : float array [columns]
        ``B`` of the layer affine ``h = A * m + B`` (the dense bias, or folded batch-norm).
    bn_gain : float array [columns], optional
        ``A`` of the layer affine (default 1).
    act_lsb : float, optional
        Output quantum; default :func:`choose_act_lsb` of the calibration activations.
    """
    if cfg.phases != 1:
        raise ValueError(f"calibration supports phases = 1 only, not {cfg.phases}")
    if not cfg.in_signed:
        raise ValueError("calibration expects signed ADC codes (NMPUConfig.in_signed = True)")
    if not cfg.bn:
        raise ValueError("calibration folds the layer bias into bn_*: NMPUConfig.bn must be True")
    codes = np.asarray(codes)
    ref = np.asarray(reference_mac, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != cfg.columns:
        raise ValueError(f"codes must have shape (vectors, {cfg.columns}), not {codes.shape}")
    columns = cfg.columns
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (columns,))
    a_gain = np.ones(columns) if bn_gain is None else np.asarray(bn_gain, dtype=np.float64)
    a_gain = np.broadcast_to(a_gain, (columns,))

    q = out_scale / (1 << (cfg.in_width - 1))
    target = ref / q
    gain, offset_lsb, _ = fit_correction(codes, target, cfg.in_width)
    scale = quantise(gain, cfg.scale_fmt, "scale")
    # Re-fit the offset for the rounded gain: mean residual over the unclipped samples.
    half = 1 << (cfg.in_width - 1)
    use = (codes > -half) & (codes < half - 1)
    s_real = scale / float(1 << cfg.scale_fmt.frac_bits)
    resid = np.where(use, target - codes * s_real, 0.0)
    offset_refit = resid.sum(axis=0) / use.sum(axis=0)
    offset = quantise(offset_refit, cfg.offset_fmt, "offset")

    out_frac = cfg.out_frac
    lo, hi = cfg.out_range
    if act_lsb is None:
        act_lsb = choose_act_lsb(a_gain * ref + bias, hi, act_percentile)
    if not act_lsb > 0:
        raise ValueError(f"calibration: act_lsb must be positive, not {act_lsb!r}")
    unit = act_lsb * 2.0**out_frac
    bn_scale = quantise(a_gain * q / unit, cfg.bn_scale_fmt, "bn_scale")
    bn_offset = quantise(bias / unit, cfg.bn_offset_fmt, "bn_offset")
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
    )


def reference_outputs(cfg, cal: Calibration, reference_mac, *, bias, bn_gain=None) -> np.ndarray:
    """Float reference of the NMPU output: the ideal layer output ``h / act_lsb``.

    Activation (ReLU / clip) as configured, unquantised, not saturated to
    ``out_width``: directly comparable with the NMPU's integer outputs.
    """
    ref = np.asarray(reference_mac, dtype=np.float64)
    a_gain = 1.0 if bn_gain is None else np.asarray(bn_gain, dtype=np.float64)
    r = (a_gain * ref + np.asarray(bias, dtype=np.float64)) / cal.act_lsb
    if cfg.activation != "none":
        r = np.maximum(r, 0.0)
    if cfg.activation == "relu_clip":
        r = np.minimum(r, float(cfg.relu_max))
    return r
