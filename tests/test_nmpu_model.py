"""model.nmpu against independent oracles: APyTypes over random configs, exact rationals
exhaustively on a small config, and the config's validation and serialisation."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import apytypes as apy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.golden.fixed import APYTYPES_NAME, ROUNDING_MODES, QFormat
from model.nmpu import NMPUConfig, nmpu
from tb.stimulus.catalogue import NMPU_CONFIGS
from tb.stimulus.nmpu import extreme_codes, extreme_params, random_codes, random_params

WIDE = 48  # integer bits for APyTypes intermediates: far beyond any value reached here


def apy_fixed(raw: np.ndarray, fmt: QFormat) -> apy.APyFixedArray:
    """Raw integers of ``fmt`` as an APyFixedArray (unsigned formats get one more bit)."""
    width = fmt.width + (0 if fmt.signed else 1)
    bits = [int(v) & ((1 << width) - 1) for v in np.ravel(raw)]
    arr = apy.APyFixedArray(bits, int_bits=width - fmt.frac_bits, frac_bits=fmt.frac_bits)
    return arr.reshape(np.shape(raw)) if np.ndim(raw) > 1 else arr


def apy_reduce(v: apy.APyFixedArray, cut: int, round_bits: int, mode: str) -> apy.APyFixedArray:
    """Cut ``cut`` LSBs (truncate), then round off ``round_bits`` with ``mode``."""
    f = v.frac_bits
    v = v.cast(int_bits=WIDE, frac_bits=f - cut, quantization=apy.QuantizationMode.TRN)
    q = getattr(apy.QuantizationMode, APYTYPES_NAME[mode])
    return v.cast(int_bits=WIDE, frac_bits=f - cut - round_bits, quantization=q)


def apy_oracle(cfg: NMPUConfig, x, p) -> np.ndarray:
    """DESIGN 3.3 in APyTypes: exact arithmetic, its own quantisation and saturation."""
    xf = apy_fixed(x, QFormat(cfg.in_width, 0, cfg.in_signed))
    if cfg.correction:
        scale = apy_fixed(p["scale"], cfg.scale_fmt)
        offset = apy_fixed(p["offset"], cfg.offset_fmt)
    acc = None
    for k, (shift, sign) in enumerate(zip(cfg.phase_shifts, cfg.phase_signs, strict=True)):
        if cfg.correction:
            a = xf[:, k, :] * scale + offset
        else:  # bypassed: the code itself, at the correction's fraction bits
            a = xf[:, k, :].cast(int_bits=WIDE, frac_bits=cfg.ranges["a"].frac)
        term = a * apy.APyFixed(1 << shift, int_bits=shift + 2, frac_bits=0)
        term = term if sign > 0 else -term
        acc = term if acc is None else acc + term
    y = apy_reduce(acc, cfg.mid_lsb_cut, cfg.mid_round_bits, cfg.rounding)
    y = y.cast(
        int_bits=cfg.mid_width - y.frac_bits, frac_bits=y.frac_bits, overflow=apy.OverflowMode.SAT
    )
    if cfg.bn:
        y = y * apy_fixed(p["bn_scale"], cfg.bn_scale_fmt) + apy_fixed(
            p["bn_offset"], cfg.bn_offset_fmt
        )
    r = apy_reduce(y, cfg.out_lsb_cut, cfg.out_round_bits, cfg.rounding)
    out = np.rint(r.to_numpy() * 2.0**r.frac_bits).astype(np.int64)  # exact: |r| < 2**53
    if cfg.activation != "none":
        out = np.maximum(out, 0)
    hi = 2**cfg.out_width - 1 if not cfg.out_signed else 2 ** (cfg.out_width - 1) - 1
    lo = 0 if not cfg.out_signed else -(2 ** (cfg.out_width - 1))
    if cfg.activation == "relu_clip":
        hi = min(hi, cfg.relu_max)
    return np.clip(out, lo, hi)


def _fmt(draw, signed: bool, max_int: int, max_frac: int) -> str:
    i = draw(st.integers(2 if signed else 1, max_int))
    f = draw(st.integers(0, max_frac))
    return f"{'' if signed else 'U'}Q({i},{f})"


@st.composite
def configs(draw):
    phases = draw(st.integers(1, 4))
    activation = draw(st.sampled_from(["none", "relu", "relu_clip"]))
    out_width = draw(st.integers(2, 10))
    in_signed = draw(st.booleans())
    frac_s = draw(st.integers(0, 8))
    return NMPUConfig(
        columns=4,
        lanes=2,
        in_width=draw(st.integers(2 if in_signed else 1, 10)),
        in_signed=in_signed,
        correction=draw(st.booleans()),
        scale_fmt=f"UQ({draw(st.integers(1, 3))},{frac_s})",
        offset_fmt=_fmt(draw, True, 8, 4),
        phases=phases,
        phase_shifts=tuple(draw(st.integers(0, 6)) for _ in range(phases)),
        phase_signs=tuple(draw(st.sampled_from([1, -1])) for _ in range(phases)),
        mid_lsb_cut=draw(st.integers(0, 3)),
        mid_round_bits=draw(st.integers(0, 3)),
        mid_width=draw(st.integers(4, 24)),
        bn=draw(st.booleans()),
        bn_scale_fmt=_fmt(draw, True, 4, 10),
        bn_offset_fmt=_fmt(draw, True, 10, 6),
        out_lsb_cut=draw(st.integers(0, 6)),
        out_round_bits=draw(st.integers(0, 6)),
        rounding=draw(st.sampled_from(ROUNDING_MODES)),
        activation=activation,
        relu_max=draw(st.integers(1, 2**out_width - 1)) if activation == "relu_clip" else None,
        out_width=out_width,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), seed=st.integers(0, 2**32 - 1))
def test_model_matches_apytypes_oracle(cfg, seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([random_codes(cfg, rng, 16), extreme_codes(cfg)])
    for p in (random_params(cfg, rng), extreme_params(cfg, "max"), extreme_params(cfg, "min")):
        got = nmpu(cfg, x, **p)
        want = apy_oracle(cfg, x, p)
        np.testing.assert_array_equal(got, want, err_msg=f"config {cfg.to_dict()}, seed {seed}")


@pytest.mark.parametrize("name", list(NMPU_CONFIGS))
def test_catalogue_configs_match_apytypes_oracle(name, seed):
    """The configurations every RTL tier runs, model against the oracle first."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    x = np.concatenate([random_codes(cfg, rng, 8), extreme_codes(cfg)])
    for p in (random_params(cfg, rng), extreme_params(cfg, "max"), extreme_params(cfg, "min")):
        np.testing.assert_array_equal(nmpu(cfg, x, **p), apy_oracle(cfg, x, p), err_msg=name)


