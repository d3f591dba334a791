"""Bit-level packing of the SAR's buses, shared by every testbench that closes its analog loop."""

from __future__ import annotations

import numpy as np

from model.sar import SARConfig


def dac_states(cfg: SARConfig, dac: int) -> np.ndarray:
    """Switch-state masks [columns] from the ``dac`` bus (column c at ``[c*steps +: steps]``)."""
    nbytes = (cfg.columns * cfg.steps + 7) // 8
    bits = np.unpackbits(
        np.frombuffer(dac.to_bytes(nbytes, "little"), np.uint8), bitorder="little"
    )[: cfg.columns * cfg.steps].reshape(cfg.columns, cfg.steps)
    return (bits.astype(np.int64) << np.arange(cfg.steps)).sum(axis=1)


def pack_bits(bits) -> int:
    """Bit c of the result = ``bits[c]`` (the ``cmp`` bus)."""
    return int.from_bytes(np.packbits(np.asarray(bits, np.uint8), bitorder="little"), "little")


def unpack_payload(cfg: SARConfig, payload: int) -> tuple[np.ndarray, np.ndarray]:
    """SAR result word -> (codes [columns], decision masks [columns], bit i = step i)."""
    wm, sm = (1 << cfg.out_width) - 1, (1 << cfg.steps) - 1
    base = cfg.columns * cfg.out_width
    codes = np.array([(payload >> (c * cfg.out_width)) & wm for c in range(cfg.columns)])
    dec = np.array([(payload >> (base + c * cfg.steps)) & sm for c in range(cfg.columns)])
    return codes, dec


def decision_masks(decisions: np.ndarray) -> np.ndarray:
    """Model decisions [..., steps] of 0/1 -> integer masks [...] (bit i = step i)."""
    steps = decisions.shape[-1]
    return (decisions.astype(np.int64) << np.arange(steps)).sum(axis=-1)
