"""Analog front end of the SAR ADC (DESIGN 4.3): CDAC mismatch, comparator offset and noise.

A float model, the *one* place comparator decisions are made
(:meth:`HeldInput.compare`): the golden ``model.golden.sar.sar_convert``
holds its inputs with :meth:`AnalogFrontEnd.hold` and compares them step by
step, and the closed-loop testbenches (``tb.stream.closed_loop``) call
:meth:`AnalogFrontEnd.compare` (a hold and one compare) with the switch states
they read from the RTL's ``dac`` port, so both see the same decisions bit for
bit.

Conventions (also in ``docs/sar.md``)
-------------------------------------
Let ``N = 2**out_width`` and ``LSB = 2 / N`` of the normalised full scale.

* Input. ``v`` is normalised to the full scale ``[-1, 1)``; values outside are
  clipped to ``[-1, 1]`` (a NaN raises ``ValueError``). In LSB units the held
  input is ``x = (clip(v, -1, 1) + 1) / 2 * N`` (so ``x`` is in ``[0, N]``).
* DAC voltage. ``D(s) = sum_i s_i * w_act[c, i]`` in LSB for a switch state
  ``s`` (bit i = step i), i.e. the normalised DAC voltage is
  ``-1 + 2 * D(s) / N``. ``w_act`` are the column's actual (mismatched) CDAC
  weights in units of the ideal unit capacitor = 1 LSB; the reference defines
  the full scale (array gain error is not modelled).
* Comparator. ``b = 1`` iff ``x + offset[c] + noise >= D(s)`` (ties give 1).
  ``offset`` (per column) and ``noise`` (rms, per decision) are input-referred,
  in LSB. With zero offset and noise the comparison is exact, so ideal weights
  give exactly ``code = clip(floor(x), 0, N - 1)`` -- the ideal quantiser of
  DESIGN 4.5 -- for binary *and* for valid redundant weight sets.
* Gain error and compression (DESIGN 9; both off by default, so the default
  path is bit-identical to a model without them). Per column ``c`` the
  clipped input passes ``u = g[c] * f_c(clip(v, -1, 1))`` before it is held,
  with ``f_c(v) = tanh(a[c] v) / a[c]`` (``f_c(v) = v`` when ``a[c] = 0``): a
  compressive transfer with unity small-signal gain, as a current-mode
  read-out saturating towards full scale, and ``g[c]`` the column's
  input-referred gain (a reference error of factor ``r`` is ``g = 1 / r``).
  ``x = (u + 1) / 2 * N`` is then not clipped again: a ``u`` beyond full scale
  saturates the code. :meth:`AnalogFrontEnd.sample` draws ``g[c] = max(1 +
  gain * N(0, 1), 1/4)`` and ``a[c] = compression * (1 + U(-0.5, 0.5))`` from a
  stream of its own (keyed by the seed), so an instance's capacitors and
  offsets do not change when these terms are turned on.
* Noise draws are counter based: the draw for (seed, vector index, step,
  column) is a fixed hash of those four integers (splitmix64, Box-Muller), so
  it does not depend on how calls are batched or ordered.

Speed (``make bench`` row ``golden.sar``)
-----------------------------------------
The decisions are defined with a draw for every decision; computing one
costs about as much as the rest of a conversion step several times over, so
:meth:`HeldInput.compare` draws only for the decisions a draw can flip (two
filters, see ``_redecide_near``) and gets the same decisions bit for bit
(``tests/test_sar_bit_identity.py`` checks it against the plain definition).
Its numpy passes run in place in work arrays that are reused at every step
and recycled from one :class:`HeldInput` to the next (fresh arrays cost a
page fault per 4 kB), the noise hash of each vector and step is computed
once per hold, and ``sar_convert`` holds and searches blocks of rows
(``model.golden.sar.BLOCK``), so the work arrays stay a few MB.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from model.golden.sar import SARConfig

# -- counter-based Gaussian noise ------------------------------------------------
#
# The hash runs in place on preallocated uint64 buffers: a chain of whole-array
# temporaries costs several times the arithmetic itself (allocation, page faults).
# Its arithmetic wraps modulo 2**64 by design; it is done on arrays (0-d ones for
# single values), where numpy does not warn about the wrap as it does for scalars.
_KEY = np.uint64(0x243F6A8885A308D3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1, _MUL2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix64(z: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """splitmix64 finaliser, in place on the uint64 array ``z`` (wrapping); returns ``z``.

    ``tmp`` is scratch space of ``z``'s shape (allocated when None).
    """
    tmp = np.empty_like(z) if tmp is None else tmp
    for shift, mul in ((_S30, _MUL1), (_S27, _MUL2)):
        np.right_shift(z, shift, out=tmp)
        z ^= tmp
        z *= mul
    np.right_shift(z, _S31, out=tmp)
    z ^= tmp
    return z


def _as_field(value) -> np.ndarray:
    """A hash field as uint64: the two's complement bits of its int64 value."""
    return np.asarray(value).astype(np.int64).astype(np.uint64)


