"""Exact static figures of the SAR model (model/analog/adc_exact.py) and what the ADC report
(model/flow/adc_report.py) flags, writes and draws.

Oracles, computed here independently of the code under test: the brute-force code
intervals of a binary SAR (every code's decision path), the model's own conversions just
below and above every reported segment boundary, a fine grid of 1024 points per LSB, and
closed forms (an offset or a gain error alone).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from model.analog.adc_exact import code_segments, exact_static, transition_noise
from model.sar import AnalogFrontEnd, SARConfig, sar_convert
from tb.stimulus.catalogue import REDUNDANT_10
from tests.test_adc_metrics import exact_code_intervals

N = 256
RES = 1e-9  # the resolution the report states for the exact figures (LSB)
RED10 = SARConfig(columns=8, steps=10, weights=REDUNDANT_10)


def codes_at(cfg, fe, x, active_steps=None):
    """Noise-free codes at held inputs ``x`` [points, columns] (linear front end, LSB)."""
    quiet = AnalogFrontEnd(fe.weights, fe.offset, 0.0, fe.seed, fe.out_width)
    v = np.clip(2.0 * np.asarray(x) / N - 1.0, -1.0, 1.0)
    return sar_convert(cfg, quiet, v, active_steps)[0]


def test_binary_transitions_widths_dnl_inl_match_brute_force(seed):
    """Mismatched binary instance (missing codes included): every transition level, code
    width, missing code, endpoint DNL/INL and best-fit INL equal the ones computed from the
    brute-force code intervals, to 1e-9 LSB; the transfer is monotonic."""
    cfg = SARConfig(columns=32)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=1.0, seed=seed)
    ex = exact_static(cfg, fe)
    lo, hi = exact_code_intervals(fe.weights, fe.offset, 8)
    nonempty = lo < hi
    k = np.arange(N)
    assert ex.monotonic.all() and not any(ex.drops)
    found_missing = False
    for c in range(cfg.columns):
        # T[k]: where the code first reaches k = the lowest start of a code >= k
        t = np.array([lo[c, j:][nonempty[c, j:]].min() for j in range(1, N)])
        np.testing.assert_allclose(ex.transitions[c, 1:], t, rtol=0, atol=RES)
        width = np.clip(np.minimum(hi[c], N) - np.maximum(lo[c], 0), 0, None)
        np.testing.assert_allclose(ex.widths[c], width, rtol=0, atol=RES)
        at_ends = codes_at(cfg, fe, np.array([[0.0] * 32, [N] * 32]))[:, c]
        missing = k[(width == 0) & ~np.isin(k, at_ends)]
        assert ex.missing[c].tolist() == missing.tolist()
        found_missing |= bool(missing.size)
        f, la = k[~np.isin(k, missing)][[0, -1]]
        inner = (k > f) & (k < la)
        dnl = width[inner] / width[inner].mean() - 1
        np.testing.assert_allclose(ex.dnl[c, inner], dnl, rtol=0, atol=RES)
        inl = np.cumsum(np.concatenate([[0.0], dnl]))  # at transitions f+1 .. la
        np.testing.assert_allclose(ex.inl[c, f + 1 : la + 1], inl, rtol=0, atol=RES)
        # best fit, IEEE 1241 independently based: k ~ G T[k] + V_os by least squares over
        # the observed transitions (inside the input range)
        obs = np.arange(f + 1, la + 1)
        tt = t[obs - 1]
        obs, tt = obs[(tt >= 0) & (tt <= N)], tt[(tt >= 0) & (tt <= N)]
        (g, v), *_ = np.linalg.lstsq(np.stack([tt, np.ones_like(tt)], 1), obs, rcond=None)
        np.testing.assert_allclose(ex.inl_best_fit[c, obs], g * tt + v - obs, atol=1e-7)
        assert abs(ex.ieee_gain_fit[c] - g) < 1e-9 and abs(ex.ieee_offset_fit[c] - v) < 1e-7
    assert found_missing, "mismatch 0.08, offset 1: some column should miss a code"


@pytest.mark.parametrize(
    "fill, k", [("half_skipped", None), ("half_skipped", 4), ("interval_midpoint", 4)]
)
def test_segments_agree_with_the_model_either_side_of_every_boundary(fill, k, seed):
    """Redundant weights, large mismatch (non-monotonic columns likely): the model's own code
    at the middle of every segment, and 1e-9 LSB either side of every boundary, is the
    segment's code: the boundaries are exact to the stated resolution (full and
    early-stopped conversions, either early-stop fill)."""
    cfg = replace(RED10, early_stop_fill=fill)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=0.5, seed=seed)
    col, start, stop, code = code_segments(cfg, fe, np.zeros(8), np.full(8, float(N)), k)
    mid = (start + stop) / 2
    x = np.zeros((mid.size, 8))
    x[np.arange(mid.size), col] = mid
    assert (codes_at(cfg, fe, x, k)[np.arange(mid.size), col] == code).all()
    inner = np.flatnonzero(col[1:] == col[:-1]) + 1  # boundaries inside a column
    for d, want in ((-RES, code[inner - 1]), (+RES, code[inner])):
        x = np.zeros((inner.size, 8))
        x[np.arange(inner.size), col[inner]] = start[inner] + d * np.maximum(start[inner], 1)
        got = codes_at(cfg, fe, x, k)[np.arange(inner.size), col[inner]]
        assert (got == want).all()


def first_non_monotonic_seed():
    """The first seed from 100 whose REDUNDANT_10 instance (mismatch 0.08, offset 0.5) has a
    code decrease on a grid of 1024 points per LSB, and the grid's codes [points, 8]."""
    x = np.arange(N * 1024) / 1024
    for s in range(100, 140):
        fe = AnalogFrontEnd.sample(RED10, mismatch=0.08, offset=0.5, seed=s)
        grid = codes_at(RED10, fe, np.repeat(x[:, None], 8, axis=1))
        if (np.diff(grid, axis=0) < 0).any():
            return s, fe, x, grid
    raise AssertionError("no non-monotonic instance in seeds 100..139")


