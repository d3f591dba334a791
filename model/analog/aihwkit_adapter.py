"""The same crossbar read as ``model.crossbar``, produced through IBM aihwkit (optional extra).

aihwkit (1.1.0, with torch 2.13 CPU; DESIGN section 6) is imported lazily,
inside the functions, so ``model`` works without it.

Configuration (``TorchInferenceRPUConfig``: torch tiles; the C++
``InferenceRPUConfig`` tiles fail with this torch):

* ``noise_model = PCMLikeNoiseModel(g_max, t_0, t_read, prog/read/drift scales)``
  from the same :class:`model.crossbar.CrossbarConfig` as the built-in
  simulator, with its default single-pair converter (g_min = 0).
* ``drift_compensation = None``: the NMPU's per-column correction
  (``model.calibration``) compensates drift instead of aihwkit's global factor.
* ``forward``: ``is_perfect = False``; input DAC ``inp_res = 1 / (2**dac_bits - 2)``
  (aihwkit's step is ``inp_res * 2 * inp_bound``, so the levels are
  ``k / (2**(dac_bits-1) - 1)`` as in the built-in DAC; aihwkit rounds ties to
  even), ``inp_bound = 1``, ``inp_noise = 0``; output quantisation and noise
  off (``out_res = -1``, ``out_noise = 0``, ``out_bound = -1``) because the
  ADC model digitises the column values; no noise or bound management (the
  inputs are already in [-1, 1], no per-vector rescaling); no weight noise,
  IR drop, asymmetry or non-linearity; ``mapping.weight_scaling_omega = 0``
  (no remapping), no analog bias.
* ``drift_analog_weights(t_inference)`` programs (programming noise, drift
  exponents) and then drifts the weights once, with 1/f read noise; the
  result is static for all reads, like the built-in ``program``.
* torch's generator is seeded with ``seed`` before programming.

Outputs are the column MACs in weight x input units; they are normalised
with the same ``out_scale`` rule as the built-in simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.analog.crossbar import CrossbarConfig, reference_and_scale


def versions() -> dict[str, str]:
    """Versions of aihwkit and torch (imports them)."""
    import aihwkit
    import torch

    return {"aihwkit": aihwkit.__version__, "torch": torch.__version__}


def rpu_config(cfg: CrossbarConfig):
    """The ``TorchInferenceRPUConfig`` described in the module docstring."""
    from aihwkit.inference import PCMLikeNoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    rpu = TorchInferenceRPUConfig()
    rpu.noise_model = PCMLikeNoiseModel(
        g_max=cfg.g_max,
        t_0=cfg.t0,
        t_read=cfg.t_read,
        prog_noise_scale=cfg.prog_noise_scale,
        read_noise_scale=cfg.read_noise_scale,
        drift_scale=cfg.drift_scale,
    )
    rpu.drift_compensation = None
    f = rpu.forward
    f.is_perfect = False
    f.inp_res = 1.0 / ((1 << cfg.dac_bits) - 2)
    f.inp_bound = 1.0
    f.inp_noise = 0.0
    f.out_res = -1.0
    f.out_noise = 0.0
    f.out_bound = -1.0
    f.noise_management = NoiseManagementType.NONE
    f.bound_management = BoundManagementType.NONE
    f.w_noise = 0.0
    f.ir_drop = 0.0
    rpu.mapping.weight_scaling_omega = 0.0
    rpu.mapping.max_input_size = max(rpu.mapping.max_input_size, cfg.rows)
    return rpu


@dataclass
class AihwkitChip:
    """An ``AnalogLinear`` programmed and drifted to ``config.t_inference``.

    Members
    -------
    layer : aihwkit.nn.AnalogLinear
        In eval mode, weights drifted.
    config : CrossbarConfig
    """

    layer: Any
    config: CrossbarConfig

    def read(self, x) -> np.ndarray:
        """Analog MAC [vectors, columns] (weight x input units) of inputs ``x`` [vectors, rows]."""
        import torch

        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.config.rows:
            raise ValueError(f"inputs must have shape (vectors, {self.config.rows}), not {x.shape}")
        with torch.no_grad():
            y = self.layer(torch.from_numpy(x.astype(np.float32)))
        return y.numpy().astype(np.float64)

    @property
    def weights(self) -> np.ndarray:
        """Effective (programmed, drifted) weights [rows, columns]."""
        w, _ = self.layer.get_weights()
        return w.numpy().astype(np.float64).T


def program(cfg: CrossbarConfig, w, *, seed: int) -> AihwkitChip:
    """Map ``w`` [rows, columns] onto an aihwkit ``AnalogLinear`` and drift it."""
    import torch
    from aihwkit.nn import AnalogLinear

    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != cfg.rows:
        raise ValueError(f"weights must have shape ({cfg.rows}, columns), not {w.shape}")
    torch.manual_seed(seed)
    layer = AnalogLinear(w.shape[0], w.shape[1], bias=False, rpu_config=rpu_config(cfg))
    layer.set_weights(torch.from_numpy(w.T.astype(np.float32).copy()), None)
    layer.eval()
    layer.drift_analog_weights(cfg.t_inference)
    return AihwkitChip(layer, cfg)


@dataclass(frozen=True)
class AihwkitResult:
    """Same members as ``model.crossbar.CrossbarResult``; ``chip`` is an :class:`AihwkitChip`."""

    analog: np.ndarray
    reference: np.ndarray
    out_scale: float
    chip: AihwkitChip


def simulate(
    cfg: CrossbarConfig, w, x, *, seed: int, calib_x=None, out_scale: float | None = None
) -> AihwkitResult:
    """aihwkit twin of ``model.crossbar.simulate``."""
    chip = program(cfg, w, seed=seed)
    reference, out_scale = reference_and_scale(cfg, w, x, calib_x, out_scale)
    return AihwkitResult(
        chip.read(np.asarray(x, dtype=np.float64)) / out_scale, reference, out_scale, chip
    )