def _absorb(h, value) -> np.ndarray:
    """``mix64((h ^ value) + golden)``: one more field into the hash (broadcasts, new array)."""
    h = np.asarray(h ^ _as_field(value))  # 0-d stays an array, so the ops below are in place
    h += _GOLDEN
    return _mix64(h)


def _hash_fields(*fields) -> np.ndarray:
    """The hash of the integer fields, in order, starting from a fixed key (broadcasts)."""
    h = np.asarray(_KEY)
    for f in fields:
        h = _absorb(h, f)
    return h


def _lane(base, lane: int, out, tmp) -> np.ndarray:
    """Lane ``lane`` of the hash ``base``, ``mix64(base ^ lane)``, into the uint64 ``out``."""
    np.bitwise_xor(base, np.uint64(lane), out=out)
    return _mix64(out, tmp)


def _uniform(lane_bits, out, sign: float = 1.0) -> np.ndarray:
    """``sign * u`` into ``out``: ``u`` in [0, 1) on a 2**-53 grid, the top 53 bits of a
    hash lane (``lane_bits`` is shifted in place)."""
    lane_bits >>= _S11
    out[...] = lane_bits  # < 2**53: exact
    out *= sign * 2.0**-53  # exact: a power of two
    return out


def _radius(lane1, out) -> np.ndarray:
    """Box-Muller radius ``sqrt(-2 log1p(-u1))`` from hash lane 1 (consumed): bounds |draw|."""
    r = _uniform(lane1, out, sign=-1.0)  # -u1
    np.log1p(r, out=r)
    r *= -2.0
    return np.sqrt(r, out=r)


def _cosine(lane2, out) -> np.ndarray:
    """Box-Muller angle term ``cos(2 pi u2)`` from hash lane 2 (consumed)."""
    c = _uniform(lane2, out)
    c *= 2.0 * np.pi
    return np.cos(c, out=c)


#: Largest |draw| of :func:`counter_normal`: sqrt(-2 ln 2**-53) = 8.572 (u1 < 1 - 2**-53
#: after the 53-bit quantisation), rounded up.
NOISE_REACH = 8.6

#: An upper bound of the Box-Muller radius for each 1/1024 of the range of ``u1``, i.e.
#: for each value of the top 10 bits of hash lane 1: the radius at the top of the bucket
#: (1 ppb up for float rounding), NOISE_REACH for the last. Reading it costs a shift and
#: a gather instead of ``log1p`` and ``sqrt``.
_RADIUS_BOUND = np.append(
    np.sqrt(-2.0 * np.log1p(-np.arange(1, 1024) / 1024.0)) * (1 + 1e-9), NOISE_REACH
)
_S54 = np.uint64(64 - 10)


