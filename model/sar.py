"""Golden model of the approximate SAR ADC: analog front end plus bit-accurate back end.

DESIGN section 4. Everything here is numpy only (importable without Amaranth
or cocotb). The analog front end (:class:`AnalogFrontEnd`) is the *one* place
comparator decisions are made: :func:`sar_convert` calls it, and the cocotb
closed loop (``tb/sar_tb.py``) calls the same :meth:`AnalogFrontEnd.compare`
with the switch states it reads from the RTL's ``dac`` port, so both see the
same decisions bit for bit.

Conventions (also in ``docs/sar.md``)
-------------------------------------
Let ``N = 2**out_width`` and ``LSB = 2 / N`` of the normalised full scale.

* Input. ``v`` is normalised to the full scale ``[-1, 1)``; values outside are
  clipped to ``[-1, 1]`` (a NaN raises ``ValueError``). In LSB units the held
  input is ``x = (clip(v, -1, 1) + 1) / 2 * N`` (so ``x`` is in ``[0, N]``).
* Switch state. A column's CDAC switch state ``s`` is an integer bit mask,
  bit ``i`` = step ``i`` (bit 0 = first step = largest weight). At step ``i``
  the trial state is ``kept decisions b_0..b_{i-1}`` with bit ``i`` set and all
  later bits clear, so the step is the index of the highest set bit.
* DAC voltage. ``D(s) = sum_i s_i * w_act[c, i]`` in LSB, i.e. the normalised
  DAC voltage is ``-1 + 2 * D(s) / N``. ``w_act`` are the column's actual
  (mismatched) CDAC weights in units of the ideal unit capacitor = 1 LSB; the
  reference defines the full scale (array gain error is not modelled).
* Comparator. ``b = 1`` iff ``x + offset[c] + noise >= D(s)`` (ties give 1).
  ``offset`` (per column) and ``noise`` (rms, per decision) are input-referred,
  in LSB. With zero offset and noise the comparison is exact, so ideal weights
  give exactly ``code = clip(floor(x), 0, N - 1)`` -- the ideal quantiser of
  DESIGN 4.5 -- for binary *and* for valid redundant weight sets.
* Noise draws are counter based: the draw for (seed, vector index, step,
  column) is a fixed hash of those four integers (splitmix64, Box-Muller), so
  it does not depend on how calls are batched or ordered.
* Correction. ``code = min(sum_i b_i * weights[i] + fill(k), N - 1)`` with the
  *nominal* integer weights (the back end does not know the mismatch).
* Approximate conversion with ``active_steps = k``: steps ``k..M-1`` are not
  run, their decisions are reported as 0, and the unresolved part is filled
  with the midpoint ``fill(k) = ceil(S_k / 2) = (S_k + 1) // 2`` where
  ``S_k = sum(weights[k:])`` (``fill(M) = 0``). A full conversion adds
  ``sum_{i>=k} b_i w_i`` in ``[0, S_k]`` to the same partial sum, so
  ``|code_k - code_M| <= max(fill, S_k - fill) <= S_k``. For binary weights the
  fill is the next trial bit, ``2**(out_width - 1 - k)``.
* Signed view for the NMPU: ``signed = code - 2**(out_width - 1)``
  (:func:`to_signed`, i.e. the MSB inverted: offset binary -> two's complement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import known_kwargs

#: Largest number of bit-cycles accepted; more is not a sensible SAR.
MAX_STEPS = 32
#: Largest code width accepted (x and D stay exact in float64 well beyond this).
MAX_OUT_WIDTH = 24


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def binary_weights(out_width: int) -> tuple[int, ...]:
    """Binary weights ``(2**(out_width-1), ..., 2, 1)``."""
    return tuple(1 << (out_width - 1 - i) for i in range(out_width))


@dataclass(frozen=True)
class SARConfig:
    """Elaboration-time parameters of the SAR ADC (DESIGN 4.1), shared by ``hw`` and ``model``.

    Parameters
    ----------
    columns : int
        Column ADCs converting in lockstep.
    steps : int
        Bit-cycles ``M`` of a full conversion.
    weights : tuple of int, optional
        ``M`` positive DAC weights in output LSBs, first step first. Default:
        binary weights, which requires ``steps == out_width``.
    out_width : int
        Output code width.

    Raises ``ValueError`` naming the parameter when weights are not positive
    integers, their number differs from ``steps``, they do not cover the
    output range (``sum(weights) >= 2**out_width - 1``), a weight exceeds one
    plus the sum of the later ones (missing codes), or sizes are out of range.
    """

    columns: int = 256
    steps: int = 8
    weights: tuple[int, ...] | None = None
    out_width: int = 8

    def __post_init__(self):
        for name, lo, hi in (
            ("columns", 1, 1 << 16),
            ("steps", 1, MAX_STEPS),
            ("out_width", 1, MAX_OUT_WIDTH),
        ):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"SARConfig.{name} must be an integer, not {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"SARConfig.{name} must be in [{lo}, {hi}], not {value!r}")
            object.__setattr__(self, name, int(value))
        weights = self.weights
        if weights is None:
            if self.steps != self.out_width:
                raise ValueError(
                    f"SARConfig.weights must be given when steps ({self.steps}) != "
                    f"out_width ({self.out_width}); binary weights need steps == out_width"
                )
            weights = binary_weights(self.out_width)
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
            raise ValueError(f"SARConfig.weights must be a sequence of integers, not {weights!r}")
        weights = tuple(weights)
        for i, w in enumerate(weights):
            if not _is_int(w) or w <= 0:
                raise ValueError(
                    f"SARConfig.weights must be positive integers, not {w!r} at step {i}"
                )
        weights = tuple(int(w) for w in weights)
        if len(weights) != self.steps:
            raise ValueError(
                f"SARConfig.weights must have steps={self.steps} entries, not {len(weights)}"
            )
        full = (1 << self.out_width) - 1
        if sum(weights) < full:
            raise ValueError(
                f"SARConfig.weights must cover the output range: sum {sum(weights)} < "
                f"2**out_width - 1 = {full}"
            )
        for i, w in enumerate(weights):
            rest = sum(weights[i + 1 :])
            if w > rest + 1:
                raise ValueError(
                    f"SARConfig.weights[{i}] = {w} exceeds 1 + sum of later weights = {rest + 1}"
                    " (missing codes)"
                )
        object.__setattr__(self, "weights", weights)

    # -- derived sizes -------------------------------------------------------
    @property
    def full_code(self) -> int:
        """Largest output code, ``2**out_width - 1``."""
        return (1 << self.out_width) - 1

    @property
    def sum_width(self) -> int:
        """Width of the unsaturated correction sum ``sum(b_i w_i) + fill``."""
        return max(1, sum(self.weights).bit_length())

    def skipped_sum(self, active_steps: int) -> int:
        """``S_k``: sum of the weights of the steps not run when ``active_steps = k``."""
        self._check_active(active_steps)
        return sum(self.weights[active_steps:])

    def fill(self, active_steps: int) -> int:
        """Midpoint fill added for the skipped steps: ``(S_k + 1) // 2`` (0 for a full run)."""
        return (self.skipped_sum(active_steps) + 1) // 2

    def _check_active(self, k) -> None:
        if not _is_int(k) or not 1 <= k <= self.steps:
            raise ValueError(f"active_steps must be an integer in [1, {self.steps}], not {k!r}")

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict; :meth:`from_dict` inverts it."""
        return {
            "columns": self.columns,
            "steps": self.steps,
            "weights": list(self.weights),
            "out_width": self.out_width,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SARConfig:
        """Build from a dict as written by :meth:`to_dict`; unknown keys raise ``ValueError``."""
        kwargs = known_kwargs(cls, d)
        if kwargs.get("weights") is not None:
            kwargs["weights"] = tuple(kwargs["weights"])
        return cls(**kwargs)


def to_signed(cfg: SARConfig, codes) -> np.ndarray:
    """Signed (two's complement) view of offset-binary codes: ``code - 2**(out_width-1)``."""
    return np.asarray(codes, dtype=np.int64) - (1 << (cfg.out_width - 1))


def ideal_codes(cfg: SARConfig, v) -> np.ndarray:
    """The ideal quantiser ``clip(floor((v + 1) / 2 * 2**out_width), 0, 2**out_width - 1)``."""
    x = (np.clip(np.asarray(v, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0 * (1 << cfg.out_width)
    return np.clip(np.floor(x), 0, cfg.full_code).astype(np.int64)


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
        for name, value in (("mismatch", mismatch), ("offset", offset), ("noise", noise)):
            if not (math.isfinite(value) and value >= 0):
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
        d = np.zeros(s.shape, dtype=np.float64)
        for i in range(self.steps):
            d += ((s >> i) & 1) * self.weights[:, i]
        return d

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


def correct(cfg: SARConfig, decisions, active_steps) -> np.ndarray:
    """Digital correction: ``min(sum_i b_i * weights[i] + fill(k), 2**out_width - 1)``.

    ``decisions`` is [..., steps] of 0/1, ``active_steps`` an int or an int
    array broadcastable to ``decisions.shape[:-1]``.
    """
    d = np.asarray(decisions, dtype=np.int64)
    k = np.asarray(active_steps)
    fills = np.array([0] + [cfg.fill(j) for j in range(1, cfg.steps + 1)], dtype=np.int64)
    total = d @ np.array(cfg.weights, dtype=np.int64) + fills[k]
    return np.minimum(total, cfg.full_code)


def sar_convert(cfg: SARConfig, fe: AnalogFrontEnd, v, active_steps=None, *, first_index=0):
    """Convert ``v`` [vectors, columns] exactly as the hardware does (DESIGN 4.2, 4.5).

    Parameters
    ----------
    active_steps : int or int array [vectors], optional
        Steps run per vector (1..steps); default ``cfg.steps``.
    first_index : int
        Vector index of row 0 for the noise draws (row r is vector
        ``first_index + r``), so a long stream can be converted in pieces.

    Returns
    -------
    codes : int64 array [vectors, columns]
    decisions : uint8 array [vectors, columns, steps]; skipped steps are 0.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != cfg.columns:
        raise ValueError(f"v must be [vectors, {cfg.columns}], not {v.shape}")
    if fe.weights.shape != (cfg.columns, cfg.steps) or fe.out_width != cfg.out_width:
        raise ValueError("front end does not match the SARConfig (columns, steps or out_width)")
    nvec = v.shape[0]
    k = np.full(nvec, cfg.steps) if active_steps is None else np.asarray(active_steps)
    k = np.broadcast_to(k, (nvec,)).astype(np.int64)
    if k.size and (k.min() < 1 or k.max() > cfg.steps):
        raise ValueError(f"active_steps must be in [1, {cfg.steps}], got {k.min()}..{k.max()}")
    index = first_index + np.arange(nvec)
    kept = np.zeros(v.shape, dtype=np.int64)
    decisions = np.zeros((*v.shape, cfg.steps), dtype=np.uint8)
    for i in range(cfg.steps):
        run = (i < k)[:, None]
        b = fe.compare(v, kept | (1 << i), i, index) & run
        kept |= b.astype(np.int64) << i
        decisions[..., i] = b
    return correct(cfg, decisions, k[:, None]), decisions
