"""Analog front end of the SAR ADC (DESIGN 4.3): CDAC mismatch, comparator offset and noise.

A float model, the *one* place comparator decisions are made
(:meth:`HeldInput.compare`, in ``model.analog.held_input``; the noise draws are
``model.analog.counter_noise``): the golden ``model.golden.sar.sar_convert``
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

from model.analog.held_input import ComparePerStep, HeldInput, WorkArrays
from model.golden.sar import SARConfig

#: Front-end seeds are integers in ``[0, SEED_LIMIT)``: the comparator-noise hash takes the
#: seed as a signed 64-bit integer (``model.analog.counter_noise.as_field``); a larger one
#: does not fit (``OverflowError`` at the first noisy conversion) or aliases a negative one.
SEED_LIMIT = 1 << 63
#: Largest relative sigma of a unit capacitor (``mismatch``) and of a column gain
#: (``gain``): at 0.5 a unit capacitor is negative with probability 2.3 % and the gain floor
#: of 1/4 catches 6.7 % of the columns; beyond, the Gaussian model of a positive quantity
#: (capacitance, gain) no longer describes a converter.
MAX_RELATIVE_SIGMA = 0.5
#: ``sample`` keyword arguments, in order.
SETTINGS = ("mismatch", "offset", "noise", "seed", "gain", "compression")


def setting_limits(cfg: SARConfig) -> dict[str, tuple[float, str]]:
    """The largest value of each real ``sample`` setting for ``cfg``, and why.

    ``offset`` and ``noise`` (sigma in LSB) at most the full scale ``2**out_width`` LSB
    (beyond it the comparator's error spans the whole input range); ``compression`` at
    most ``2**out_width / 3``, so that the strongest column (``a = 1.5 compression``)
    still spans ``2**out_width tanh(a) / a >= 2`` LSB over the input range (a code
    transition; a column with less converts every input to one code).
    """
    full = float(1 << cfg.out_width)
    return {
        "mismatch": (MAX_RELATIVE_SIGMA, "relative sigma of a unit capacitor"),
        "gain": (MAX_RELATIVE_SIGMA, "relative sigma of a column gain"),
        "offset": (full, f"LSB: the full scale of {cfg.out_width} bits"),
        "noise": (full, f"LSB: the full scale of {cfg.out_width} bits"),
        "compression": (full / 3, "so that every column still spans 2 LSB"),
    }


def settings_problem(cfg: SARConfig, settings: dict) -> tuple[str, str] | None:
    """The first bad :meth:`AnalogFrontEnd.sample` setting of ``settings`` as ``(key,
    problem)`` (``problem`` reads after the key's name: ``"must be >= 0, not -1"``), or
    ``None``. The one definition of the settings' ranges: ``sample``, the capture loader
    (``provenance.adc_front_end``) and the ``--adc-*`` options all ask it.
    """
    limits = setting_limits(cfg)
    for key in settings:
        if key not in SETTINGS:
            return key, "unknown setting"
    for key in SETTINGS:
        if key not in settings:
            continue
        value = settings[key]
        if key == "seed":
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                return key, f"must be an integer >= 0, not {value!r}"
            if value >= SEED_LIMIT:
                return key, (
                    "must be an integer below 2**63 (the comparator-noise hash takes it as a "
                    f"signed 64-bit integer), not {value}"
                )
            continue
        real = isinstance(value, (int, float, np.integer, np.floating))
        if not real or isinstance(value, bool) or value < 0:
            return key, f"must be >= 0, not {value!r}"
        if not math.isfinite(value):  # nan or inf
            return key, f"must be >= 0 and finite, not {value!r}"
        top, why = limits[key]
        if value > top:
            return key, f"must be at most {top:.6g} ({why}), not {value!r}"
    return None


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

    #: :func:`settings_problem`, reachable from ``model.sar.AnalogFrontEnd`` (the public
    #: API loads this module lazily).
    settings_problem = staticmethod(settings_problem)

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
            Relative sigma of one unit capacitor, in [0, 0.5]. A weight of ``w``
            units has relative sigma ``mismatch / sqrt(w)``, i.e. absolute sigma
            ``mismatch * sqrt(w)`` LSB (independent per column and step).
        offset : float
            Sigma of the per-column comparator offset, LSB, in [0, 2**out_width].
        noise : float
            Comparator noise, rms LSB per decision, in [0, 2**out_width].
        seed : int
            Seeds the mismatch and offset draws and keys the noise draws; in
            [0, 2**63) (:data:`SEED_LIMIT`).
        gain : float
            Sigma of the per-column relative gain (reference) error, in [0, 0.5]:
            ``g[c] = max(1 + gain * N(0, 1), 0.25)`` (0: off; the floor keeps a
            far-tail draw from inverting or killing a column).
        compression : float
            Mean per-column compression strength ``a``: ``a[c] = compression *
            (1 + U(-0.5, 0.5))`` of ``tanh(a v) / a`` (0: off, linear), in
            [0, 2**out_width / 3].
            Both drawn from a stream of their own (see the module docstring).

        The ranges (:func:`setting_limits`, :data:`MAX_RELATIVE_SIGMA`) keep the model a
        converter; a value outside raises ``ValueError`` naming it
        (:func:`settings_problem`).
        """
        bad = settings_problem(
            cfg,
            {"mismatch": mismatch, "offset": offset, "noise": noise, "seed": seed,
             "gain": gain, "compression": compression},
        )  # fmt: skip
        if bad is not None:
            raise ValueError(f"AnalogFrontEnd.sample: {bad[0]} {bad[1]}")
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

    def _level(self, s: np.ndarray, work: WorkArrays | None = None) -> np.ndarray:
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
            return ComparePerStep(self, v, vector_index)
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