def counter_normal(seed: int, vector_index, step: int, column) -> np.ndarray:
    """Standard-normal draw that is a pure function of (seed, vector, step, column).

    Broadcasts ``vector_index`` and ``column``. Two uniforms from the hash
    (lanes 1 and 2), then Box-Muller: ``sqrt(-2 log1p(-u1)) * cos(2 pi u2)``.
    """
    base = _hash_fields(seed, vector_index, step, column)
    bits, tmp = np.empty_like(base), np.empty_like(base)
    radius = _radius(_lane(base, 1, bits, tmp), np.empty(base.shape))
    return radius * _cosine(_lane(base, 2, bits, tmp), np.empty(base.shape))


def _draw_transfer(columns: int, gain: float, compression: float, seed: int):
    """Per-column gain ``max(1 + gain N(0,1), 1/4)``, compression ``compression (1/2 + U(0,1))``.

    From a stream of their own, so the capacitor and offset draws of an
    instance do not depend on whether these terms are on.
    """
    g, a = np.ones(columns), np.zeros(columns)
    if gain or compression:
        rng = np.random.default_rng([int(seed), 0x6A1])
        z, u = rng.standard_normal(columns), rng.random(columns)
        if gain:
            g = np.maximum(1.0 + gain * z, 0.25)
        if compression:
            a = compression * (0.5 + u)
    return g, a


