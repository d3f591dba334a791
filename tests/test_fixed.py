"""model.golden.fixed against two independent oracles: exact rationals (exhaustive) and APyTypes."""

from __future__ import annotations

import math
from fractions import Fraction

import apytypes as apy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.golden.fixed import (
    APYTYPES_NAME,
    ROUNDING_MODES,
    QFormat,
    align,
    bits_for,
    cut_round_inplace,
    floor_shift,
    round_shift,
    round_shift_int,
    saturate,
)


def rational_round(v: int, r: int, mode: str) -> int:
    """DESIGN 2 straight from the definitions, on exact rationals."""
    q = Fraction(v, 2**r)
    if mode == "trunc":
        return math.floor(q)
    if mode == "half_up":
        return math.floor(q + Fraction(1, 2))
    return round(q)  # Python rounds Fractions half to even


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_cut_round_inplace_is_floor_then_round_on_exact_rationals(mode, dtype):
    """The golden model's fused in-place cut-and-round, exhaustive over 12-bit values and
    every cut/round split, against floor(v / 2**cut) rounded on exact rationals; values
    at the dtype's headroom edge (2**29 for int32) too."""
    edge = (1 << 29) - 1 if dtype == np.int32 else (1 << 61) - 1
    v = np.concatenate([np.arange(-(1 << 11), 1 << 11), [edge, -edge - 1, edge - 5]])
    for cut in range(0, 5):
        for r in range(0, 5):
            got = cut_round_inplace(v.astype(dtype), cut, r, mode)
            want = [rational_round(int(x) >> cut, r, mode) for x in v]
            bad = np.flatnonzero(got != np.array(want))
            assert bad.size == 0, (
                f"{mode} cut={cut} r={r}: v={v[bad[0]]} expected {want[bad[0]]} got {got[bad[0]]}"
            )


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_round_shift_exhaustive_12_bit(mode):
    v = np.arange(-(1 << 11), 1 << 11)
    for r in range(0, 7):
        got = round_shift(v, r, mode)
        want = np.array([rational_round(int(x), r, mode) for x in v])
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (
            f"{mode} r={r}: v={v[bad[0]]} expected {want[bad[0]]} got {got[bad[0]]}"
        )
        # the scalar twin used for range analysis agrees too
        assert [round_shift_int(int(x), r, mode) for x in v[::97]] == list(want[::97])


def test_round_shift_r0_is_identity():
    v = np.arange(-300, 300)
    for mode in ROUNDING_MODES:
        np.testing.assert_array_equal(round_shift(v, 0, mode), v)


@pytest.mark.parametrize("signed", [True, False])
def test_saturate_exhaustive_small(signed):
    v = np.arange(-600, 600)
    for width in range(2, 10):
        lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)
        want = np.array([min(max(int(x), lo), hi) for x in v])
        np.testing.assert_array_equal(saturate(v, width, signed), want)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.integers(-(2**30), 2**30 - 1), min_size=1, max_size=40),
    frac=st.integers(0, 12),
    r=st.integers(0, 10),
    mode=st.sampled_from(ROUNDING_MODES),
)
def test_round_shift_matches_apytypes(raw, frac, r, mode):
    """Rounding off r bits == APyTypes cast to frac - r fraction bits with the same mode."""
    r = min(r, frac)
    x = apy.APyFixedArray([v & ((1 << 31) - 1) for v in raw], int_bits=31 - frac, frac_bits=frac)
    q = getattr(apy.QuantizationMode, APYTYPES_NAME[mode])
    y = x.cast(int_bits=33 - frac + r, frac_bits=frac - r, quantization=q)
    want = np.rint(y.to_numpy() * 2 ** (frac - r)).astype(np.int64)
    np.testing.assert_array_equal(round_shift(np.array(raw), r, mode), want)


@settings(max_examples=100, deadline=None)
@given(
    raw=st.lists(st.integers(-(2**20), 2**20 - 1), min_size=1, max_size=40),
    width=st.integers(2, 16),
)
def test_saturate_matches_apytypes(raw, width):
    x = apy.APyFixedArray([v & ((1 << 21) - 1) for v in raw], int_bits=21, frac_bits=0)
    y = x.cast(int_bits=width, frac_bits=0, overflow=apy.OverflowMode.SAT)
    np.testing.assert_array_equal(saturate(np.array(raw), width, True), y.to_numpy().astype(int))


def test_floor_shift_and_align_are_exact():
    v = np.arange(-1000, 1000)
    np.testing.assert_array_equal(floor_shift(v, 3), np.floor(v / 8).astype(np.int64))
    np.testing.assert_array_equal(align(v, 2, 5), v * 8)
    with pytest.raises(ValueError, match="only widens"):
        align(v, 5, 2)


def test_bits_for():
    for width in range(1, 20):
        lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
        assert bits_for(lo, hi) == width
        assert bits_for(lo - 1, hi) == width + 1
        assert bits_for(lo, hi + 1) == width + 1


def test_qformat_parse_and_errors():
    f = QFormat.parse("UQ(1,7)")
    assert (f.width, f.signed, f.min_raw, f.max_raw) == (8, False, 0, 255)
    g = QFormat.parse(" Q( 7 , 1 ) ")
    assert (g.width, g.min_raw, g.max_raw) == (8, -128, 127)
    assert QFormat.parse(str(g)) == g
    with pytest.raises(ValueError, match="scale_fmt must look like"):
        QFormat.parse("Q7.1", name="scale_fmt")
    with pytest.raises(ValueError, match="frac_bits must be >= 0"):
        QFormat.parse("Q(4,-1)")
    with pytest.raises(ValueError, match="at least 2 bits"):
        QFormat.parse("Q(1,0)")
    with pytest.raises(ValueError, match="rounding must be one of"):
        round_shift(np.array([1]), 1, "nearest")