def test_model_exhaustive_small_config_against_rationals():
    """Every (code, scale, offset) of a 4-bit unit against DESIGN 3.3 on exact rationals."""
    for rounding in ROUNDING_MODES:
        cfg = NMPUConfig(
            columns=1, lanes=1, in_width=4, scale_fmt="UQ(1,2)", offset_fmt="Q(2,1)",
            mid_lsb_cut=1, mid_round_bits=1, mid_width=5, bn=False,
            out_lsb_cut=0, out_round_bits=0, rounding=rounding, activation="none", out_width=4,
        )  # fmt: skip
        codes, scales, offsets = range(-8, 8), range(0, 8), range(-4, 4)
        combos = list(itertools.product(codes, scales, offsets))
        x = np.array([[[c]] for c, _, _ in combos])
        got = np.concatenate(
            [
                nmpu(cfg, x[i : i + 1], scale=np.array([s]), offset=np.array([o]))
                for i, (_, s, o) in enumerate(combos)
            ]
        )[:, 0]
        for (c, s, o), g in zip(combos, got, strict=True):
            a = c * Fraction(s, 4) + Fraction(o, 2)  # real value, frac_a = 2
            q = math.floor(a * 4 / 2) / Fraction(2)  # cut 1 bit: value now has 1 fraction bit
            if rounding == "trunc":
                y = math.floor(q)
            elif rounding == "half_up":
                y = math.floor(q + Fraction(1, 2))
            else:
                y = round(q)
            y = min(max(y, -16), 15)  # mid: Q(5,0), saturate
            want = min(max(y, -8), 7)  # output: signed 4 bits
            assert g == want, f"{rounding}: x={c} scale={s}/4 offset={o}/2 -> {g}, expected {want}"


