"""The two early-stop fills of the SAR back end (``SARConfig.early_stop_fill``), against a
brute-force oracle written here: an ideal comparator's integer search over every code.

For an ideal converter the codes whose search gives the same first ``k`` decisions form
an interval ``[lo, hi]``; ``interval_midpoint`` must report its midpoint rounded up,
``(lo + hi + 1) // 2``, which makes its mean error against the input code at most 1/2
LSB for any weights. ``half_skipped`` adds ``ceil(S_k / 2)``; the two agree for binary
weights. The RTL runs both fills in closed loop (``SAR_CASES``, tests/test_sar_*).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.sar import AnalogFrontEnd, SARConfig, correct, interval_fill, sar_convert
from tb.stimulus.catalogue import REDUNDANT_10

BINARY = (128, 64, 32, 16, 8, 4, 2, 1)
REDUNDANT_11 = (100, 60, 40, 24, 14, 8, 5, 3, 2, 1, 1)
WEIGHTS = {"binary8": BINARY, "redundant10": REDUNDANT_10, "redundant11": REDUNDANT_11}


def search_decisions(weights, code: int) -> list[int]:
    """Decisions of an ideal integer SAR search on an input whose ideal code is ``code``:
    the trial ``p + w`` is kept iff the input reaches it."""
    p, out = 0, []
    for w in weights:
        keep = int(code >= p + w)
        p += keep * w
        out.append(keep)
    return out


def oracle_codes(weights, out_width: int, k: int) -> np.ndarray:
    """Per input code c: the midpoint (rounded up) of the codes sharing c's first k
    decisions, clipped to the full code, by enumeration."""
    n = 1 << out_width
    prefix = [tuple(search_decisions(weights, c)[:k]) for c in range(n)]
    groups: dict[tuple, list[int]] = {}
    for c, pre in enumerate(prefix):
        groups.setdefault(pre, []).append(c)
    mid = {pre: (min(cs) + max(cs) + 1) // 2 for pre, cs in groups.items()}
    return np.array([min(mid[pre], n - 1) for pre in prefix])


def ideal_conversion(cfg: SARConfig, k: int) -> np.ndarray:
    """``sar_convert`` with an ideal front end on the centre of every code."""
    n = 1 << cfg.out_width
    v = ((np.arange(n) + 0.5) / n * 2 - 1)[:, None]
    return sar_convert(cfg, AnalogFrontEnd.ideal(cfg), v, k)[0][:, 0]


@pytest.mark.parametrize("name", WEIGHTS)
def test_interval_midpoint_is_the_midpoint_of_the_codes_left(name):
    w = WEIGHTS[name]
    cfg = SARConfig(columns=1, steps=len(w), weights=w, early_stop_fill="interval_midpoint")
    codes = np.arange(1 << cfg.out_width)
    for k in range(1, cfg.steps + 1):
        got, want = ideal_conversion(cfg, k), oracle_codes(w, cfg.out_width, k)
        bad = np.flatnonzero(got != want)
        assert not bad.size, (
            f"{name} k={k}: code {bad[0]} -> {got[bad[0]]}, expected {want[bad[0]]}"
        )
        bias = (got - codes).mean()
        assert 0 <= bias <= 0.5 or k == cfg.steps, f"{name} k={k}: mean error {bias}"


@pytest.mark.parametrize("name", WEIGHTS)
def test_half_skipped_adds_ceil_half_the_skipped_weights(name):
    w = WEIGHTS[name]
    cfg = SARConfig(columns=1, steps=len(w), weights=w)
    for k in range(1, cfg.steps + 1):
        got = ideal_conversion(cfg, k)
        kept = [
            sum(wi * b for wi, b in zip(w[:k], search_decisions(w, c)[:k], strict=True))
            for c in range(256)
        ]
        want = np.minimum(np.array(kept) + (sum(w[k:]) + 1) // 2, 255)
        np.testing.assert_array_equal(got, want, err_msg=f"{name} k={k}")


def test_redundant_half_skipped_is_biased_and_interval_midpoint_is_not():
    """The reason for the option: 11 redundant steps stopped after 2 overshoot by over 14
    LSB on average with the half-skipped fill, and by at most 1/2 with the midpoint."""
    codes = np.arange(256)
    cfg = SARConfig(columns=1, steps=11, weights=REDUNDANT_11)
    mid = SARConfig(columns=1, steps=11, weights=REDUNDANT_11, early_stop_fill="interval_midpoint")
    assert (ideal_conversion(cfg, 2) - codes).mean() > 14
    assert abs((ideal_conversion(mid, 2) - codes).mean()) <= 0.5


def test_fills_agree_for_binary_weights_on_any_decisions(seed):
    """Binary weights: the midpoint fill equals ceil(S_k/2) for every decision pattern,
    even ones no ideal comparator gives (noise), and every k."""
    rng = np.random.default_rng(seed)
    for width in (1, 3, 8):
        a = SARConfig(columns=1, steps=width, out_width=width)
        b = SARConfig(columns=1, steps=width, out_width=width, early_stop_fill="interval_midpoint")
        d = rng.integers(0, 2, (500, width))
        k = rng.integers(1, width + 1, 500)
        d[np.arange(width) >= k[:, None]] = 0  # skipped steps decide 0, as in the search
        np.testing.assert_array_equal(correct(a, d, k), correct(b, d, k), err_msg=f"{width=}")


@pytest.mark.parametrize("name", WEIGHTS)
def test_a_full_conversion_has_no_fill_in_either_mode(name):
    """k = steps: every decision pattern (the first 11 bits exhaustively) gets fill 0."""
    w = WEIGHTS[name]
    cfg = SARConfig(columns=1, steps=len(w), weights=w, early_stop_fill="interval_midpoint")
    d = np.array(list(itertools.product((0, 1), repeat=len(w))))
    assert (interval_fill(cfg, d, len(w)) == 0).all()
    assert cfg.fill(len(w)) == 0


def test_interval_midpoint_error_within_ceil_half_skipped_with_an_ideal_comparator():
    """The documented bound |code_k - code_full| <= ceil(S_k / 2) holds for the midpoint
    fill too (it never fills more than half the skipped weights plus one half)."""
    codes = np.arange(256)
    for name, w in WEIGHTS.items():
        cfg = SARConfig(columns=1, steps=len(w), weights=w, early_stop_fill="interval_midpoint")
        full = ideal_conversion(cfg, cfg.steps)
        np.testing.assert_array_equal(full, codes, err_msg=name)
        for k in range(1, cfg.steps):
            err = np.abs(ideal_conversion(cfg, k) - full).max()
            assert err <= -(-sum(w[k:]) // 2), f"{name} k={k}: {err}"


def test_midpoint_fill_matches_its_running_gap_on_noisy_decisions(seed):
    """``sar_convert`` with a noisy, mismatched front end gives ``correct`` of its own
    decisions in the midpoint mode, and the fill never exceeds ``2**(out_width-1)``."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    cfg = SARConfig(columns=8, steps=10, weights=REDUNDANT_10, early_stop_fill="interval_midpoint")
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=2.0, noise=1.5, seed=seed)
    v = rng.uniform(-1.05, 1.05, (300, cfg.columns))
    k = rng.integers(1, cfg.steps + 1, 300)
    codes, d = sar_convert(cfg, fe, v, k)
    np.testing.assert_array_equal(codes, correct(cfg, d, k[:, None]))
    fills = interval_fill(cfg, d, k[:, None])
    assert fills.min() >= 0 and fills.max() <= 128
