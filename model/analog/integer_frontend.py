"""Integer analog front end of the SAR ADC: the comparator a bulk harness can run in RTL.

``tb.harness.tile`` runs the SAR (and the tile) in closed loop with no Python
per step, so the comparator must be simple enough to write in Amaranth and
still be reproduced bit for bit by the golden chain. :class:`IntegerFrontEnd`
is that comparator: the float model of ``model.analog.sar_frontend``
quantised to integers in *fine units* of ``2**-frac_bits`` LSB. It has the
same ``compare(v, trial_states, step, vector_index)`` interface, so
``model.golden.sar.sar_convert`` and ``model.golden.tile.tile`` run with it
unchanged.

Conventions (``F = frac_bits``, ``N = 2**out_width``)
-----------------------------------------------------
* Held input. ``X = floor((clip(v, -1, 1) + 1) * 2**(out_width - 1 + F))``,
  an integer in ``[0, N * 2**F]`` (exact: a power-of-two scaling of a float).
* DAC level. ``D(s) = sum_i s_i * W[c, i]`` with integer weights ``W`` (fine units).
* Comparator. ``b = 1`` iff ``X + O[c] + n >= D(s)``, integer offset ``O[c]``.
* Noise. ``n = ((S - 510) * noise_scale) >> 16`` (floor), where ``S`` is the sum
  of the four bytes of ``h = fmix32(key ^ K[c])``, ``key = fmix32(fmix32(index
  mod 2**32) ^ (seed mod 2**32) ^ (step * 0x9E3779B1 mod 2**32))``, ``K[c] =
  fmix32(c * 0x27D4EB2F + 0x165667B1 mod 2**32)`` and ``fmix32`` MurmurHash3's
  32-bit finaliser. ``S - 510`` is Irwin-Hall (four uniform bytes): mean 0,
  sd ``sqrt(4 * (256**2 - 1) / 12)`` = 147.8, bounded at +-510 (3.45 sd), so
  the noise is Gaussian-like with rms ``noise_scale * 147.8 / 2**16`` fine units.

:meth:`IntegerFrontEnd.from_analog` rounds a float front end's weights and
offsets to the nearest fine unit and sets ``noise_scale`` for the same rms;
the noise *draws* differ from the float model's (another hash, bounded
tails), the statistics do not. With zero noise and weights/offsets that are
multiples of ``2**-F`` LSB the two front ends decide identically for every
input (``X >= D`` in fine units is ``x >= D`` in LSB because ``D * 2**F`` is
an integer), which the tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.golden.sar import SARConfig

M32 = 0xFFFFFFFF
#: Multipliers of MurmurHash3's fmix32 and the step / column key constants.
FMIX_C1, FMIX_C2 = 0x85EBCA6B, 0xC2B2AE35
STEP_KEY, COLUMN_MUL, COLUMN_ADD = 0x9E3779B1, 0x27D4EB2F, 0x165667B1
#: Mean and standard deviation of the sum of four uniform bytes.
NOISE_MEAN = 510
NOISE_SD = math.sqrt(4 * (256**2 - 1) / 12)
#: ``noise = ((S - 510) * noise_scale) >> NOISE_SHIFT``.
NOISE_SHIFT = 16


def fmix32(h):
    """MurmurHash3's 32-bit finaliser on ints or uint32/int64 numpy arrays (wrapping)."""
    if isinstance(h, int):
        h ^= h >> 16
        h = (h * FMIX_C1) & M32
        h ^= h >> 13
        h = (h * FMIX_C2) & M32
        return h ^ (h >> 16)
    h = np.asarray(h).astype(np.uint64) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(FMIX_C1)) & np.uint64(M32)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(FMIX_C2)) & np.uint64(M32)
    return h ^ (h >> np.uint64(16))


def column_keys(columns: int) -> np.ndarray:
    """``K[c]``: the per-column constant of the noise hash (uint64 holding 32-bit values)."""
    c = np.arange(columns, dtype=np.uint64)
    return fmix32((c * np.uint64(COLUMN_MUL) + np.uint64(COLUMN_ADD)) & np.uint64(M32))


def noise_key(seed: int, index, step: int) -> np.ndarray:
    """The hash key shared by all columns of one decision (``index`` broadcasts)."""
    idx = np.asarray(index).astype(np.int64).astype(np.uint64) & np.uint64(M32)
    extra = np.uint64((seed & M32) ^ ((step * STEP_KEY) & M32))
    return fmix32(fmix32(idx) ^ extra)