def test_derived_ranges_are_tight_and_safe():
    """The extreme inputs reach the derived bounds of a, and nothing exceeds them."""
    cfg = NMPUConfig(columns=4, lanes=2, phases=2, phase_signs=(1, -1))
    rng = cfg.ranges["a"]
    x = extreme_codes(cfg)
    p_max, p_min = extreme_params(cfg, "max"), extreme_params(cfg, "min")
    frac = rng.frac
    a_vals = [
        x[:, 0, :] * p["scale"] * (1 << (frac - cfg.scale_fmt.frac_bits))
        + p["offset"] * (1 << (frac - cfg.offset_fmt.frac_bits))
        for p in (p_max, p_min)
    ]
    assert min(v.min() for v in a_vals) >= rng.lo and max(v.max() for v in a_vals) <= rng.hi
    assert rng.hi == 127 * 255 + (127 << 6)  # max code x max scale + max offset, aligned
    assert rng.lo == -128 * 255 + (-128 << 6)


def test_saturates_in_both_directions_and_relu():
    cfg = NMPUConfig(columns=4, lanes=2, activation="none")
    x = extreme_codes(cfg)
    out = nmpu(cfg, x, **extreme_params(cfg, "max"))
    assert out.max() == 127 and out.min() == -128
    relu = NMPUConfig(columns=4, lanes=2)
    out = nmpu(relu, x, **extreme_params(relu, "max"))
    assert out.max() == 255 and out.min() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(columns=10, lanes=4), "lanes .4. must divide columns .10."),
        (dict(lanes=0), r"lanes must be in \[1, 256\]"),
        (dict(out_width=1), "out_width must be in"),
        (dict(phases=2, phase_shifts=(1,)), "phase_shifts has 1 entries, phases is 2"),
        (dict(phases=2, phase_signs=(1, 2)), r"phase_signs\[1\] must be \+1 or -1"),
        (dict(rounding="nearest"), "rounding must be one of"),
        (dict(activation="gelu"), "activation must be one of"),
        (dict(activation="relu_clip"), "relu_max is required"),
        (dict(activation="relu_clip", relu_max=256), "relu_max must be in"),
        (dict(relu_max=5), "relu_max only applies"),
        (dict(scale_fmt="Q7.1"), "scale_fmt must look like"),
        (dict(bn_scale_fmt="Q(40,20)"), "intermediate 'z' needs"),
        (dict(in_width=1), "in_width must be in"),
        (dict(phases=1, phase_signs=(1.0,)), r"phase_signs\[0\] must be \+1 or -1"),
        (dict(phases=1, phase_signs=(True,)), r"phase_signs\[0\] must be \+1 or -1"),
        (dict(columns=8192, lanes=64), r"columns must be in \[1, 4096\]"),
        (dict(columns=16, lanes=32), r"lanes must be in \[1, 16\]"),
        (dict(columns=16.0, lanes=4), "columns must be an integer"),
    ],
)
def test_config_errors_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NMPUConfig(**kwargs)


def test_config_round_trips_through_json():
    cfg = NMPUConfig(phases=2, phase_shifts=(4, 0), rounding="half_even", relu_max=None)
    back = NMPUConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.ranges == cfg.ranges
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['colums'\]"):
        NMPUConfig.from_dict({"colums": 4})