def test_non_monotonic_instance_flagged_and_widths_match_fine_grid():
    """A grid of 1024 points per LSB finds the columns whose code decreases; exact_static
    flags exactly those, each drop within one grid step of the grid's, and every code width
    within (segments of the code) / 1024 LSB of the grid's count."""
    s, fe, x, grid = first_non_monotonic_seed()
    ex = exact_static(RED10, fe)
    down = (np.diff(grid, axis=0) < 0).any(axis=0)
    assert (~ex.monotonic).tolist() == down.tolist(), s
    for c in np.flatnonzero(down):
        at = x[1:][np.diff(grid[:, c]) < 0]
        got = np.array([d["input_lsb"] for d in ex.drops[c]])
        assert got.size == at.size and np.abs(got - at).max() <= 1 / 1024
    hist = np.stack([np.bincount(grid[:, c], minlength=N) for c in range(8)]) / 1024
    nseg = np.stack([np.bincount(sg[2], minlength=N) for sg in ex.segments])
    assert (np.abs(hist - ex.widths) <= (nseg + 1) / 1024).all()


@pytest.mark.parametrize("offset", [1.5, -1.25])
def test_endpoint_offset_gain_from_actual_transitions_when_an_end_code_is_missing(offset):
    """Ideal binary weights and comparator offset o: T[k] = k - o exactly, also the transition
    beyond the full scale (o = 1.5: code 0 missing, T[1] = -0.5; o = -1.25: code 255 missing,
    T[255] = 256.25), so endpoint offset = o and gain = 0 exactly, IEEE 1241 G = 1, V_os = o."""
    cfg = SARConfig(columns=1)
    fe = AnalogFrontEnd(np.array([cfg.weights], float), np.array([offset]))
    ex = exact_static(cfg, fe)
    np.testing.assert_allclose(ex.transitions[0, 1:], np.arange(1, N) - offset, atol=1e-12)
    assert ex.missing[0].tolist() == ([0] if offset > 1 else [255])
    assert ex.virtual[0, 1] == (offset > 1) and ex.virtual[0, 255] == (offset < -1)
    for m in ("endpoint", "fit"):
        assert abs(getattr(ex, f"offset_{m}")[0] - offset) < 1e-9
        assert abs(getattr(ex, f"gain_{m}")[0]) < 1e-9
        assert abs(getattr(ex, f"ieee_gain_{m}")[0] - 1) < 1e-12
        assert abs(getattr(ex, f"ieee_offset_{m}")[0] - offset) < 1e-9


