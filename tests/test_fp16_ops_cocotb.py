"""The binary16 operators' generated Verilog on Icarus and Verilator, swept against
``model.fp16``: every one of the 65536 patterns (with 1.0 as the other operand, and every
pattern's conversions) and random pairs with nearby exponents (cancellation, carries,
ties). The class-pair sweep runs in Amaranth's simulator (tests/test_fp16_amaranth.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tb.harness.fp16_ops import OUTPUTS, OperatorBank, expected_outputs, first_mismatch
from tb.runner import HW_OUT_FILE, SIMULATORS, read_results, run_bench

#: Operators side by side: one simulator step checks this many operand pairs.
LANES = 16


def random_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform patterns, and (second half) pairs with exponents within 2 binades."""
    a = rng.integers(0, 0x10000, n).astype(np.uint16)
    b = rng.integers(0, 0x10000, n).astype(np.uint16)
    near = (a.astype(np.int64) + rng.integers(-2048, 2048, n)) & 0xFFFF
    b[n // 2 :] = (near[n // 2 :] ^ (rng.integers(0, 2, n - n // 2) << 15)).astype(np.uint16)
    return a, b


def sweep(a, b, *, sim, build_dir, seed) -> dict[str, np.ndarray]:
    """Every operator's outputs for the operand patterns ``a``, ``b`` on ``sim``."""
    np.save(build_dir / "operands.npy", np.stack([a, b]))
    settings = {
        "lanes": LANES,
        "operands": str((build_dir / "operands.npy").resolve()),
        "hw_out": str((build_dir / HW_OUT_FILE).resolve()),
    }
    result, figures = run_bench(
        "fp16_ops", OperatorBank(LANES), sim=sim, build_dir=build_dir, seed=seed, settings=settings
    )
    assert result.failed == 0 and figures[0]["pairs"] == a.size, figures
    _, outputs = read_results(build_dir)
    return dict(zip(OUTPUTS, outputs, strict=True))


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", SIMULATORS)
def test_every_pattern_and_random_pairs(sim, seed, build_dir):
    every = np.arange(0x10000, dtype=np.uint16)
    ra, rb = random_pairs(np.random.default_rng(seed), 400 * LANES)
    a = np.concatenate([every, ra])
    b = np.concatenate([np.full_like(every, 0x3C00), rb])  # 0x3C00: 1.0
    got = sweep(a, b, sim=sim, build_dir=build_dir, seed=seed)
    error = first_mismatch(a, b, got)
    assert error is None, f"{sim}: {error}"


def test_a_wrong_operator_output_is_named():
    """The comparison can fail: one altered output is reported with its operands."""
    a = np.array([0x3C00, 0x4000], np.uint16)
    b = np.array([0x3C00, 0x3C00], np.uint16)
    got = {k: v.astype(np.int64).copy() for k, v in expected_outputs(a, b).items()}
    assert first_mismatch(a, b, got) is None
    got["mul"][1] ^= 1
    assert first_mismatch(a, b, got) == (
        "mul: 1 of 2 mismatches; first a=0x4000 b=0x3C00: expected 0x4000, got 0x4001"
    )
