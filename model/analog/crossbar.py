"""Built-in analog crossbar simulator: PCM conductances, noise, drift, DAC, output scaling.

A numpy-only, seeded model of one analog in-memory-computing tile computing
``y = x @ W`` (DESIGN sections 1 and 5). It produces the column values the
SAR ADC digitises, normalised to the ADC full scale [-1, 1), and the ideal
float MAC they approximate.

Device model
------------
The statistical PCM model is the one published by Nandakumar et al.,
"Phase-change memory models for deep learning training and inference",
ICECS 2019 (doi:10.1109/ICECS46596.2019.8964852), with the constants as
IBM aihwkit's ``PCMLikeNoiseModel`` implements them (aihwkit 1.1.0,
``aihwkit/inference/noise/pcm.py``), so that the built-in simulator and the
aihwkit path (``model.analog.aihwkit_adapter``) model the same devices:

* Mapping (aihwkit ``SinglePairConductanceConverter``, g_min = 0): a signed
  weight ``w`` becomes a differential pair ``G+ = g_max * max(w, 0) / w_max``,
  ``G- = g_max * max(-w, 0) / w_max`` with ``w_max = max |W|`` of the layer.
* Programming noise: ``G_prog = max(0, G_T + sigma_prog * N(0, 1))`` with
  ``sigma_prog = (c0 + c1 * g + c2 * g**2) * g_max / 25 uS``, ``g = G_T / g_max``
  and ``(c0, c1, c2) = (0.26348, 1.9650, -1.1731)`` uS, fitted at
  g_max = 25 uS (:data:`PROG_COEFF`).
* Drift: ``G_drift = G_prog * ((t + t0) / t0) ** -nu`` with t0 = 20 s and
  ``nu = |N(mu_nu, sigma_nu)|``, ``mu_nu = clip(-0.0155 ln g + 0.0244, 0.049, 0.1)``,
  ``sigma_nu = clip(-0.0125 ln g - 0.0059, 0.008, 0.045)``, ``g`` clipped at
  1e-7 (:data:`DRIFT_MU`, :data:`DRIFT_SIGMA`).
* Read (1/f) noise accumulated up to the read:
  ``G = max(0, G_drift + |G_drift| * sigma_r * N(0, 1))``,
  ``sigma_r = Q_s * sqrt(ln((t + t_read) / (2 t_read)))``,
  ``Q_s = min(0.0088 / max((G_prog / g_max) ** 0.65, 1e-3), 0.2)``, t_read = 250 ns
  (:data:`READ_QS`).

As in aihwkit, the noise is sampled once per programmed chip (one
realisation of every device at time ``t_inference`` after programming) and is
then static for every input vector read from it. No global drift
compensation is applied here: the NMPU's per-column correction, fitted by
``model.calibration``, compensates the (column-dependent) drift.

Input DAC
---------
Inputs are signed, in [-1, 1]. A ``dac_bits``-bit signed DAC has the
symmetric levels ``k / (2**(dac_bits-1) - 1)``, ``|k| <= 2**(dac_bits-1) - 1``
(round half away from zero, inputs outside [-1, 1] are clipped).

Output scaling
--------------
Column values are divided by one per-layer ``out_scale`` (weight x input
units per ADC full scale): :func:`choose_out_scale` picks it from calibration
data so that the ``out_percentile`` percentile of ``|x @ W|`` lands at
``out_headroom`` of full scale. Normalised values are *not* clipped here:
the ADC clips, as the hardware does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.golden.config import known_kwargs

#: Version of this model's equations and random-draw order (recorded in capture provenance).
MODEL_VERSION = "1"
#: Programming-noise polynomial ``sigma = c0 + c1 g + c2 g^2`` (uS, g = G_T / g_max),
#: Nandakumar et al. ICECS 2019, as in aihwkit ``PCMLikeNoiseModel.prog_coeff``.
PROG_COEFF = (0.26348, 1.9650, -1.1731)
#: g_max (uS) the programming-noise polynomial was fitted at; sigma scales with g_max / this.
PROG_COEFF_G_MAX_REF = 25.0
#: Drift exponent mean ``a ln(g) + b`` clipped to [lo, hi] (same source).
DRIFT_MU = {"a": -0.0155, "b": 0.0244, "lo": 0.049, "hi": 0.1}
#: Drift exponent standard deviation ``a ln(g) + b`` clipped to [lo, hi] (same source).
DRIFT_SIGMA = {"a": -0.0125, "b": -0.0059, "lo": 0.008, "hi": 0.045}
#: 1/f read noise: ``Q_s = min(coeff / max(g**exponent, floor), max)`` (same source).
READ_QS = {"coeff": 0.0088, "exponent": 0.65, "floor": 1e-3, "max": 0.2}
#: Relative conductances are clipped at this before taking logarithms (aihwkit ``_ZERO_CLIP``).
G_REL_MIN = 1e-7


def _check_float(name: str, value: Any, lo: float, hi: float = math.inf, *, lo_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"CrossbarConfig.{name} must be a number, not {value!r}")
    if not math.isfinite(value) and hi != math.inf:
        raise ValueError(f"CrossbarConfig.{name} must be finite, not {value!r}")
    bad = value <= lo if lo_open else value < lo
    if bad or value > hi or math.isnan(value):
        left = "(" if lo_open else "["
        raise ValueError(f"CrossbarConfig.{name} must be in {left}{lo}, {hi}], not {value!r}")


@dataclass(frozen=True)
class CrossbarConfig:
    """Parameters of the built-in crossbar simulator; validated once, frozen.

    Parameters
    ----------
    rows : int
        Crossbar rows (input features of the layer mapped onto the tile).
    g_max : float
        Conductance (uS) the largest |weight| of the layer maps to.
    t_inference : float
        Seconds between the end of programming and the read (0: no drift,
        no accumulated read noise).
    t0 : float
        Drift reference time (s) of the model, 20 s.
    t_read : float
        Read duration (s) in the 1/f-noise formula, 250 ns.
    prog_noise_scale, drift_scale, read_noise_scale : float
        Multipliers of the programming-noise sigma, the drift exponent and the
        read-noise sigma (1.0 = the published model, 0.0 = off).
    dac_bits : int
        Signed input DAC resolution, including the sign (2..16).
    out_percentile : float
        Percentile of ``|x @ W|`` over the calibration data that sets ``out_scale``.
    out_headroom : float
        Fraction of ADC full scale that percentile maps to (0, 1].
    """

    rows: int = 64
    g_max: float = 25.0
    t_inference: float = 3600.0
    t0: float = 20.0
    t_read: float = 250e-9
    prog_noise_scale: float = 1.0
    drift_scale: float = 1.0
    read_noise_scale: float = 1.0
    dac_bits: int = 8
    out_percentile: float = 99.9
    out_headroom: float = 0.8

    def __post_init__(self):
        if not isinstance(self.rows, int) or isinstance(self.rows, bool) or self.rows < 1:
            raise ValueError(f"CrossbarConfig.rows must be a positive integer, not {self.rows!r}")
        if (
            not isinstance(self.dac_bits, int)
            or isinstance(self.dac_bits, bool)
            or not 2 <= self.dac_bits <= 16
        ):
            raise ValueError(
                f"CrossbarConfig.dac_bits must be an integer in [2, 16], not {self.dac_bits!r}"
            )
        _check_float("g_max", self.g_max, 0.0, 1e6, lo_open=True)
        _check_float("t_inference", self.t_inference, 0.0, 1e12)
        _check_float("t0", self.t0, 0.0, 1e12, lo_open=True)
        _check_float("t_read", self.t_read, 0.0, 1e3, lo_open=True)
        for name in ("prog_noise_scale", "drift_scale", "read_noise_scale"):
            _check_float(name, getattr(self, name), 0.0, 1e3)
        _check_float("out_percentile", self.out_percentile, 0.0, 100.0, lo_open=True)
        _check_float("out_headroom", self.out_headroom, 0.0, 1.0, lo_open=True)

    @classmethod
    def ideal(cls, **kw) -> CrossbarConfig:
        """A noise-free, drift-free crossbar (only the DAC quantises)."""
        kw = {"prog_noise_scale": 0.0, "drift_scale": 0.0, "read_noise_scale": 0.0, **kw}
        return cls(**kw)

    @property
    def noise_free(self) -> bool:
        return self.prog_noise_scale == self.drift_scale == self.read_noise_scale == 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``CrossbarConfig.from_dict(cfg.to_dict()) == cfg``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrossbarConfig:
        return cls(**known_kwargs(cls, d))


# -- the published device statistics ------------------------------------------------


def prog_noise_std(g_target, g_max: float) -> np.ndarray:
    """Programming-noise standard deviation (uS) at target conductance ``g_target`` (uS)."""
    g = np.asarray(g_target, dtype=np.float64) / g_max
    c0, c1, c2 = PROG_COEFF
    return (c0 + c1 * g + c2 * g * g) * (g_max / PROG_COEFF_G_MAX_REF)


def drift_nu_stats(g_target, g_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the drift exponent nu at ``g_target`` (uS)."""
    g = np.maximum(np.abs(np.asarray(g_target, dtype=np.float64)) / g_max, G_REL_MIN)
    ln = np.log(g)
    mu = np.clip(DRIFT_MU["a"] * ln + DRIFT_MU["b"], DRIFT_MU["lo"], DRIFT_MU["hi"])
    sigma = np.clip(DRIFT_SIGMA["a"] * ln + DRIFT_SIGMA["b"], DRIFT_SIGMA["lo"], DRIFT_SIGMA["hi"])
    return mu, sigma


