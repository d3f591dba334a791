"""The binary16 golden model (``model.golden.fp16``) against two independent oracles.

* numpy float16: its ``+`` and ``*`` are correctly rounded one operation at a
  time (computed in float32, exact for one binary16 add or multiply, then
  rounded to nearest even);
* APyTypes ``APyFloatArray`` with exp_bits=5, man_bits=10, bias=15 (ties to even).

The model is integer-only; the oracles are floating-point libraries. NaN
results are compared as "is a NaN" (the model's NaN is always 0x7E00).
"""

from __future__ import annotations

import numpy as np
import pytest
from apytypes import APyFloatArray

from model.fp16 import (
    QNAN,
    NMPUConfig,
    fp16_add,
    fp16_from_int,
    fp16_ldexp,
    fp16_mul,
    fp16_unit,
    is_nan,
    to_int_rne,
)
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.fp16 import (
    SPECIAL_PATTERNS,
    extreme_fp16_params,
    random_fp16_params,
)
from tb.stimulus.nmpu import extreme_codes, random_codes

OPS = {"add": (fp16_add, np.add), "mul": (fp16_mul, np.multiply)}


def numpy_op(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return OPS[op][1](a.view(np.float16), b.view(np.float16)).view(np.uint16)


def apy_op(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa = APyFloatArray.from_bits(a.astype(np.uint64), exp_bits=5, man_bits=10, bias=15)
    fb = APyFloatArray.from_bits(b.astype(np.uint64), exp_bits=5, man_bits=10, bias=15)
    r = fa + fb if op == "add" else fa * fb
    return np.asarray(r.to_bits(), dtype=np.uint64).astype(np.uint16)


def assert_same(op: str, a, b, got, want, oracle: str) -> None:
    """Equal bit patterns, NaN compared as NaN-ness; the message names the first bad pair."""
    nan_want = is_nan(want)
    bad = np.flatnonzero(np.where(nan_want, ~is_nan(got), got != want))
    if bad.size:
        i = bad[0]
        raise AssertionError(
            f"{op} vs {oracle}: {bad.size} mismatches; first a=0x{int(a[i]):04X} "
            f"b=0x{int(b[i]):04X}: expected 0x{int(want[i]):04X}, got 0x{int(got[i]):04X}"
        )
    assert np.all(got[nan_want] == QNAN), "a NaN result is not the canonical 0x7E00"


def exact_ties(op: str, a: np.ndarray, b: np.ndarray) -> int:
    """How many pairs have an exact result (float64 is exact here) halfway between two normal
    binary16 values: 12 significant bits with the last one set."""
    with np.errstate(all="ignore"):
        r = OPS[op][1](a.view(np.float16).astype(np.float64), b.view(np.float16).astype(np.float64))
    ok = np.isfinite(r) & (np.abs(r) >= 2.0**-14) & (np.abs(r) < 65504)
    m, _ = np.frexp(np.where(ok, r, 1.0))
    scaled = np.abs(m) * 2.0**12
    return int(np.sum(ok & (scaled == np.floor(scaled)) & (scaled % 2 == 1)))


@pytest.mark.parametrize("op", OPS)
def test_every_class_pair_against_both_oracles(op):
    a, b = (g.ravel() for g in np.meshgrid(SPECIAL_PATTERNS, SPECIAL_PATTERNS))
    got = OPS[op][0](a, b)
    assert_same(op, a, b, got, numpy_op(op, a, b), "numpy")
    assert_same(op, a, b, got, apy_op(op, a, b), "APyTypes")


def test_special_value_rules():
    pz, nz, pinf, ninf, one = 0x0000, 0x8000, 0x7C00, 0xFC00, 0x3C00
    assert int(fp16_add(one, one | 0x8000)) == pz  # x + (-x) = +0
    assert int(fp16_add(nz, nz)) == nz
    assert int(fp16_add(pinf, ninf)) == QNAN
    assert int(fp16_mul(pz, ninf)) == QNAN
    assert int(fp16_mul(nz, one)) == nz
    assert int(fp16_mul(0x7BFF, 0x4000)) == pinf  # overflow rounds to infinity
    assert int(fp16_add(0x3C00, 0x1000)) == 0x3C00  # 1 + 2**-11: tie, to even (down)
    assert int(fp16_add(0x3C01, 0x1000)) == 0x3C02  # tie, to even (up)
    assert int(fp16_mul(0x0001, 0x3800)) == 0x0000  # 2**-25: tie between 0 and 2**-24 -> 0
    assert int(fp16_mul(0x0003, 0x3800)) == 0x0002  # 1.5 * 2**-24 -> 2 * 2**-24 (even)


@pytest.mark.parametrize("op", OPS)
def test_random_pairs_against_both_oracles(op, seed):
    rng = np.random.default_rng(seed)
    n = 1_000_000
    a = rng.integers(0, 0x10000, n).astype(np.uint16)
    # Half the pairs uniform over all patterns; half with nearby exponents, where
    # cancellation, carries and ties happen.
    b = rng.integers(0, 0x10000, n).astype(np.uint16)
    near = (a.astype(np.int64) + rng.integers(-3 * 1024, 3 * 1024, n)) & 0xFFFF
    b[n // 2 :] = near[n // 2 :].astype(np.uint16) ^ (rng.integers(0, 2, n - n // 2) << 15).astype(
        np.uint16
    )
    got = OPS[op][0](a, b)
    assert_same(op, a, b, got, numpy_op(op, a, b), "numpy")
    assert_same(op, a, b, got, apy_op(op, a, b), "APyTypes")
    assert exact_ties(op, a, b) > 100, "the random pairs should include exact ties"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("fixed", [0x3C00, 0xBC01, 0x0001, 0x83FF, 0x0400, 0x3555, 0x7BFF, 0x1000])
def test_one_operand_fixed_other_exhaustive(op, fixed):
    b = np.arange(0x10000, dtype=np.uint16)
    a = np.full_like(b, fixed)
    for x, y in ((a, b), (b, a)):
        assert_same(op, x, y, OPS[op][0](x, y), numpy_op(op, x, y), "numpy")


def test_add_exhaustive_lowest_binades():
    """Every pair with exponent fields 0..1 (all subnormals and the first normal binade),
    first operand positive, second of either sign: 8.4 M pairs, cancellation and ties."""
    pos = np.arange(0x0800, dtype=np.uint16)
    both = np.concatenate([pos, pos | 0x8000])
    a, b = (g.ravel() for g in np.meshgrid(pos, both))
    assert_same("add", a, b, fp16_add(a, b), numpy_op("add", a, b), "numpy")


def test_mul_exhaustive_significands():
    """Every significand pair at exponent 15 (1.x * 1.y) and 1.x times every subnormal."""
    ones = (0x3C00 | np.arange(1024)).astype(np.uint16)
    subs = np.arange(1024, dtype=np.uint16)
    for other in (ones, subs):
        a, b = (g.ravel() for g in np.meshgrid(ones, other))
        got = fp16_mul(a, b)
        assert_same("mul", a, b, got, numpy_op("mul", a, b), "numpy")
    assert exact_ties("mul", *(g.ravel() for g in np.meshgrid(ones, ones))) > 1000


def test_int_conversion_ldexp_and_rounding_to_int():
    x = np.arange(-70000, 70001)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)  # numpy: exact int64 -> RNE binary16
    np.testing.assert_array_equal(fp16_from_int(x), want)
    every = np.arange(0x10000, dtype=np.uint16)
    finite = ~is_nan(every)
    for shift in (0, 1, 4, 15, 20, 32):
        with np.errstate(over="ignore", invalid="ignore"):
            ref = (every.view(np.float16).astype(np.float32) * np.float32(2.0**shift)).astype(
                np.float16
            )
        np.testing.assert_array_equal(
            fp16_ldexp(every, shift)[finite], ref.view(np.uint16)[finite], err_msg=f"{shift=}"
        )
    for lo, hi in ((0, 255), (-128, 127), (0, 200)):
        f = every.view(np.float16).astype(np.float64)
        with np.errstate(invalid="ignore"):
            ref = np.clip(np.nan_to_num(np.rint(f), nan=0.0, posinf=hi, neginf=lo), lo, hi)
        np.testing.assert_array_equal(to_int_rne(every, lo, hi), ref.astype(np.int64))


def oracle_unit(cfg: NMPUConfig, x: np.ndarray, p: dict) -> np.ndarray:
    """DESIGN 7 in numpy float16, one operation at a time (independent of the model)."""
    with np.errstate(all="ignore"):
        xh = x.astype(np.float16)
        # Two float16 operations, each rounded (none when the correction is bypassed).
        a = xh * p["scale"] + p["offset"] if cfg.correction else xh
        acc = None
        for k, (shift, sign) in enumerate(zip(cfg.phase_shifts, cfg.phase_signs, strict=True)):
            t = (a[:, k, :].astype(np.float32) * np.float32(sign * 2.0**shift)).astype(np.float16)
            acc = t if acc is None else acc + t
        z = acc * p["bn_scale"] + p["bn_offset"] if cfg.bn else acc
        lo, hi = cfg.out_range
        if cfg.activation != "none":
            z = np.maximum(z, np.float16(0))
        r = np.nan_to_num(np.rint(z.astype(np.float64)), nan=0.0, posinf=hi, neginf=lo)
        return np.clip(r, lo, hi).astype(np.int64)


def oracle_unit_apytypes(cfg: NMPUConfig, x: np.ndarray, p: dict) -> np.ndarray:
    """The same order of operations in APyTypes binary16 (finite-only checks)."""
    fmt = {"exp_bits": 5, "man_bits": 10, "bias": 15}

    def f(v):
        return APyFloatArray.from_float(np.asarray(v, np.float64), **fmt)

    xh = f(x.astype(np.float64))
    a = xh * f(p["scale"]) + f(p["offset"]) if cfg.correction else xh
    acc = None
    for k, (shift, sign) in enumerate(zip(cfg.phase_shifts, cfg.phase_signs, strict=True)):
        ak = APyFloatArray.from_float(a.to_numpy()[:, k, :] * sign * 2.0**shift, **fmt)
        acc = ak if acc is None else acc + ak
    z = acc * f(p["bn_scale"]) + f(p["bn_offset"]) if cfg.bn else acc
    zf = z.to_numpy()
    lo, hi = cfg.out_range
    with np.errstate(invalid="ignore"):
        r = np.nan_to_num(np.rint(np.maximum(zf, 0) if cfg.activation != "none" else zf), nan=0)
    return np.clip(r, lo, hi).astype(np.int64)


@pytest.mark.parametrize("name", list(NMPU_CONFIGS))
def test_unit_against_float16_oracle(name, seed):
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    lo, hi = cfg.out_range
    inside = []
    # Parameter draws: at least 64 columns' worth, so the non-degeneracy check below does not
    # hang on a handful of columns (1 column, 4 draws: 1 in 10 seeds saturated 3 of them).
    for _ in range(max(4, -(-64 // cfg.columns))):
        p = random_fp16_params(cfg, rng)
        x = random_codes(cfg, rng, 64)
        got = fp16_unit(cfg, x, **p)
        want = oracle_unit(cfg, x, p)
        bad = np.argwhere(got != want)
        assert not bad.size, f"vector/column {bad[0]}: expected {want[tuple(bad[0])]}, got {got}"
        inside.append(np.mean((got > lo) & (got < hi)))
    # Not a degenerate run: outputs in the linear region, not all saturated or zero (a
    # 2-bit output has two inner codes: 6 to 30 % of its outputs land there).
    assert np.mean(inside) > 0.02, inside
    for corner in ("max", "min"):
        p = extreme_fp16_params(cfg, corner)
        x = extreme_codes(cfg)
        np.testing.assert_array_equal(fp16_unit(cfg, x, **p), oracle_unit(cfg, x, p))


@pytest.mark.parametrize("name", ["paper_default", "bitsliced_4x2", "posneg_pair_no_activation"])
def test_unit_against_apytypes_oracle(name, seed):
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    n = cfg.columns
    p = {
        "scale": rng.uniform(0.5, 2, n).astype(np.float16),
        "offset": rng.uniform(-4, 4, n).astype(np.float16),
        "bn_scale": rng.uniform(-0.5, 2, n).astype(np.float16) / np.float16(16),
        "bn_offset": rng.uniform(-30, 60, n).astype(np.float16),
    }
    p = {f: p[f] for f in cfg.param_fields}
    x = random_codes(cfg, rng, 32)
    np.testing.assert_array_equal(fp16_unit(cfg, x, **p), oracle_unit_apytypes(cfg, x, p))


def test_unit_nan_and_infinity_outputs():
    """acc overflows to +inf in one phase and -inf in the next: NaN, documented output 0;
    +inf saturates to the top of the range, -inf to the bottom."""
    cfg = NMPUConfig(columns=2, lanes=1, phases=2, phase_signs=(1, -1), activation="none")
    big = np.full(2, 65504.0, np.float16)
    ones = np.ones(2, np.float16)
    zeros = np.zeros(2, np.float16)
    x = np.array([[[100, 100], [100, 0]]])
    out = fp16_unit(cfg, x, scale=big, offset=zeros, bn_scale=ones, bn_offset=zeros)
    assert out.tolist() == [[0, 127]]  # inf - inf = NaN -> 0; inf - 0 = inf -> 127
    x = np.array([[[0, 0], [100, 1]]])
    out = fp16_unit(cfg, x, scale=big, offset=zeros, bn_scale=ones, bn_offset=zeros)
    assert out.tolist() == [[-128, -128]]  # -inf, and -65504 saturating


def test_unit_rejects_bad_parameters():
    cfg = NMPUConfig(columns=4, lanes=2)
    good = np.ones(4, np.float16)
    x = np.zeros((1, 1, 4), np.int64)
    with pytest.raises(ValueError, match="'scale' must be a float16"):
        fp16_unit(cfg, x, scale=np.ones(4), offset=good, bn_scale=good, bn_offset=good)
    with pytest.raises(ValueError, match="'bn_offset' is required"):
        fp16_unit(cfg, x, scale=good, offset=good, bn_scale=good)
    with pytest.raises(ValueError, match="shape"):
        fp16_unit(cfg, x, scale=good[:3], offset=good, bn_scale=good, bn_offset=good)
    with pytest.raises(ValueError, match="outside"):
        fp16_unit(cfg, x + 1000, scale=good, offset=good, bn_scale=good, bn_offset=good)
