"""Golden model of one tile's digital periphery: SAR back end -> signed view -> NMPU (or the
FP16 baseline unit, DESIGN 7: the two are interchangeable).

The one place the chain is written. ``hw.tile.TilePeriphery`` is its RTL, the
tile testbenches score against :func:`tile`, and the capture flow calibrates
on :func:`adc_codes` / :func:`nmpu_input`.

One SAR conversion per phase; a vector's phases are converted back to back,
so conversion ``n = vector * phases + phase``. The comparator keys its noise
on ``first_index + n``, which is how the model reproduces the closed loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fp16 import fp16_unit
from .nmpu import NMPUConfig, nmpu
from .sar import SARConfig, sar_convert, to_signed

#: The post-processing units a tile can hold: name -> golden model (``hw.tile.UNITS``: RTL).
UNITS = {"fixed": nmpu, "fp16": fp16_unit}


@dataclass(frozen=True)
class TileConfig:
    """The SAR and NMPU configs of one tile, checked to agree (columns, code width).

    Shared by ``hw.tile.TilePeriphery`` and :func:`tile`.
    """

    sar: SARConfig
    nmpu: NMPUConfig

    def __post_init__(self):
        if not isinstance(self.sar, SARConfig):
            raise ValueError(f"TileConfig.sar must be a SARConfig, not {self.sar!r}")
        if not isinstance(self.nmpu, NMPUConfig):
            raise ValueError(f"TileConfig.nmpu must be an NMPUConfig, not {self.nmpu!r}")
        if self.sar.columns != self.nmpu.columns:
            raise ValueError(
                f"SARConfig.columns ({self.sar.columns}) != NMPUConfig.columns "
                f"({self.nmpu.columns})"
            )
        if self.sar.out_width != self.nmpu.in_width:
            raise ValueError(
                f"SARConfig.out_width ({self.sar.out_width}) != NMPUConfig.in_width "
                f"({self.nmpu.in_width})"
            )

    @property
    def columns(self) -> int:
        return self.nmpu.columns

    @property
    def phases(self) -> int:
        """Conversions per vector (one per NMPU phase)."""
        return self.nmpu.phases

    @property
    def hardware_bits(self) -> int:
        """Estimated size of the tile's RTL in bits: the SAR's and the NMPU's
        ``hardware_bits`` and the serializer's held conversion (``columns x in_width``)."""
        return self.sar.hardware_bits + self.nmpu.hardware_bits + self.columns * self.nmpu.in_width

    def to_dict(self) -> dict:
        return {"sar": self.sar.to_dict(), "nmpu": self.nmpu.to_dict()}


@dataclass(frozen=True)
class TileOutputs:
    """What the tile produces for ``vectors`` input vectors.

    Members
    -------
    codes : int64 [vectors, phases, columns]
        Offset-binary ADC codes, one conversion per phase.
    decisions : uint8 [vectors, phases, columns, steps]
        Raw comparator decisions (skipped steps 0).
    activations : int64 [vectors, columns]
        NMPU outputs.
    """

    codes: np.ndarray
    decisions: np.ndarray
    activations: np.ndarray


def adc_codes(cfg: TileConfig, comparator, analog, active_steps=None, *, first_index: int = 0):
    """SAR conversions of ``analog`` [vectors, phases, columns] -> (codes, decisions), per phase."""
    analog = np.asarray(analog, dtype=np.float64)
    if analog.ndim != 3 or analog.shape[1:] != (cfg.phases, cfg.columns):
        raise ValueError(
            f"analog has shape {analog.shape}, expected (vectors, {cfg.phases}, {cfg.columns})"
        )
    vectors = analog.shape[0]
    flat = analog.reshape(vectors * cfg.phases, cfg.columns)
    codes, decisions = sar_convert(cfg.sar, comparator, flat, active_steps, first_index=first_index)
    return (
        codes.reshape(vectors, cfg.phases, cfg.columns),
        decisions.reshape(vectors, cfg.phases, cfg.columns, cfg.sar.steps),
    )


def nmpu_input(cfg: TileConfig, codes) -> np.ndarray:
    """The NMPU's view of offset-binary ADC codes: the signed view when it takes signed codes."""
    return to_signed(cfg.sar, codes) if cfg.nmpu.in_signed else np.asarray(codes, np.int64)


def tile(
    cfg: TileConfig,
    comparator,
    analog,
    params,
    active_steps=None,
    *,
    first_index: int = 0,
    unit: str = "fixed",
) -> TileOutputs:
    """The whole chain, bit-exact with ``hw.tile.TilePeriphery(cfg, unit)`` in closed loop
    with ``comparator``.

    ``unit``: ``"fixed"`` (the NMPU, ``nmpu``) or ``"fp16"`` (``fp16_unit``).
    ``params``: the unit's per-column parameters, keyed as its model takes them (raw
    fixed-point integers for ``fixed``; float16 arrays for ``fp16``, e.g. from
    ``model.golden.fp16.fp16_params_from_fixed``).
    """
    if unit not in UNITS:
        raise ValueError(f"tile: unit must be one of {sorted(UNITS)}, not {unit!r}")
    codes, decisions = adc_codes(cfg, comparator, analog, active_steps, first_index=first_index)
    wanted = {name: params[name] for name in cfg.nmpu.param_fields}
    activations = UNITS[unit](cfg.nmpu, nmpu_input(cfg, codes), **wanted)
    return TileOutputs(codes, decisions, activations)