def test_transition_noise_of_an_ideal_binary_sar():
    """Ideal binary weights: an odd transition k is decided by the last step alone (the others'
    thresholds are >= 1 LSB away), so its sigma is the comparator's; noise 0 gives 0."""
    cfg = SARConfig(columns=4)
    ideal = AnalogFrontEnd.ideal(cfg)
    t = exact_static(cfg, ideal).transitions
    noisy = AnalogFrontEnd.sample(cfg, noise=0.3, seed=5)
    tn = transition_noise(cfg, noisy, t)
    odd = tn["sigma"][:, 1::2]
    assert abs(np.nanmean(odd) - 0.3) < 0.015, np.nanmean(odd)
    assert np.nanmean(tn["se"]) < 0.06
    assert (transition_noise(cfg, ideal, t)["sigma"][:, 1:] == 0).all()


# -- the report: flags, JSON and what the plots draw ------------------------------------
def drawn_points(line):
    """Display coordinates of the finite data points of a Line2D."""
    xy = np.column_stack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
    xy = xy[np.isfinite(xy).all(axis=1)]
    return line.get_transform().transform(xy) if xy.size else np.zeros((0, 2))


def inside(box, pts):
    """Which display points lie within the matplotlib Bbox ``box``."""
    x, y = pts[:, 0], pts[:, 1]
    return (x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)


def test_report_flags_non_monotonic_instance_and_draws_markers_clear_of_legends(build_dir):
    """The report of a non-monotonic redundant instance with missing codes: its JSON flags
    each column as exact_static does and carries the new figures; the printed lines flag
    it; on every figure each marker is inside its axes and outside every legend, the
    missing-code markers are drawn at the missing codes, and no text holds a numpy repr."""
    from matplotlib.text import Text

    from model.flow.adc_report import write_report

    s = first_non_monotonic_seed()[0]
    figs = {}
    settings = {"columns": 8, "mismatch": 0.08, "offset": 0.5, "noise": 0.3, "seed": s,
                "steps": 10, "weights": REDUNDANT_10, "per_code": 8}  # fmt: skip
    rep, lines = write_report(build_dir, figures=figs, **settings)
    try:
        fe = AnalogFrontEnd.sample(RED10, mismatch=0.08, offset=0.5, seed=s)
        ex = exact_static(RED10, fe)
        per = json.loads((build_dir / "adc_report.json").read_text())["static"]["per_column"]
        assert [r["monotonic"] for r in per] == ex.monotonic.tolist()
        bad = [c for c in range(8) if not ex.monotonic[c]]
        assert rep["static"]["summary"]["non_monotonic_columns"] == bad
        assert any(line.startswith("FLAG non-monotonic columns: ") for line in lines)
        for r in per:
            for key in ("missing_codes", "inl_best_fit_min", "inl_best_fit_max", "dnl_min",
                        "dnl_max", "transition_noise_lsb", "ieee1241"):  # fmt: skip
                assert key in r
            assert r["dnl_min"] == pytest.approx(np.nanmin(ex.dnl[r["column"]]), abs=RES)
        dyn = rep["dynamic"]["per_column"][0]
        assert dyn["enob_fs"] > dyn["enob"] and dyn["enob_std"] > 0
        assert set(figs) == {"sar_histogram", "sar_transfer_error", "sar_dnl", "sar_inl",
                             "sar_spectrum", "sar_enob", "sar_summary"}  # fmt: skip
        for name, fig in figs.items():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            for t in fig.findobj(Text):
                assert not any(r in t.get_text() for r in ("np.", "int64", "float64", "array(")), (
                    name, t.get_text())  # fmt: skip
            for ax in fig.axes:
                box = ax.get_window_extent(renderer).expanded(1.01, 1.01)
                legends = [leg.get_window_extent(renderer) for leg in fig.findobj(
                    lambda a: type(a).__name__ == "Legend")]  # fmt: skip
                for line in ax.get_lines():
                    if line.get_marker() in (None, "None", "", " ") or not line.get_visible():
                        continue
                    pts = drawn_points(line)
                    assert inside(box, pts).all(), (name, line.get_label())
                    for leg in legends:
                        assert not inside(leg, pts).any(), (name, line.get_label())
                    if line.get_label().startswith("missing"):
                        assert set(np.asarray(line.get_xdata()).tolist()) <= {
                            int(x) for m in ex.missing for x in m}  # fmt: skip
        dnl_ax = figs["sar_dnl"].axes[0]
        marked = [ln for ln in dnl_ax.get_lines() if ln.get_label().startswith("missing codes")]
        want = sorted({int(x) for m in ex.missing for x in m})
        assert (not want and not marked) or list(marked[0].get_xdata()) == want
        drops = [ln for a in figs["sar_transfer_error"].axes for ln in a.get_lines()
                 if ln.get_label().startswith("code drops")]  # fmt: skip
        col = int(figs["sar_transfer_error"].axes[0].get_title().split()[3].rstrip(","))
        assert len(drops) == (not ex.monotonic[col])
    finally:
        import matplotlib.pyplot as plt

        for fig in figs.values():
            plt.close(fig)