@dataclass(frozen=True, eq=False)
class AnalogFrontEnd:
    """Analog model of the column ADCs: CDAC weights, comparator offset and noise.

    Members
    -------
    weights : float64 array [columns, steps]
        Actual CDAC weight of each step of each column, in LSB (ideal: the
        nominal integer weights).
    offset : float64 array [columns]
        Input-referred comparator offset per column, in LSB.
    noise : float
        Input-referred comparator noise, rms LSB, drawn independently for each
        (vector, step, column) decision from :func:`counter_normal`.
    seed : int
        Key of the noise draws (and of the mismatch/offset draws in :meth:`sample`).
    gain : float64 array [columns] or None
        Input-referred per-column gain ``g[c]`` (reference error); None: all 1,
        or drawn from ``params["gain"]`` and ``seed`` as :meth:`sample` draws it.
    compression : float64 array [columns] or None
        Per-column compression strength ``a[c] >= 0`` of ``tanh(a v) / a``; None:
        all 0 (linear), or drawn from ``params["compression"]`` and ``seed``.
    """

    weights: np.ndarray
    offset: np.ndarray
    noise: float = 0.0
    seed: int = 0
    out_width: int = 8
    params: dict = field(default_factory=dict)
    gain: np.ndarray | None = None
    compression: np.ndarray | None = None

    def __post_init__(self):
        w = np.array(self.weights, dtype=np.float64)
        off = np.array(self.offset, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"AnalogFrontEnd.weights must be [columns, steps], not {w.shape}")
        if off.shape != (w.shape[0],):
            raise ValueError(f"AnalogFrontEnd.offset must have shape ({w.shape[0]},)")
        if not (np.isfinite(w).all() and np.isfinite(off).all()):
            raise ValueError("AnalogFrontEnd.weights and offset must be finite")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"AnalogFrontEnd.noise must be >= 0, not {self.noise!r}")
        w.flags.writeable = False
        off.flags.writeable = False
        drawn = None
        if self.gain is None or self.compression is None:
            # Derived from the recorded settings, so a copy built from (weights, offset,
            # params) -- e.g. adc_metrics.noise_free -- keeps the same instance.
            drawn = _draw_transfer(
                w.shape[0],
                float((self.params or {}).get("gain", 0.0)),
                float((self.params or {}).get("compression", 0.0)),
                int(self.seed),
            )
        for name, default in (
            ("gain", None if drawn is None else drawn[0]),
            ("compression", None if drawn is None else drawn[1]),
        ):
            value = getattr(self, name)
            arr = np.array(default if value is None else value, dtype=np.float64)
            if arr.shape != (w.shape[0],):
                raise ValueError(f"AnalogFrontEnd.{name} must have shape ({w.shape[0]},)")
            if not np.isfinite(arr).all():
                raise ValueError(f"AnalogFrontEnd.{name} must be finite")
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if (self.gain <= 0).any():
            c = int(np.flatnonzero(self.gain <= 0)[0])
            raise ValueError(f"AnalogFrontEnd.gain[{c}] = {self.gain[c]} must be > 0")
        if (self.compression < 0).any():
            c = int(np.flatnonzero(self.compression < 0)[0])
            raise ValueError(
                f"AnalogFrontEnd.compression[{c}] = {self.compression[c]} must be >= 0"
            )
        object.__setattr__(
            self, "_linear", bool((self.gain == 1.0).all() and (self.compression == 0.0).all())
        )
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "offset", off)
        object.__setattr__(self, "noise", float(self.noise))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def linear(self) -> bool:
        """No gain error and no compression: the held input is the plain clipped formula."""
        return self._linear

    @property
    def columns(self) -> int:
        return self.weights.shape[0]

    @property
    def steps(self) -> int:
        return self.weights.shape[1]

    @classmethod
    def ideal(cls, cfg: SARConfig) -> AnalogFrontEnd:
        """Exact nominal weights, no offset, no noise."""
        return cls.sample(cfg)

    @classmethod
    def sample(
        cls,
        cfg: SARConfig,
        *,
        mismatch: float = 0.0,
        offset: float = 0.0,
        noise: float = 0.0,
        seed: int = 0,
        gain: float = 0.0,
        compression: float = 0.0,
    ) -> AnalogFrontEnd:
        """Draw one mismatch instance.

        Parameters
        ----------
        mismatch : float
            Relative sigma of one unit capacitor. A weight of ``w`` units has
            relative sigma ``mismatch / sqrt(w)``, i.e. absolute sigma
            ``mismatch * sqrt(w)`` LSB (independent per column and step).
        offset : float
            Sigma of the per-column comparator offset, LSB.
        noise : float
            Comparator noise, rms LSB per decision.
        seed : int
            Seeds the mismatch and offset draws and keys the noise draws.
        gain : float
            Sigma of the per-column relative gain (reference) error:
            ``g[c] = max(1 + gain * N(0, 1), 0.25)`` (0: off; the floor keeps a
            far-tail draw from inverting or killing a column).
        compression : float
            Mean per-column compression strength ``a``: ``a[c] = compression *
            (1 + U(-0.5, 0.5))`` of ``tanh(a v) / a`` (0: off, linear).
            Both drawn from a stream of their own (see the module docstring).
        """
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"AnalogFrontEnd.sample: seed must be an integer >= 0, not {seed!r}")
        named = (
            ("mismatch", mismatch),
            ("offset", offset),
            ("noise", noise),
            ("gain", gain),
            ("compression", compression),
        )
        for name, value in named:
            real = isinstance(value, (int, float, np.integer, np.floating))
            if not real or isinstance(value, bool) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"AnalogFrontEnd.sample: {name} must be >= 0, not {value!r}")
        nominal = np.array(cfg.weights, dtype=np.float64)
        rng = np.random.default_rng([int(seed), 0x5A2])
        w = np.broadcast_to(nominal, (cfg.columns, cfg.steps)).copy()
        if mismatch:
            w += mismatch * np.sqrt(nominal) * rng.standard_normal((cfg.columns, cfg.steps))
        off = np.zeros(cfg.columns)
        if offset:
            off = offset * rng.standard_normal(cfg.columns)
        params = {"mismatch": mismatch, "offset": offset, "noise": noise, "seed": int(seed)}
        if gain or compression:  # recorded only when on: old params dicts stay as they were
            params.update(gain=gain, compression=compression)
        return cls(w, off, noise=noise, seed=seed, out_width=cfg.out_width, params=params)

    def held_input(self, v, out=None) -> np.ndarray:
        """``x = (u + 1) / 2 * 2**out_width``: the sampled input in LSB.

        ``u = clip(v, -1, 1)`` for a linear front end (gain 1, no compression),
        else ``u = gain[c] * f_c(clip(v, -1, 1))`` per column (:meth:`transfer`).
        ``out``: a float64 array of ``v``'s shape to compute ``x`` in.
        """
        v = np.asarray(v, dtype=np.float64)
        if v.size and np.isnan(np.min(v)):  # min propagates NaN
            raise ValueError("ADC input contains NaN")
        u = np.clip(v, -1.0, 1.0, out=out)
        if not self._linear:
            u = self.transfer(u)
            if out is not None:
                out[...] = u
                u = out
        u += 1.0  # in place: (u + 1) / 2 * 2**out_width, the same roundings
        u /= 2.0
        u *= 1 << self.out_width
        return u

    def transfer(self, u) -> np.ndarray:
        """``gain[c] * f_c(u)`` for clipped inputs ``u`` [..., columns]: the gain/compression terms.

        ``f_c(u) = tanh(a[c] u) / a[c]``, and ``u`` itself where ``a[c] = 0``.
        """
        u = np.asarray(u, dtype=np.float64)
        a = self.compression
        if (a > 0).any():
            safe = np.where(a > 0, a, 1.0)
            u = np.where(a > 0, np.tanh(safe * u) / safe, u)
        return self.gain * u

    def dac_level(self, trial_states) -> np.ndarray:
        """``D(s)`` in LSB for integer switch-state masks ``[..., columns]`` (bit i = step i).

        Raises ``ValueError`` for a state outside ``[0, 2**steps)``.
        """
        s = np.asarray(trial_states)
        self._check_states(s)
        return self._level(s)

    def _check_states(self, s: np.ndarray) -> None:
        """``ValueError`` unless ``s`` are integer switch states [..., columns] in range."""
        if s.dtype.kind not in "iu":
            raise ValueError(f"trial_states must be integer bit masks, not dtype {s.dtype}")
        if s.ndim == 0 or s.shape[-1] != self.columns:
            raise ValueError(f"trial_states must be [..., {self.columns}], not {s.shape}")
        if s.size:
            lo, hi = np.minimum.reduce(s, axis=None), np.maximum.reduce(s, axis=None)
            if lo < 0 or hi >= 1 << self.steps:
                raise ValueError(f"trial_states must be in [0, 2**{self.steps}), got {lo}..{hi}")

    def _level(self, s: np.ndarray, work: _WorkArrays | None = None) -> np.ndarray:
        """:meth:`dac_level` of checked states ``s``; into ``work`` arrays if given."""
        if self.steps > 12:  # no table of every state: sum the weights of the set bits
            d = np.zeros(s.shape, dtype=np.float64)
            for i in range(self.steps):
                d += ((s >> i) & 1) * self.weights[:, i]
            return d
        # one gather from the flat per-column table of every state (row c at c * 2**steps)
        if work is None:
            return self._dac_table.take(s + self._table_base)
        index = np.add(s, self._table_base, out=work("index", np.int64, s.size).reshape(s.shape))
        level = work("level", np.float64, s.size).reshape(s.shape)
        return self._dac_table.take(index, out=level, mode="clip")  # index checked

    @functools.cached_property
    def _dac_table(self) -> np.ndarray:
        """``D(s)`` for every column and every state ``s`` [columns, 2**steps], summed in
        step order as the loop above sums it (so both give the same float bits)."""
        states = np.arange(1 << self.steps)
        table = np.zeros((self.columns, states.size))
        for i in range(self.steps):
            table += ((states >> i) & 1)[None, :] * self.weights[:, i : i + 1]
        return table

    @functools.cached_property
    def _table_base(self) -> np.ndarray:
        """Flat index of state 0 of each column in :attr:`_dac_table` [columns]."""
        return np.arange(self.columns, dtype=np.int64) << self.steps

    @functools.cached_property
    def _largest_level(self) -> float:
        """A bound on ``|D(s)|`` over all states and columns: ``max_c sum_i |w[c, i]|``."""
        return float(np.abs(self.weights).sum(axis=1).max())

    def hold(self, v, vector_index) -> HeldInput:
        """Sample and hold ``v`` once for a conversion: ``hold(v, i).compare(s, step)`` is
        ``compare(v, s, step, i)``, without redoing the per-input work at every step.

        ``model.golden.sar.sar_convert`` converts through this. A subclass that
        overrides :meth:`compare` gets a holder that calls its ``compare``.
        """
        if type(self).compare is not AnalogFrontEnd.compare:
            return _ComparePerStep(self, v, vector_index)
        return HeldInput(self, v, vector_index)

    def compare(self, v, trial_states, step: int, vector_index) -> np.ndarray:
        """Comparator decisions for inputs ``v`` against trial switch states.

        Parameters
        ----------
        v : float array [..., columns]
            Normalised inputs (clipped to [-1, 1]).
        trial_states : int array broadcastable to ``v.shape``
            Switch-state bit masks the columns present (bit i = step i).
        step : int
            The step being decided (keys the noise draw).
        vector_index : int or int array broadcastable to ``v.shape[:-1]``
            Index of the converted vector (keys the noise draw).

        Returns
        -------
        uint8 array [..., columns]: 1 iff ``x + offset + noise >= D(s)``.
        """
        return HeldInput(self, v, vector_index).compare(trial_states, step)


