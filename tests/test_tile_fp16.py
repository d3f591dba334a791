"""The tile with the FP16 baseline unit in place of the NMPU (DESIGN 7: interchangeable).

Model tier: the capture's calibration converted to binary16
(``fp16_params_from_fixed``) against numpy's own float16 rounding, and the golden
chain ``tile(..., unit="fp16")`` against the FP16 unit's model on the chain's codes.
RTL tier: a small slice of a committed capture through ``TilePeriphery(cfg, "fp16")``
on Icarus and Verilator, every ADC code, decision and activation against the golden chain.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.capture import load
from model.fp16 import fp16_params_from_fixed, fp16_unit
from model.golden.tile import nmpu_input, tile
from model.nmpu import NMPUConfig
from model.sar import AnalogFrontEnd
from tb.runner import SIMULATORS, run_tile_capture

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO / "captures" / "builtin_digits.npz"
#: Vectors and lanes of the RTL run (a slice of the capture: the bench checks every vector;
#: two lanes keep the FP16 unit's Verilog small enough to compile in seconds).
SMALL_VECTORS, SMALL_LANES = 12, 2


def small_capture(path: Path, vectors: int, lanes: int) -> Path:
    """The committed capture's first ``vectors`` vectors, its units built with ``lanes`` lanes
    (an elaboration-time choice: the same arithmetic and parameters, a smaller netlist to
    compile), as a capture file at ``path``."""
    arrays = dict(np.load(CAPTURE, allow_pickle=False))
    for name in ("analog", "reference", "labels"):
        if name in arrays:
            arrays[name] = arrays[name][:vectors]
    meta = json.loads(str(arrays["metadata"]))
    meta["nmpu_config"]["lanes"] = lanes
    arrays["metadata"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez(path, **arrays)
    return path


def test_fixed_calibration_rounds_to_binary16():
    """Each parameter is its fixed-point value rounded once to binary16 (numpy's own
    float64 -> float16 rounding is the oracle), with 2**out_frac folded into batch-norm."""
    cap = load(CAPTURE)
    cfg = cap.nmpu_config
    p16 = fp16_params_from_fixed(cfg, cap.params())
    assert set(p16) == set(cfg.param_fields)
    for name, raw in cap.params().items():
        frac = cfg.param_format(name).frac_bits
        fold = cfg.out_frac if name.startswith("bn_") else 0
        want = (raw.astype(np.float64) * 2.0 ** (fold - frac)).astype(np.float16)
        np.testing.assert_array_equal(p16[name].view(np.uint16), want.view(np.uint16), name)
    # Correction parameters at the default formats are exact in binary16.
    for name in ("scale", "offset"):
        exact = cap.params()[name] * 2.0 ** -cfg.param_format(name).frac_bits
        np.testing.assert_array_equal(p16[name].astype(np.float64), exact, name)


def test_out_frac_folds_into_the_correction_without_batchnorm():
    cfg = NMPUConfig(columns=2, lanes=1, bn=False, out_lsb_cut=0, out_round_bits=1)
    assert cfg.out_frac == 2  # y has 7 - 2 - 2 = 3 fraction bits, minus 1: quarter units
    p = fp16_params_from_fixed(cfg, {"scale": np.array([128, 64]), "offset": np.array([1, -3])})
    np.testing.assert_array_equal(p["scale"].astype(float), [4.0, 2.0])  # 1.0, 0.5 times 4
    np.testing.assert_array_equal(p["offset"].astype(float), [2.0, -6.0])  # 0.5, -1.5 times 4
    with pytest.raises(ValueError, match="cannot be folded"):
        fp16_params_from_fixed(NMPUConfig(columns=2, lanes=1, bn=False, correction=False,
                                          out_lsb_cut=0, out_round_bits=1), {})  # fmt: skip


def test_golden_chain_with_the_fp16_unit():
    """``tile(..., unit="fp16")`` is the SAR model followed by ``fp16_unit``, and close to the
    fixed-point chain (same calibration)."""
    cap = load(CAPTURE)
    cfg = cap.tile_config
    fe = AnalogFrontEnd.sample(cfg.sar, **(cap.provenance.get("adc_front_end") or {}))
    p16 = fp16_params_from_fixed(cfg.nmpu, cap.params())
    out16 = tile(cfg, fe, cap.analog, p16, unit="fp16")
    fixed = tile(cfg, fe, cap.analog, cap.params())
    np.testing.assert_array_equal(out16.codes, fixed.codes)
    want = fp16_unit(cfg.nmpu, nmpu_input(cfg, out16.codes), **p16)
    np.testing.assert_array_equal(out16.activations, want)
    diff = np.abs(out16.activations - fixed.activations)
    assert diff.max() <= 2 and diff.mean() < 0.5, (diff.max(), diff.mean())
    with pytest.raises(ValueError, match="unit must be one of"):
        tile(cfg, fe, cap.analog, p16, unit="float")


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", SIMULATORS)
def test_tile_with_fp16_unit_matches_golden_chain(sim, seed, build_dir):
    capture = small_capture(build_dir / "small_capture.npz", SMALL_VECTORS, SMALL_LANES)
    cap = load(capture)
    assert cap.nmpu_config.lanes == SMALL_LANES
    result, fig, hw_out = run_tile_capture(
        capture,
        sim=sim,
        build_dir=build_dir,
        seed=seed,
        front_end=cap.provenance.get("adc_front_end") or {},
        idle="random",
        backpressure="bursty",
        unit="fp16",
    )
    assert result.failed == 0
    assert fig["adc_mismatches"] == fig["activation_mismatches"] == 0, fig["errors"]
    assert fig["adc_checked"] == fig["conversions"] == SMALL_VECTORS * cap.phases
    assert fig["activation_checked"] == SMALL_VECTORS * cap.nmpu_config.beats
    assert hw_out.shape == (SMALL_VECTORS, cap.columns)
    rms = np.sqrt(np.mean((hw_out - cap.reference) ** 2))
    assert rms < 0.1 * np.abs(cap.reference).max(), f"RMS error {rms} output LSB"