def read_noise_rel_std(g_prog, g_max: float, t: float, t_read: float) -> np.ndarray:
    """Relative 1/f read-noise sigma accumulated at ``t`` seconds for devices at ``g_prog``."""
    g = np.abs(np.asarray(g_prog, dtype=np.float64)) / g_max
    q_s = READ_QS["coeff"] / np.maximum(g ** READ_QS["exponent"], READ_QS["floor"])
    q_s = np.minimum(q_s, READ_QS["max"])
    return q_s * math.sqrt(math.log((t + t_read) / (2.0 * t_read)))


def drift_factor(nu, t_inference: float, t0: float) -> np.ndarray:
    """``((t_inference + t0) / t0) ** -nu``: conductance ratio after drift."""
    return ((t_inference + t0) / t0) ** (-np.asarray(nu, dtype=np.float64))


# -- mapping, programming and reading ------------------------------------------------


def map_weights(w, g_max: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Signed weights [rows, columns] -> target conductances ``(G+, G-)`` (uS) and ``w_per_g``.

    ``W = (G+ - G-) * w_per_g`` exactly, with ``w_per_g = max|W| / g_max``.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D array [rows, columns], not shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    w_max = float(np.max(np.abs(w)))
    if w_max == 0.0:
        raise ValueError("weights are all zero: nothing to map")
    w_per_g = w_max / g_max
    return np.maximum(w, 0.0) / w_per_g, np.maximum(-w, 0.0) / w_per_g, w_per_g


@dataclass(frozen=True)
class ProgrammedCrossbar:
    """One programmed chip at read time: the conductances every input vector sees.

    Members
    -------
    g_target : ndarray [2, rows, columns]
        Target conductances (G+, G-) in uS.
    g_prog : ndarray [2, rows, columns]
        After programming noise.
    nu : ndarray [2, rows, columns]
        Sampled drift exponents.
    g_read : ndarray [2, rows, columns]
        After drift and accumulated read noise, at ``t_inference``.
    w_per_g : float
        Weight units per uS.
    """

    config: CrossbarConfig
    g_target: np.ndarray
    g_prog: np.ndarray
    nu: np.ndarray
    g_read: np.ndarray
    w_per_g: float

    @property
    def weights(self) -> np.ndarray:
        """Effective weights [rows, columns] the analog MAC applies."""
        return (self.g_read[0] - self.g_read[1]) * self.w_per_g

    @property
    def target_weights(self) -> np.ndarray:
        return (self.g_target[0] - self.g_target[1]) * self.w_per_g

    def read(self, x) -> np.ndarray:
        """Analog MAC of inputs ``x`` [vectors, rows]; see :func:`read`."""
        return read(self, x)


def program(cfg: CrossbarConfig, w, rng: np.random.Generator) -> ProgrammedCrossbar:
    """Map ``w`` [rows, columns] to PCM pairs and sample one chip at ``cfg.t_inference``.

    Random draws happen in a fixed order (programming noise, nu, read noise),
    each a full array, so a given ``rng`` state gives the same chip.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != cfg.rows:
        raise ValueError(f"weights must have shape ({cfg.rows}, columns), not {w.shape}")
    g_pos, g_neg, w_per_g = map_weights(w, cfg.g_max)
    g_target = np.stack([g_pos, g_neg])
    sigma = prog_noise_std(g_target, cfg.g_max) * cfg.prog_noise_scale
    g_prog = np.maximum(g_target + sigma * rng.standard_normal(g_target.shape), 0.0)
    mu, sig = drift_nu_stats(g_target, cfg.g_max)
    nu = np.abs(mu + sig * rng.standard_normal(g_target.shape)) * cfg.drift_scale
    noise = rng.standard_normal(g_target.shape)
    if cfg.t_inference > 0:
        g_drift = g_prog * drift_factor(nu, cfg.t_inference, cfg.t0)
        sig_r = read_noise_rel_std(g_prog, cfg.g_max, cfg.t_inference + cfg.t0, cfg.t_read)
        g_read = np.maximum(g_drift + np.abs(g_drift) * cfg.read_noise_scale * sig_r * noise, 0.0)
    else:
        g_read = g_prog
    return ProgrammedCrossbar(cfg, g_target, g_prog, nu, g_read, w_per_g)


def dac(x, bits: int) -> np.ndarray:
    """Signed input DAC: clip to [-1, 1], round (half away from zero) to ``2**(bits-1)-1`` steps."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("crossbar inputs must be finite")
    n = (1 << (bits - 1)) - 1
    v = np.clip(x, -1.0, 1.0) * n
    return np.sign(v) * np.floor(np.abs(v) + 0.5) / n


def choose_out_scale(mac, percentile: float, headroom: float) -> float:
    """``out_scale`` putting the ``percentile`` of ``|mac|`` at ``headroom`` of full scale."""
    level = float(np.percentile(np.abs(np.asarray(mac, dtype=np.float64)), percentile))
    if not level > 0.0:
        raise ValueError(f"calibration MAC percentile {percentile} is {level}: cannot scale")
    return level / headroom


@dataclass(frozen=True)
class CrossbarResult:
    """Output of :func:`simulate`.

    Members
    -------
    analog : ndarray [vectors, columns]
        Analog column values normalised to ADC full scale (``mac / out_scale``), unclipped.
    reference : ndarray [vectors, columns]
        Ideal float MAC ``x @ W`` (noise-free, no DAC, unclipped), weight x input units.
    out_scale : float
        Weight x input units per ADC full scale.
    chip : ProgrammedCrossbar
    """

    analog: np.ndarray
    reference: np.ndarray
    out_scale: float
    chip: ProgrammedCrossbar


def read(chip: ProgrammedCrossbar, x) -> np.ndarray:
    """Analog MAC [vectors, columns] (weight x input units) of inputs ``x`` [vectors, rows]."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != chip.config.rows:
        raise ValueError(f"inputs must have shape (vectors, {chip.config.rows}), not {x.shape}")
    xq = dac(x, chip.config.dac_bits)
    # Sum currents of G+ and G- separately, as the differential column does.
    i_pos = xq @ chip.g_read[0]
    i_neg = xq @ chip.g_read[1]
    return (i_pos - i_neg) * chip.w_per_g


def simulate(
    cfg: CrossbarConfig,
    w,
    x,
    *,
    seed: int | np.random.Generator,
    calib_x=None,
    out_scale: float | None = None,
) -> CrossbarResult:
    """Program one chip with ``w`` [rows, columns] and read inputs ``x`` [vectors, rows].

    ``out_scale`` defaults to :func:`choose_out_scale` of the ideal MAC of
    ``calib_x`` (or of ``x`` when no calibration inputs are given).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chip = program(cfg, w, rng)
    reference, out_scale = reference_and_scale(cfg, w, x, calib_x, out_scale)
    return CrossbarResult(read(chip, x) / out_scale, reference, out_scale, chip)


def reference_and_scale(cfg: CrossbarConfig, w, x, calib_x, out_scale) -> tuple[np.ndarray, float]:
    """The ideal MAC ``x @ w`` and the output scale (given, or chosen on ``calib_x``)."""
    w = np.asarray(w, dtype=np.float64)
    reference = np.asarray(x, dtype=np.float64) @ w
    if out_scale is None:
        cal = reference if calib_x is None else np.asarray(calib_x, dtype=np.float64) @ w
        out_scale = choose_out_scale(cal, cfg.out_percentile, cfg.out_headroom)
    elif not (math.isfinite(out_scale) and out_scale > 0):
        raise ValueError(f"out_scale must be a positive finite number, not {out_scale!r}")
    return reference, float(out_scale)