class HeldInput:
    """Inputs sampled and held by an :class:`AnalogFrontEnd`, to be compared step by step.

    A conversion compares the same held input with a new trial DAC level at
    every step, so what depends on the input alone is done once, here: the
    clipped (and transferred) input plus offset ``x + offset``, the part of
    the noise hash that depends on the vector only, and a float-rounding
    bound. :meth:`compare` is the one place decisions are made
    (:meth:`AnalogFrontEnd.compare` is ``HeldInput(...).compare``); it works
    in place in work arrays that are reused at every step and recycled to the
    next :class:`HeldInput` (see :class:`_WorkArrays`).

    Parameters
    ----------
    fe : AnalogFrontEnd
    v : float array [..., columns]
        Normalised inputs.
    vector_index : int or int array broadcastable to ``v.shape[:-1]``
        Index of each vector (keys the noise draws).

    Members
    -------
    shape : tuple
        Shape of ``v`` and of the decisions.
    """

    def __init__(self, fe: AnalogFrontEnd, v, vector_index):
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 0 or v.shape[-1] != fe.columns:
            raise ValueError(
                f"v must be [..., {fe.columns}] (the front end's columns), not {v.shape}"
            )
        self.fe = fe
        self.shape = v.shape
        self._work = _WorkArrays.acquire(v.size)
        lhs = fe.held_input(v, out=self._work("lhs", np.float64, v.size).reshape(v.shape))
        lhs += fe.offset
        self._lhs = lhs
        if fe.noise:
            vi = np.asarray(vector_index)
            try:
                vi = np.broadcast_to(vi, v.shape[:-1])
            except ValueError:
                raise ValueError(
                    f"vector_index of shape {vi.shape} does not broadcast to {v.shape[:-1]}"
                ) from None
            # (seed, vector) of every row, the first two fields of the noise hash, and with
            # the step as third field for each step of a conversion, computed at once
            self._row_keys = _hash_fields(fe.seed, vi.reshape(-1))
            self._step_keys = _absorb(self._row_keys, np.arange(fe.steps)[:, None])
            self._column_fields = np.arange(fe.columns, dtype=np.uint64)
            # Margin for float rounding in the filters of _redecide_near: many times
            # the few ulp of the largest magnitude involved (an ulp is <= 2**-52 of it).
            largest = max(-lhs.min(initial=0.0), lhs.max(initial=0.0))
            scale = float(largest) + fe._largest_level + NOISE_REACH * fe.noise
            self._slack = 1e-6 + scale * 2.0**-40
            #: Decisions further than this from their threshold get no draw.
            self._reach = NOISE_REACH * fe.noise + self._slack
            #: ... and none further than this, by the top 10 bits of their hash lane 1.
            self._flip_reach = fe.noise * _RADIUS_BOUND + self._slack

    def __del__(self):
        work = getattr(self, "_work", None)
        if work is not None:
            work.release()

    def compare(self, trial_states, step: int, out=None) -> np.ndarray:
        """Decisions (uint8, 1 iff ``x + offset + noise >= D(trial_states)``) of the held inputs.

        Parameters
        ----------
        trial_states : int array broadcastable to :attr:`shape`
            Switch states (bit i = step i).
        step : int
            The step being decided (keys the noise).
        out : uint8 array, optional
            C-contiguous array of :attr:`shape` to write the decisions into.
        """
        shape = self.shape
        try:
            s = np.asarray(trial_states)
            s = s if s.shape == shape else np.broadcast_to(s, shape)
        except ValueError:
            raise ValueError(
                f"trial_states of shape {np.shape(trial_states)} does not broadcast to the "
                f"held inputs {shape}"
            ) from None
        self.fe._check_states(s)
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
        level = self.fe._level(s, self._work)
        decide = out.view(bool)
        np.greater_equal(self._lhs, level, out=decide)  # the noiseless decisions
        if self.fe.noise:
            if 0 <= step < self.fe.steps:  # (seed, vector, step) of every row
                keys = self._step_keys[step]
            else:
                keys = _absorb(self._row_keys, step)
            self._redecide_near(decide.reshape(-1), level.reshape(-1), keys)
        return out

    def _redecide_near(self, decide, level, keys) -> None:
        """Add the noise draw to the decisions it can flip and decide those again, in place.

        ``decide`` and ``level`` are flat (C order), ``keys`` the noise hash
        of (seed, vector, step) per row. Bit-identical to adding a draw to
        every decision (the definition): a draw is ``r cos(2 pi u2)`` with
        ``|draw| <= r``, the Box-Muller radius, so a decision further than
        ``noise * r`` (plus a float rounding margin) from its threshold keeps
        its noiseless value. Two filters, each cheaper than what it saves: the
        distance against ``noise * NOISE_REACH`` (no hash), then against
        ``noise`` times a bound of the decision's own radius read from the top
        bits of its hash lane 1 (:data:`_RADIUS_BOUND`: no ``log1p``, ``sqrt``
        or ``cos``). The draw is computed for what is left, about a third of
        the decisions at the last step and far fewer before it.
        """
        fe, work, lhs = self.fe, self._work, self._lhs.reshape(-1)
        size = lhs.size
        gap = np.subtract(lhs, level, out=work("gap", np.float64, size))
        np.abs(gap, out=gap)
        is_near = np.less_equal(gap, self._reach, out=work("near", bool, size))
        n = int(np.count_nonzero(is_near))
        if not n:
            return
        if 2 * n > size:  # most decisions are near: hash them all, no gathers
            near, n = None, size
        else:
            near = is_near.nonzero()[0]
            gap = gap.take(near, out=work("near_gap", np.float64, n), mode="clip")
        base = self._noise_hash(keys, near)
        tmp = work("tmp", np.uint64, n)
        lane1 = _lane(base, 1, work("lane1", np.uint64, n), tmp)
        bucket = work("bucket", np.int64, n)
        np.right_shift(lane1, _S54, out=bucket.view(np.uint64))  # top 10 bits
        reach = self._flip_reach.take(bucket, out=work("reach", np.float64, n), mode="clip")
        can_flip = np.less_equal(gap, reach, out=work("flip", bool, n)).nonzero()[0]
        m = can_flip.size
        if not m:
            return
        at = can_flip if near is None else near.take(can_flip)  # flat indices
        # the draws r cos(2 pi u2), as counter_normal computes them
        radius = _radius(lane1.take(can_flip, out=tmp[:m], mode="clip"), reach[:m])
        lane2 = _lane(base.take(can_flip, mode="clip"), 2, lane1[:m], tmp[:m])
        draw = _cosine(lane2, work("draw", np.float64, m))
        draw *= radius
        # lhs + noise * draw, rounded as the plain formula rounds it (+ and * commute)
        draw *= fe.noise
        draw += lhs.take(at, out=radius, mode="clip")
        at_level = level.take(at, out=gap[:m], mode="clip")
        decide[at] = np.greater_equal(draw, at_level, out=work("flip", bool, m))

    def _noise_hash(self, keys: np.ndarray, near: np.ndarray | None) -> np.ndarray:
        """The hash of (seed, vector, step, column) at the flat indices ``near`` of a
        [rows, columns] block (all if None), from the row ``keys`` of (seed, vector,
        step); in a work array. ``_radius`` and ``_cosine`` of its lanes 1 and 2 make
        the draw."""
        work, columns = self._work, self.fe.columns
        if near is None:  # every decision: broadcast, no gathers
            base = work("base", np.uint64, keys.size * columns)
            np.bitwise_xor(keys[:, None], self._column_fields, out=base.reshape(-1, columns))
        else:
            n = near.size
            rows = np.floor_divide(near, columns, out=work("rows", np.int64, n))
            column = np.multiply(rows, columns, out=work("columns", np.int64, n))
            np.subtract(near, column, out=column)
            base = keys.take(rows, out=work("base", np.uint64, n), mode="clip")
            base ^= column.view(np.uint64)  # columns >= 0: the same bits
        base += _GOLDEN
        return _mix64(base, work("tmp", np.uint64, base.size))