def test_early_stop_bias_of_the_11_step_set_is_the_documented_row():
    """The 11-step redundant set of tests/test_sar_model.py: mean(code_k - code_full) over a
    uniform input, ideal front end, equals an integer re-implementation of the search (for
    x in [c, c + 1) the ideal comparator decides x >= D iff c >= D) and the docs/sar.md row,
    up to +14.3125 LSB at k = 2."""
    from fractions import Fraction

    from model.analog.adc_metrics import early_stop_error

    w = (100, 60, 40, 24, 14, 8, 5, 3, 2, 1, 1)
    cfg = SARConfig(columns=1, steps=11, weights=w)
    got = early_stop_error(cfg, AnalogFrontEnd.ideal(cfg), per_code=4)["mean"][:, 0]
    for k in range(1, 12):
        fill = (sum(w[k:]) + 1) // 2
        total = 0
        for c in range(N):
            p = 0
            for wi in w[:k]:
                p += wi if c >= p + wi else 0
            total += min(p + fill, N - 1) - c
        assert Fraction(got[k - 1]) == Fraction(total, N), k
    documented = [12.4375, 14.3125, 9.3125, 6.3125, 4.125, 3, 2.42578125, 1.21484375,
                  0.62890625, 0.99609375, 0]  # fmt: skip
    assert got.tolist() == documented


def test_transitions_of_a_compressive_front_end_flip_the_model_code(seed):
    """Gain error and compression (the held input a non-linear function of v): every finite
    T[k], mapped back to the input, lies between the model's codes below k (1e-9 LSB under
    it) and at least k (1e-9 LSB over it)."""
    cfg = SARConfig(columns=8)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.03, offset=0.5, seed=seed, gain=0.01,
                               compression=0.3)  # fmt: skip
    ex = exact_static(cfg, fe)
    c, k = np.nonzero(np.isfinite(ex.transitions) & ~ex.virtual)
    t = ex.transitions[c, k]
    for d, below in ((-RES, True), (RES, False)):
        v = np.zeros((t.size, 8))
        v[np.arange(t.size), c] = 2 * (t + d * np.maximum(t, 1)) / N - 1
        got = sar_convert(cfg, fe, np.clip(v, -1, 1))[0][np.arange(t.size), c]  # noise 0
        assert ((got < k) if below else (got >= k)).all()
