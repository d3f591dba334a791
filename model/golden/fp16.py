"""Golden model of the FP16 baseline unit (DESIGN section 7) and its binary16 operators.

Every function works on raw IEEE 754 binary16 bit patterns held in integer
numpy arrays (any integer dtype; results are ``uint16``) with integer
operations only: no float type is used, so the model says exactly what the
RTL (``hw.fp16``) computes, independently of the host's floating point.

Each operation computes its exact result as ``sign * sig * 2**exp`` with a
wide integer ``sig`` and rounds it once with :func:`round_pack`:
round-to-nearest, ties to even; subnormals kept (no flush to zero); overflow
to infinity. This "exact, then round once" structure differs from the RTL's
guard/round/sticky datapaths on purpose, so the two are not the same
algorithm written twice.

Special values (the hardware does the same):

* signed zeros: ``x + (-x) = +0``, ``-0 + -0 = -0``; a product's sign is the
  XOR of the operands' signs, also for zeros and infinities;
* ``inf - inf``, ``0 * inf`` and any NaN operand give the one canonical
  quiet NaN :data:`QNAN` (``0x7E00``, sign clear); NaN payloads are not
  propagated;
* the unit's output stage maps NaN to 0 (see :func:`to_int_rne`).
"""

from __future__ import annotations

import numpy as np

from .nmpu import NMPUConfig, check_codes, check_params

__all__ = [
    "EXP_BITS",
    "MAN_BITS",
    "BIAS",
    "POS_INF",
    "NEG_INF",
    "QNAN",
    "MAX_FINITE",
    "round_pack",
    "fp16_add",
    "fp16_mul",
    "fp16_neg",
    "fp16_ldexp",
    "fp16_from_int",
    "to_int_rne",
    "is_nan",
    "check_fp16_params",
    "fp16_params_from_fixed",
    "fp16_unit",
]

EXP_BITS, MAN_BITS, BIAS = 5, 10, 15
POS_INF, NEG_INF, QNAN = 0x7C00, 0xFC00, 0x7E00
MAX_FINITE = 0x7BFF  # 65504
_EXP_MASK, _MAN_MASK, _SIGN = 0x7C00, 0x03FF, 0x8000
#: Exponent of a significand's LSB for biased exponent field 1 (and subnormals): 2**-24.
_LSB_EXP = 1 - BIAS - MAN_BITS