@dataclass(frozen=True, eq=False)
class IntegerFrontEnd:
    """Comparator of the column ADCs in integer fine units (``2**-frac_bits`` LSB).

    Members
    -------
    weights : int64 array [columns, steps]
        Actual CDAC weight of each step of each column, in fine units.
    offset : int64 array [columns]
        Input-referred comparator offset, fine units.
    noise_scale : int
        Noise multiplier (0: no noise); rms ``noise_scale * 147.8 / 2**16`` fine units.
    seed : int
        Key of the noise hash (its low 32 bits are used).
    out_width : int
    frac_bits : int
        ``F``: fine units per LSB are ``2**F``.
    """

    weights: np.ndarray
    offset: np.ndarray
    noise_scale: int = 0
    seed: int = 0
    out_width: int = 8
    frac_bits: int = 8

    def __post_init__(self):
        w, off = np.asarray(self.weights), np.asarray(self.offset)
        for name, arr in (("weights", w), ("offset", off)):
            if arr.dtype.kind not in "iu":
                raise ValueError(f"IntegerFrontEnd.{name} must be integers, not {arr.dtype}")
        if w.ndim != 2 or off.shape != (w.shape[0],):
            raise ValueError(
                f"IntegerFrontEnd.weights must be [columns, steps] and offset [columns], "
                f"not {w.shape} and {off.shape}"
            )
        for name in ("noise_scale", "seed", "out_width", "frac_bits"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"IntegerFrontEnd.{name} must be an integer >= 0, not {value!r}")
            object.__setattr__(self, name, int(value))
        w, off = w.astype(np.int64), off.astype(np.int64)
        w.flags.writeable = off.flags.writeable = False
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "offset", off)
        object.__setattr__(self, "_keys", column_keys(w.shape[0]))

    @property
    def columns(self) -> int:
        return self.weights.shape[0]

    @property
    def steps(self) -> int:
        return self.weights.shape[1]

    @property
    def noise_rms(self) -> float:
        """rms of the noise in LSB."""
        return self.noise_scale * NOISE_SD / (1 << NOISE_SHIFT) / (1 << self.frac_bits)

    @classmethod
    def ideal(cls, cfg: SARConfig, frac_bits: int = 8) -> IntegerFrontEnd:
        """Nominal weights, no offset, no noise."""
        w = np.broadcast_to(np.array(cfg.weights, np.int64) << frac_bits, (cfg.columns, cfg.steps))
        return cls(w.copy(), np.zeros(cfg.columns, np.int64), 0, 0, cfg.out_width, frac_bits)

    @classmethod
    def from_analog(cls, fe, frac_bits: int = 8) -> IntegerFrontEnd:
        """Quantise a float ``AnalogFrontEnd``: weights and offset rounded to the nearest fine
        unit, the noise scale set for the same rms, the same seed.

        Raises ``ValueError`` for a front end with gain error or compression (not modelled
        in integers).
        """
        if not getattr(fe, "linear", True):
            raise ValueError(
                "IntegerFrontEnd.from_analog: gain error and compression are not supported"
            )
        unit = float(1 << frac_bits)
        scale = int(round(fe.noise * unit * (1 << NOISE_SHIFT) / NOISE_SD))
        return cls(
            np.rint(np.asarray(fe.weights) * unit).astype(np.int64),
            np.rint(np.asarray(fe.offset) * unit).astype(np.int64),
            scale,
            int(fe.seed),
            int(fe.out_width),
            frac_bits,
        )

    def held_input(self, v) -> np.ndarray:
        """``X = floor((clip(v, -1, 1) + 1) * 2**(out_width - 1 + F))``: int64, fine units."""
        v = np.asarray(v, dtype=np.float64)
        if np.isnan(v).any():
            raise ValueError("ADC input contains NaN")
        scale = math.ldexp(1.0, self.out_width - 1 + self.frac_bits)
        return np.floor((np.clip(v, -1.0, 1.0) + 1.0) * scale).astype(np.int64)

    def dac_level(self, trial_states) -> np.ndarray:
        """``D(s)`` in fine units for switch-state masks ``[..., columns]`` (bit i = step i)."""
        s = np.asarray(trial_states, dtype=np.int64)
        d = np.zeros(s.shape, dtype=np.int64)
        for i in range(self.steps):
            d += ((s >> i) & 1) * self.weights[:, i]
        return d

    def noise(self, vector_index, step: int) -> np.ndarray:
        """Noise in fine units [..., columns] for (vector index, step): the harness's hash."""
        key = noise_key(self.seed, np.asarray(vector_index)[..., None], step)
        h = fmix32(key ^ self._keys).astype(np.int64)
        s = (h & 255) + ((h >> 8) & 255) + ((h >> 16) & 255) + ((h >> 24) & 255)
        return ((s - NOISE_MEAN) * self.noise_scale) >> NOISE_SHIFT

    def compare(self, v, trial_states, step: int, vector_index) -> np.ndarray:
        """Decisions (uint8 [..., columns]): 1 iff ``X + O[c] + n >= D(s)`` (see the module)."""
        x = self.held_input(v)
        if x.shape[-1] != self.columns:
            raise ValueError(f"v has {x.shape[-1]} columns, the front end {self.columns}")
        lhs = x + self.offset
        if self.noise_scale:
            lhs = lhs + self.noise(vector_index, step)
        return (lhs >= self.dac_level(trial_states)).astype(np.uint8)