def test_model_rejects_bad_inputs_naming_them():
    cfg = NMPUConfig(columns=4, lanes=2)
    p = random_params(cfg, np.random.default_rng(0))
    x = np.zeros((1, 1, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"x\[0, 0, 2\] = 128 is outside"):
        nmpu(cfg, np.array([[[0, 0, 128, 0]]]), **p)
    with pytest.raises(ValueError, match=r"'x' has shape \(1, 4\)"):
        nmpu(cfg, x[0], **p)
    with pytest.raises(ValueError, match=r"'scale'\[1\] = 256 is outside UQ\(1,7\)"):
        nmpu(cfg, x, **{**p, "scale": np.array([0, 256, 0, 0])})
    with pytest.raises(ValueError, match="'bn_offset' is required"):
        nmpu(cfg, x, **{**p, "bn_offset": None})
    with pytest.raises(ValueError, match="'x' must be an integer array"):
        nmpu(cfg, x.astype(float), **p)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"mid_lsb_cut": 0, "mid_round_bits": 4, "out_lsb_cut": 10, "out_round_bits": 4},
        {"bn_offset_fmt": "Q(8,18)", "out_lsb_cut": 14},
        {"bn": False, "activation": "none", "out_lsb_cut": 0, "out_round_bits": 1},
    ],
)
def test_fraction_bits_follow_design_3_3(kw):
    """out_frac from DESIGN 3.3's alignment rules, written out independently of the ranges."""
    cfg = NMPUConfig(columns=8, lanes=8, **kw)
    frac = max(cfg.scale_fmt.frac_bits, cfg.offset_fmt.frac_bits)
    frac -= cfg.mid_lsb_cut + cfg.mid_round_bits
    assert cfg.frac_y == frac
    if cfg.bn:
        frac = max(frac + cfg.bn_scale_fmt.frac_bits, cfg.bn_offset_fmt.frac_bits)
    assert cfg.out_frac == frac - cfg.out_lsb_cut - cfg.out_round_bits


def test_per_vector_parameters_equal_one_call_per_vector(seed):
    """Parameters [vectors, columns] give each vector the result of its own set."""
    cfg = NMPU_CONFIGS["phases4_relu_clip"]
    rng = np.random.default_rng(seed)
    x = random_codes(cfg, rng, 5)
    sets = [random_params(cfg, rng) for _ in range(5)]
    stacked = {f: np.stack([s[f] for s in sets]) for f in cfg.param_fields}
    want = np.concatenate([nmpu(cfg, x[v : v + 1], **sets[v]) for v in range(5)])
    np.testing.assert_array_equal(nmpu(cfg, x, **stacked), want)
    with pytest.raises(ValueError, match=r"'scale' has shape \(4, 64\)"):
        nmpu(cfg, x, **{**stacked, "scale": stacked["scale"][:4]})


@pytest.mark.parametrize("name", list(NMPU_CONFIGS))
def test_model_leaves_the_callers_arrays_alone(name, seed):
    """The model computes in place on its own buffers: inputs already in the model's dtype
    (no conversion copy) come back unchanged, and a second call gives the same result."""
    cfg = NMPU_CONFIGS[name]
    rng = np.random.default_rng(seed)
    x = random_codes(cfg, rng, 7).astype(cfg.model_dtype)
    p = {k: v.astype(cfg.model_dtype) for k, v in random_params(cfg, rng).items()}
    x0, p0 = x.copy(), {k: v.copy() for k, v in p.items()}
    first = nmpu(cfg, x, **p)
    np.testing.assert_array_equal(x, x0)
    for k in p:
        np.testing.assert_array_equal(p[k], p0[k], err_msg=k)
    np.testing.assert_array_equal(nmpu(cfg, x, **p), first)
    assert first.dtype == np.int64