class _WorkArrays:
    """Named 1-D work arrays of one :class:`HeldInput`, allocated on first use, then reused.

    ``work(name, dtype, n)`` is the first ``n`` elements of array ``name``,
    allocated with room for the whole held block so it is never reallocated
    for a larger subset. A released set goes to a short free list and the
    next :meth:`acquire` takes it: a fresh multi-megabyte array costs a page
    fault per 4 kB on first touch (about 2 us each here), more than the
    numpy passes over it, and ``sar_convert`` holds every block of every
    conversion anew. Only small sets are kept (at most :data:`_SPARE_COUNT`
    of up to :data:`_SPARE_ELEMENTS` elements), so the memory kept is bounded.
    """

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}
        self._capacity = 0

    @classmethod
    def acquire(cls, capacity: int) -> _WorkArrays:
        """A set for a block of ``capacity`` elements: a released one if any, else new."""
        work = _SPARE.pop() if _SPARE else cls()
        if capacity > work._capacity:
            work._capacity = capacity
            work._arrays.clear()
        return work

    def release(self) -> None:
        """Hand the arrays to the next :meth:`acquire` (no longer used by their holder)."""
        if len(_SPARE) < _SPARE_COUNT and self._capacity <= _SPARE_ELEMENTS:
            _SPARE.append(self)

    def __call__(self, name: str, dtype, n: int) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None or arr.size < n:
            arr = self._arrays[name] = np.empty(max(n, self._capacity), dtype=dtype)
        return arr[:n]


#: Released work-array sets (see :class:`_WorkArrays`).
_SPARE: list[_WorkArrays] = []
_SPARE_COUNT, _SPARE_ELEMENTS = 2, 1 << 17


class _ComparePerStep:
    """Holder for a subclass that overrides ``compare``: asks its ``compare`` at every step."""

    def __init__(self, fe: AnalogFrontEnd, v, vector_index):
        self.fe, self.v, self.vector_index = fe, v, vector_index

    def compare(self, trial_states, step: int, out=None) -> np.ndarray:
        b = self.fe.compare(self.v, trial_states, step, self.vector_index)
        if out is None:
            return b
        out[...] = b
        return out
