"""Bit-identity of the fast golden SAR path with the SAR's definition, written out plainly.

What this pins: ``sar_convert`` with ``AnalogFrontEnd`` (codes *and* raw
decisions) and ``AnalogFrontEnd.compare`` give exactly the outputs of the
straightforward algorithm below -- the model as it was before the speed-up
(``sar_convert`` of commit d4078a8), which drew a comparator noise sample for
every decision, summed the DAC level per step, and corrected with a dot
product. The reference never skips a draw, never gathers a subset and never
keeps a running level, so every shortcut the fast path takes (noise drawn
only where it can flip a decision, a hash prefix per vector, in-place
buffers, the code accumulated during the search) is checked against the
definition, for every front-end setting (ideal, mismatch, offset, noise,
gain, compression), binary and redundant weights (with more than 12 steps
too, where the DAC table is not used), ``active_steps`` 1..steps (one or one
per vector), ``first_index`` offsets and inputs exactly on the decision
thresholds (ties, where a rounding slip would show).

Only numpy's own ``log1p``/``sqrt``/``cos`` are shared with the model: the
noise is defined by numpy's float64 results of those functions.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model.golden.sar as golden_sar
from model.analog.counter_noise import counter_normal
from model.sar import AnalogFrontEnd, SARConfig, sar_convert
from tb.stimulus.catalogue import REDUNDANT_10

# -- the reference: the model's definition, one plain pass per operation ------------------

M64 = (1 << 64) - 1


def ref_mix64(z):
    """splitmix64 finaliser (uint64, wrapping)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def ref_normal(seed, vector_index, step, column):
    """The counter-based standard normal: hash of (seed, vector, step, column), Box-Muller."""
    with np.errstate(over="ignore"):
        h = np.uint64(0x243F6A8885A308D3)
        for f in (seed, vector_index, step, column):
            f = np.asarray(f).astype(np.int64).astype(np.uint64)
            h = ref_mix64((h ^ f) + np.uint64(0x9E3779B97F4A7C15))
        u1 = (ref_mix64(h ^ np.uint64(1)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        u2 = (ref_mix64(h ^ np.uint64(2)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def ref_held(fe, v):
    """``x = (u + 1) / 2 * 2**out_width``, ``u = gain * tanh(a clip(v)) / a`` (or linear)."""
    u = np.clip(np.asarray(v, dtype=np.float64), -1.0, 1.0)
    a = fe.compression
    if (fe.gain != 1.0).any() or (a != 0.0).any():
        safe = np.where(a > 0, a, 1.0)
        u = fe.gain * np.where(a > 0, np.tanh(safe * u) / safe, u)
    return (u + 1.0) / 2.0 * (1 << fe.out_width)


def ref_level(fe, states):
    """``D(s) = sum_i s_i w[c, i]``, summed in step order."""
    states = np.asarray(states, dtype=np.int64)
    d = np.zeros(states.shape)
    for i in range(fe.steps):
        d += ((states >> i) & 1) * fe.weights[:, i]
    return d


def ref_compare(fe, v, states, step, vector_index):
    """``x + offset + noise * z >= D(s)`` with a draw ``z`` for *every* decision."""
    lhs = ref_held(fe, v) + fe.offset
    if fe.noise:
        vi = np.asarray(vector_index)[..., None]
        lhs = lhs + fe.noise * ref_normal(fe.seed, vi, step, np.arange(fe.columns))
    return (lhs >= ref_level(fe, states)).astype(np.uint8)


def ref_convert(cfg, fe, v, active_steps=None, first_index=0):
    """Successive approximation, then ``min(sum b_i w_i + (S_k + 1) // 2, 2**out_width - 1)``."""
    v = np.asarray(v, dtype=np.float64)
    k = np.broadcast_to(cfg.steps if active_steps is None else active_steps, v.shape[:1])
    index = first_index + np.arange(v.shape[0])
    kept = np.zeros(v.shape, dtype=np.int64)
    decisions = np.zeros((*v.shape, cfg.steps), dtype=np.uint8)
    for i in range(cfg.steps):
        b = ref_compare(fe, v, kept | (1 << i), i, index) * (i < k)[:, None]
        kept |= b.astype(np.int64) << i
        decisions[..., i] = b
    fill = np.array([(sum(cfg.weights[j:]) + 1) // 2 for j in k], dtype=np.int64)
    total = (decisions.astype(np.int64) * np.array(cfg.weights)).sum(-1) + fill[:, None]
    return np.minimum(total, cfg.full_code), decisions


# -- configurations -----------------------------------------------------------------------

#: (weights, out_width): binary 8 and 6, redundant 10 and 11 steps, binary 13 and 16 (> 12
#: steps: the DAC level is summed per step instead of read from the table; 8 and 16 steps
#: write the decisions 8 at a time as words, the others byte by byte).
WEIGHT_SETS = [
    ((128, 64, 32, 16, 8, 4, 2, 1), 8),
    ((32, 16, 8, 4, 2, 1), 6),
    (REDUNDANT_10, 8),
    ((100, 60, 40, 24, 14, 8, 5, 3, 2, 1, 1), 8),
    (tuple(1 << (12 - i) for i in range(13)), 13),
    (tuple(1 << (15 - i) for i in range(16)), 16),
]


def front_end(cfg, fe_kind, data):
    """A front end of kind ``fe_kind`` with its settings drawn by hypothesis."""
    if fe_kind == "ideal":
        return AnalogFrontEnd.ideal(cfg)
    floats = st.floats
    settings_ = {
        "mismatch": data.draw(st.one_of(st.just(0.0), floats(0, 0.2)), label="mismatch"),
        "offset": data.draw(st.one_of(st.just(0.0), floats(0, 3)), label="offset"),
        "noise": data.draw(
            st.one_of(st.just(0.0), st.just(1e-9), floats(0, 0.5), floats(0.5, 6)), label="noise"
        ),
        "seed": data.draw(st.integers(0, 2**40), label="fe_seed"),
    }
    if fe_kind == "transfer":
        settings_["gain"] = data.draw(floats(0, 0.3), label="gain")
        settings_["compression"] = data.draw(floats(0, 3), label="compression")
    return AnalogFrontEnd.sample(cfg, **settings_)


def inputs(cfg, fe, rng, vectors):
    """Uniform inputs beyond full scale, nominal code edges, and inputs exactly on a threshold
    of the column's actual DAC (a tie unless offset or noise moves it)."""
    n = 1 << cfg.out_width
    v = rng.uniform(-1.2, 1.2, (vectors, cfg.columns))
    edges = -1.0 + 2.0 * rng.integers(0, n + 1, v.shape) / n
    states = rng.integers(1, 1 << cfg.steps, v.shape)
    ties = ref_level(fe, states) / n * 2.0 - 1.0 - fe.offset / n * 2.0
    pick = rng.integers(0, 3, v.shape)
    return np.where(pick == 0, v, np.where(pick == 1, edges, ties))


@settings(max_examples=150, deadline=None)
@given(
    weights=st.sampled_from(WEIGHT_SETS),
    fe_kind=st.sampled_from(["ideal", "analog", "transfer"]),
    columns=st.integers(1, 40),
    vectors=st.integers(0, 24),
    block=st.sampled_from([golden_sar.BLOCK, 1, 50, 300]),
    rng_seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_sar_convert_matches_reference(weights, fe_kind, columns, vectors, block, rng_seed, data):
    """``block`` overrides ``sar.BLOCK`` (decisions per block), so rows are also converted
    one by one and in uneven blocks."""
    weights, out_width = weights
    cfg = SARConfig(columns=columns, steps=len(weights), weights=weights, out_width=out_width)
    fe = front_end(cfg, fe_kind, data)
    rng = np.random.default_rng(rng_seed)
    v = inputs(cfg, fe, rng, vectors)
    k = data.draw(
        st.one_of(
            st.none(),
            st.integers(1, cfg.steps),
            st.just(rng.integers(1, cfg.steps + 1, vectors)),
        ),
        label="active_steps",
    )
    first = data.draw(st.integers(-(2**40), 2**40), label="first_index")
    with mock.patch.object(golden_sar, "BLOCK", block):
        codes, decisions = sar_convert(cfg, fe, v, k, first_index=first)
    want_codes, want_decisions = ref_convert(cfg, fe, v, k, first)
    assert codes.dtype == np.int64 and decisions.dtype == np.uint8
    assert decisions.shape == (vectors, columns, cfg.steps)
    bad = np.argwhere(decisions != want_decisions)
    assert bad.size == 0, (
        f"decision (vector, column, step) {bad[0]}: expected "
        f"{want_decisions[tuple(bad[0])]}, got {decisions[tuple(bad[0])]} ({fe.params})"
    )
    np.testing.assert_array_equal(codes, want_codes, err_msg=f"codes ({fe.params})")


@pytest.mark.parametrize("noise", [0.0, 1e-9, 0.3, 3.0])
def test_bench_configuration_matches_reference(noise, seed):
    """The ``make bench`` front end (mismatch 0.02, offset 0.5) at 256 columns, 300 vectors
    in blocks of 2**15 decisions: two full blocks and a partial one, steps with few and
    with mostly near decisions."""
    cfg = SARConfig()
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.02, offset=0.5, noise=noise, seed=seed)
    v = np.random.default_rng(seed).uniform(-1, 1, (300, cfg.columns))
    with mock.patch.object(golden_sar, "BLOCK", 1 << 15):
        codes, decisions = sar_convert(cfg, fe, v, first_index=1000)
    want_codes, want_decisions = ref_convert(cfg, fe, v, None, 1000)
    np.testing.assert_array_equal(decisions, want_decisions)
    np.testing.assert_array_equal(codes, want_codes)
    if noise >= 0.3:  # the noise path really ran: some decisions differ from the quiet ones
        quiet = AnalogFrontEnd(fe.weights, fe.offset, noise=0.0, seed=seed, out_width=8)
        assert (sar_convert(cfg, quiet, v)[1] != decisions).any()


@settings(max_examples=60, deadline=None)
@given(
    weights=st.sampled_from(WEIGHT_SETS),
    fe_kind=st.sampled_from(["ideal", "analog", "transfer"]),
    shape=st.sampled_from([(), (5,), (3, 4)]),
    columns=st.integers(1, 20),
    rng_seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_compare_matches_reference(weights, fe_kind, shape, columns, rng_seed, data):
    """``compare`` on any trial states and batch shape (the closed-loop benches call it with
    the RTL's switch states, one vector at a time)."""
    weights, out_width = weights
    cfg = SARConfig(columns=columns, steps=len(weights), weights=weights, out_width=out_width)
    fe = front_end(cfg, fe_kind, data)
    rng = np.random.default_rng(rng_seed)
    v = inputs(cfg, fe, rng, int(np.prod(shape))).reshape(*shape, columns)
    states = rng.integers(0, 1 << cfg.steps, v.shape)
    step = int(rng.integers(0, cfg.steps))
    index = rng.integers(-(2**40), 2**40, shape) if shape else int(rng.integers(0, 2**40))
    got = fe.compare(v, states, step, index)
    want = ref_compare(fe, v, states, step, index)
    assert got.dtype == np.uint8 and got.shape == v.shape
    np.testing.assert_array_equal(got, want, err_msg=f"step {step}, {fe.params}")


def test_counter_normal_matches_reference(seed):
    rng = np.random.default_rng(seed)
    vi = rng.integers(-(2**62), 2**62, 4000)
    col = rng.integers(0, 4096, 4000)
    for step in (0, 7, 31):
        z = counter_normal(seed, vi, step, col)
        np.testing.assert_array_equal(z, ref_normal(seed, vi, step, col), err_msg=f"{step=}")
    grid = counter_normal(seed, np.arange(50)[:, None], 3, np.arange(30))
    np.testing.assert_array_equal(grid, ref_normal(seed, np.arange(50)[:, None], 3, np.arange(30)))


class Delegating:
    """A comparator without ``hold``: ``sar_convert`` asks its ``compare`` once per step."""

    def __init__(self, fe):
        self.fe, self.calls = fe, 0
        self.columns, self.steps, self.out_width = fe.columns, fe.steps, fe.out_width

    def compare(self, v, trial_states, step, vector_index):
        self.calls += 1
        assert trial_states.dtype == np.int64 and trial_states.shape == v.shape
        return self.fe.compare(v, trial_states, step, vector_index)


class FlippedStep2(AnalogFrontEnd):
    """Test double overriding ``compare``: step 2 decides the opposite."""

    def compare(self, v, trial_states, step, vector_index):
        b = super().compare(v, trial_states, step, vector_index)
        return 1 - b if step == 2 else b


def test_comparators_without_hold_and_overriding_compare(seed):
    """A comparator without ``hold`` gets one ``compare`` per step on all vectors (int64
    states), with the held path's results; a subclass overriding ``compare`` is asked its
    own ``compare``, in blocks as well."""
    cfg = SARConfig(columns=16)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=1.0, noise=0.7, seed=seed)
    v = np.random.default_rng(seed).uniform(-1, 1, (700, cfg.columns))
    plain = Delegating(fe)
    got = sar_convert(cfg, plain, v, first_index=5)
    assert plain.calls == cfg.steps
    want = ref_convert(cfg, fe, v, None, 5)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    flipped = FlippedStep2(fe.weights, fe.offset, noise=fe.noise, seed=fe.seed)
    with mock.patch.object(golden_sar, "BLOCK", 16 * 64):  # 11 blocks of 64 rows
        blocked = sar_convert(cfg, flipped, v, first_index=5)
    whole = sar_convert(cfg, Delegating(flipped), v, first_index=5)
    np.testing.assert_array_equal(blocked[1], whole[1])
    np.testing.assert_array_equal(blocked[0], whole[0])
    # the override took effect: step 2 differs from the plain front end's step 2
    assert (blocked[1][..., 2] != got[1][..., 2]).any()


def test_hold_and_arguments_checked(seed):
    """``hold(v, i).compare(s, step, out=)`` equals ``compare`` step after step (the held
    inputs and recycled work arrays are not disturbed by other holders in between); bad
    arguments raise ``ValueError`` naming the argument."""
    cfg = SARConfig(columns=8)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=1.0, noise=0.5, seed=seed)
    rng = np.random.default_rng(seed)
    v = rng.uniform(-1, 1, (20, 8))
    index = np.arange(20) + 100
    states = rng.integers(0, 256, (cfg.steps, *v.shape))
    held, other = fe.hold(v, index), fe.hold(v[::-1], index)
    for step in range(cfg.steps):
        out = np.empty(v.shape, dtype=np.uint8)
        assert held.compare(states[step], step, out=out) is out
        other.compare(states[step], step)
        want = ref_compare(fe, v, states[step], step, index)
        np.testing.assert_array_equal(out, want, err_msg=f"{step=}")
        np.testing.assert_array_equal(fe.compare(v, states[step], step, index), want)
    s = states[0]
    # a step outside 0..steps-1 still keys its own draws (the keys are not precomputed)
    np.testing.assert_array_equal(held.compare(s, 40), ref_compare(fe, v, s, 40, index))
    with pytest.raises(ValueError, match="trial_states must be in"):
        held.compare(np.full(v.shape, 256), 4)
    with pytest.raises(ValueError, match="trial_states must be in"):
        fe.dac_level(np.full(8, -1))
    with pytest.raises(ValueError, match="trial_states must be integer"):
        fe.compare(v, s.astype(float), 4, index)
    with pytest.raises(ValueError, match="trial_states of shape"):
        held.compare(s[:3], 4)
    with pytest.raises(ValueError, match="out must be"):
        held.compare(s, 4, out=np.empty(v.shape, dtype=np.int64))
    with pytest.raises(ValueError, match="vector_index of shape"):
        fe.compare(v, s, 4, np.arange(3))
    with pytest.raises(ValueError, match="v must be"):
        fe.compare(v[:, :5], s[:, :5], 4, index)
    with pytest.raises(ValueError, match="NaN"):
        fe.hold(np.where(v > 0.9, np.nan, v), index)
