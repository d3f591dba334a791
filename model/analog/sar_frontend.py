"""Analog front end of the SAR ADC (DESIGN 4.3): CDAC mismatch, comparator offset and noise.

A float model, the *one* place comparator decisions are made: the golden
``model.golden.sar.sar_convert`` calls :meth:`AnalogFrontEnd.compare`, and the
closed-loop testbenches (``tb.comparator``) call the same method with the
switch states they read from the RTL's ``dac`` port, so both see the same
decisions bit for bit.

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
* Noise draws are counter based: the draw for (seed, vector index, step,
  column) is a fixed hash of those four integers (splitmix64, Box-Muller), so
  it does not depend on how calls are batched or ordered.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from model.golden.sar import SARConfig

# -- counter-based Gaussian noise ------------------------------------------------
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_fields(*fields) -> np.ndarray:
    h = np.uint64(0x243F6A8885A308D3)
    for f in fields:
        f = np.asarray(f).astype(np.int64).astype(np.uint64)
        h = _mix64((h ^ f) + _GOLDEN)
    return h


def counter_normal(seed: int, vector_index, step: int, column) -> np.ndarray:
    """Standard-normal draw that is a pure function of (seed, vector, step, column).

    Broadcasts ``vector_index`` and ``column``. Two uniforms from the hash
    (lanes 0 and 1), then Box-Muller.
    """
    with np.errstate(over="ignore"):
        base = _hash_fields(seed, vector_index, step, column)
        u1 = (_mix64(base ^ np.uint64(1)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        u2 = (_mix64(base ^ np.uint64(2)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


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
    """

    weights: np.ndarray
    offset: np.ndarray
    noise: float = 0.0
    seed: int = 0
    out_width: int = 8
    params: dict = field(default_factory=dict)

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
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "offset", off)
        object.__setattr__(self, "noise", float(self.noise))
        object.__setattr__(self, "seed", int(self.seed))

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
        """
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"AnalogFrontEnd.sample: seed must be an integer >= 0, not {seed!r}")
        for name, value in (("mismatch", mismatch), ("offset", offset), ("noise", noise)):
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
        return cls(w, off, noise=noise, seed=seed, out_width=cfg.out_width, params=params)

    def held_input(self, v) -> np.ndarray:
        """``x = (clip(v, -1, 1) + 1) / 2 * 2**out_width``: the sampled input in LSB."""
        v = np.asarray(v, dtype=np.float64)
        if np.isnan(v).any():
            raise ValueError("ADC input contains NaN")
        return (np.clip(v, -1.0, 1.0) + 1.0) / 2.0 * (1 << self.out_width)

    def dac_level(self, trial_states) -> np.ndarray:
        """``D(s)`` in LSB for integer switch-state masks ``[..., columns]`` (bit i = step i)."""
        s = np.asarray(trial_states, dtype=np.int64)
        if self.steps <= 12:  # one gather from the per-column table of every state
            return self._dac_table[np.arange(self.columns), s]
        d = np.zeros(s.shape, dtype=np.float64)
        for i in range(self.steps):
            d += ((s >> i) & 1) * self.weights[:, i]
        return d

    @functools.cached_property
    def _dac_table(self) -> np.ndarray:
        """``D(s)`` for every column and every state ``s`` [columns, 2**steps], summed in
        step order as the loop above sums it (so both give the same float bits)."""
        states = np.arange(1 << self.steps)
        table = np.zeros((self.columns, states.size))
        for i in range(self.steps):
            table += ((states >> i) & 1)[None, :] * self.weights[:, i : i + 1]
        return table

    def compare(self, v, trial_states, step: int, vector_index) -> np.ndarray:
        """Comparator decisions for inputs ``v`` against trial switch states.

        Parameters
        ----------
        v : float array [..., columns]
            Normalised inputs (clipped to [-1, 1]).
        trial_states : int array [..., columns]
            Switch-state bit masks the columns present (bit i = step i).
        step : int
            The step being decided (keys the noise draw).
        vector_index : int or int array broadcastable to ``v.shape[:-1]``
            Index of the converted vector (keys the noise draw).

        Returns
        -------
        uint8 array [..., columns]: 1 iff ``x + offset + noise >= D(s)``.
        """
        x = self.held_input(v)
        if x.shape[-1] != self.columns:
            raise ValueError(f"v has {x.shape[-1]} columns, the front end {self.columns}")
        lhs = x + self.offset
        if self.noise:
            vi = np.asarray(vector_index)[..., None]
            lhs = lhs + self.noise * counter_normal(self.seed, vi, step, np.arange(self.columns))
        return (lhs >= self.dac_level(trial_states)).astype(np.uint8)