def _u(a) -> np.ndarray:
    """Raw patterns as int64 (bits above 16 must be clear)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"fp16: bit patterns must be an integer array, not dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any((arr < 0) | (arr > 0xFFFF)):
        raise ValueError("fp16: bit patterns must be in [0, 0xFFFF]")
    return arr


def _fields(a: np.ndarray):
    """sign (0/1), biased exponent field, significand with hidden bit, LSB exponent."""
    sign = a >> 15
    e = (a >> MAN_BITS) & 0x1F
    m = a & _MAN_MASK
    sig = np.where(e != 0, m | (1 << MAN_BITS), m)
    exp = np.maximum(e, 1) + _LSB_EXP - 1  # value = sig * 2**exp for finite a
    return sign, e, m, sig, exp


def is_nan(a) -> np.ndarray:
    a = _u(a)
    return ((a & _EXP_MASK) == _EXP_MASK) & ((a & _MAN_MASK) != 0)


def _is_inf(a: np.ndarray) -> np.ndarray:
    return (a & 0x7FFF) == POS_INF


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values (0 for 0), by binary search on shifts."""
    v = v.copy()
    n = np.zeros(v.shape, np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = v >= (1 << step)
        n += np.where(big, step, 0)
        v = np.where(big, v >> step, v)
    return n + (v > 0)


def _shift_rne(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """round_half_even(v / 2**r) for v >= 0 and any integer r (left shift when r < 0)."""
    r = np.broadcast_to(r, v.shape)
    left = np.where(r < 0, v << np.clip(-r, 0, 62), 0)
    rr = np.clip(r, 0, 62)
    q = v >> rr
    rem = v - (q << rr)
    half = np.where(rr > 0, np.int64(1) << np.maximum(rr - 1, 0), 0)
    up = (rr > 0) & ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    return np.where(r < 0, left, q + up)


def round_pack(sign, sig, exp) -> np.ndarray:
    """Round ``(-1)**sign * sig * 2**exp`` (``sig >= 0`` an exact integer < 2**62) to binary16.

    Round to nearest, ties to even; results below the smallest subnormal round
    to a signed zero, results from 65520 up to infinity. ``sig == 0`` gives
    the zero of ``sign``.
    """
    sign, sig, exp = np.broadcast_arrays(*(np.asarray(v, np.int64) for v in (sign, sig, exp)))
    length = _bit_length(sig)
    e = length - 1 + exp + BIAS  # biased exponent of the leading one
    # Keep 11 significant bits (normal) or the bits down to 2**-24 (subnormal).
    r = length - (MAN_BITS + 1) + np.maximum(0, 1 - e)
    q = _shift_rne(sig, r)
    # (e_eff - 1) << 10 plus q: a carry out of the rounding moves into the
    # exponent, and a subnormal that rounds up to 2**-14 becomes the smallest normal.
    mag = ((np.maximum(e, 1) - 1) << MAN_BITS) + q
    mag = np.where(sig == 0, 0, np.minimum(mag, POS_INF))
    return ((sign << 15) | mag).astype(np.uint16)


def fp16_add(a, b) -> np.ndarray:
    """IEEE binary16 ``a + b``, round to nearest even (bit patterns in, patterns out)."""
    a, b = np.broadcast_arrays(_u(a), _u(b))
    sa, _, _, siga, expa = _fields(a)
    sb, _, _, sigb, expb = _fields(b)
    lo = np.minimum(expa, expb)
    va = np.where(sa == 1, -1, 1) * (siga << (expa - lo))
    vb = np.where(sb == 1, -1, 1) * (sigb << (expb - lo))
    total = va + vb  # exact: at most 11 + 29 + 1 bits
    zero_sign = sa & sb  # exact zero sum: +0 unless both addends are -0 / negative
    sign = np.where(total < 0, 1, np.where(total == 0, zero_sign, 0))
    out = round_pack(sign, np.abs(total), lo)
    ia, ib = _is_inf(a), _is_inf(b)
    out = np.where(ia, a, np.where(ib, b, out))
    nan = is_nan(a) | is_nan(b) | (ia & ib & (sa != sb))
    return np.where(nan, QNAN, out).astype(np.uint16)


def fp16_mul(a, b) -> np.ndarray:
    """IEEE binary16 ``a * b``, round to nearest even (bit patterns in, patterns out)."""
    a, b = np.broadcast_arrays(_u(a), _u(b))
    sa, _, _, siga, expa = _fields(a)
    sb, _, _, sigb, expb = _fields(b)
    sign = sa ^ sb
    out = round_pack(sign, siga * sigb, expa + expb)
    ia, ib = _is_inf(a), _is_inf(b)
    za, zb = (a & 0x7FFF) == 0, (b & 0x7FFF) == 0
    out = np.where(ia | ib, (sign << 15) | POS_INF, out)
    nan = is_nan(a) | is_nan(b) | (ia & zb) | (ib & za)
    return np.where(nan, QNAN, out).astype(np.uint16)


def fp16_neg(a) -> np.ndarray:
    """``-a``: the sign bit flipped (NaN stays the canonical NaN)."""
    a = _u(a)
    return np.where(is_nan(a), QNAN, a ^ _SIGN).astype(np.uint16)


def fp16_ldexp(a, shift: int) -> np.ndarray:
    """``a * 2**shift`` for ``shift >= 0``: exact in binary16 unless it overflows to infinity."""
    if not isinstance(shift, (int, np.integer)) or shift < 0:
        raise ValueError(f"fp16_ldexp: shift must be a non-negative integer, not {shift!r}")
    a = _u(a)
    sign, _, _, sig, exp = _fields(a)
    out = round_pack(sign, sig, exp + int(shift))
    special = (a & _EXP_MASK) == _EXP_MASK
    return np.where(is_nan(a), QNAN, np.where(special, a, out)).astype(np.uint16)


def fp16_from_int(x) -> np.ndarray:
    """Integer -> binary16, round to nearest even (exact for |x| <= 2048)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ValueError(f"fp16_from_int: x must be an integer array, not dtype {x.dtype}")
    x = x.astype(np.int64)
    return round_pack((x < 0).astype(np.int64), np.abs(x), 0)


def to_int_rne(a, lo: int, hi: int) -> np.ndarray:
    """binary16 -> integer, round half to even, saturated to ``[lo, hi]``; NaN -> 0 (int64).

    ``lo <= 0 <= hi``; infinities saturate to ``lo`` / ``hi``.
    """
    a = _u(a)
    sign, e, _, sig, exp = _fields(a)
    # |a| = sig * 2**exp with exp in [-24, 5]: integers up to 2**16 fit comfortably.
    mag = _shift_rne(sig, -exp)
    mag = np.where(e == 0x1F, hi - lo + 1, mag)  # infinities: beyond either bound
    val = np.where(sign == 1, -mag, mag)
    return np.where(is_nan(a), 0, np.clip(val, lo, hi)).astype(np.int64)


def check_fp16_params(cfg: NMPUConfig, **given) -> dict[str, np.ndarray]:
    """Validate per-column binary16 parameters: numpy float16 (or raw uint16) arrays [columns].

    Returns the raw patterns as int64 arrays, for the fields the config has.
    """
    out = {}
    for name in ("scale", "offset", "bn_scale", "bn_offset"):
        value = given.get(name)
        if value is None:
            if name in cfg.param_fields:
                raise ValueError(f"fp16_unit: parameter '{name}' is required")
            continue
        arr = np.asarray(value)
        if arr.dtype == np.float16:
            arr = arr.view(np.uint16)
        elif arr.dtype != np.uint16:
            raise ValueError(
                f"fp16_unit: '{name}' must be a float16 (or raw uint16) array, "
                f"not dtype {arr.dtype}"
            )
        if arr.shape != (cfg.columns,):
            raise ValueError(
                f"fp16_unit: '{name}' has shape {arr.shape}, expected ({cfg.columns},)"
            )
        out[name] = arr.astype(np.int64)
    return out


def fp16_unit(
    cfg: NMPUConfig, x, *, scale=None, offset=None, bn_scale=None, bn_offset=None
) -> np.ndarray:
    """Bit-exact FP16 unit output [vectors, columns] for ADC codes ``x`` [vectors, phases, columns].

    DESIGN 7, every operation binary16 round-to-nearest-even, in this order::

        xh  = fp16(code)
        a_k = fp16(fp16(xh * scale) + offset)                      per phase k
        t_k = sign_k * a_k * 2**shift_k                            exact (or +-inf)
        acc = t_0, then acc = fp16(acc + t_k) in phase order
        z   = fp16(fp16(acc * bn_scale) + bn_offset)  if bn, else acc
        out = saturate(round_half_even(activation(z)), out_range)  NaN -> 0

    ``cfg``'s fixed-point formats are unused; ``cfg.correction = False`` bypasses the
    correction (``a_k = xh``, exactly ``xh * 1.0 + 0.0``). The parameters are numpy
    float16 arrays [columns] (raw ``uint16`` patterns are accepted too).
    """
    codes = check_codes(cfg, x)
    p = check_fp16_params(cfg, scale=scale, offset=offset, bn_scale=bn_scale, bn_offset=bn_offset)
    xh = fp16_from_int(codes)
    # [vectors, phases, columns]; bypassed correction: xh * 1.0 + 0.0 is exactly xh
    a = fp16_add(fp16_mul(xh, p["scale"]), p["offset"]) if cfg.correction else xh
    acc = None
    for k, (shift, sign) in enumerate(zip(cfg.phase_shifts, cfg.phase_signs, strict=True)):
        t = fp16_ldexp(a[:, k, :], shift)
        if sign < 0:
            t = fp16_neg(t)
        acc = t if acc is None else fp16_add(acc, t)
    z = fp16_add(fp16_mul(acc, p["bn_scale"]), p["bn_offset"]) if cfg.bn else acc
    # ReLU: out_range starts at 0, so max(z, 0) (and -inf -> 0) is part of the saturation;
    # relu_clip's relu_max is an integer, so clipping after rounding equals clipping before.
    lo, hi = cfg.out_range
    return to_int_rne(z, lo, hi)


def fp16_params_from_fixed(cfg: NMPUConfig, params: dict) -> dict[str, np.ndarray]:
    """The FP16 unit's parameters for a fixed-point NMPU calibration (e.g. a capture's).

    ``params``: the raw fixed-point integers ``nmpu`` takes (``cfg``'s formats). Each
    real value ``raw * 2**-frac`` is rounded once to binary16 (nearest, ties to even,
    with :func:`round_pack`: integer-only, no host floating point). The fixed-point
    output is ``z * 2**cfg.out_frac``; the FP16 unit rounds ``z`` itself to an integer,
    so ``2**out_frac`` is folded (exactly) into the last affine the unit has: batch-norm
    when ``cfg.bn``, else the correction. So the correction parameters at the default
    formats (8 significant bits) are exact, ``bn_scale``/``bn_offset`` are rounded to 11
    significant bits. Returns numpy float16 arrays [columns] for ``cfg.param_fields``.

    Raises ``ValueError`` when a field is missing or ``out_frac != 0`` cannot be folded
    (no correction and no batch-norm).
    """
    p = check_params(
        cfg, **{f: params.get(f) for f in ("scale", "offset", "bn_scale", "bn_offset")}
    )
    fold = {f: 0 for f in cfg.param_fields}
    last = ("bn_scale", "bn_offset") if cfg.bn else ("scale", "offset")
    if cfg.out_frac:
        if not set(last) <= set(cfg.param_fields):
            raise ValueError(
                f"fp16_params_from_fixed: out_frac = {cfg.out_frac} cannot be folded into a "
                "unit with neither correction nor batch-norm"
            )
        fold.update(dict.fromkeys(last, cfg.out_frac))
    out = {}
    for f in cfg.param_fields:
        raw = np.asarray(p[f], np.int64)
        exp = fold[f] - cfg.param_format(f).frac_bits
        out[f] = round_pack((raw < 0).astype(np.int64), np.abs(raw), exp).view(np.float16)
    return out
