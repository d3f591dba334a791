"""The whole chain on real captures: analog values -> SAR RTL in closed loop with the analog
front-end model -> serializer -> NMPU RTL, every code, decision and activation checked
against the golden chain, on both simulators (which must also agree with each other) and both
committed captures."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from model.capture import load
from tb.runner import SIMULATORS, run_tile_capture, simulator_disagreements
from tools.sim import main as sim_main

REPO = Path(__file__).resolve().parent.parent
CAPTURES = {
    "builtin": REPO / "captures" / "builtin_digits.npz",
    "aihwkit": REPO / "captures" / "aihwkit_digits.npz",
}


def assert_all_checked(fig: dict, cap) -> None:
    """Every conversion and every activation arrived and matched the golden chain."""
    assert fig["adc_mismatches"] == fig["activation_mismatches"] == 0, fig["errors"]
    assert fig["adc_checked"] == fig["conversions"] == cap.vectors * cap.phases
    assert fig["activation_checked"] == cap.vectors * cap.nmpu_config.beats


@pytest.mark.cocotb
@pytest.mark.parametrize("capture", list(CAPTURES))
def test_capture_through_tile_rtl(capture, seed, build_dir):
    """Each simulator matches the golden chain, and the two produced the same codes and
    activations."""
    cap = load(CAPTURES[capture])
    runs = {
        sim: run_tile_capture(
            CAPTURES[capture],
            sim=sim,
            build_dir=build_dir,
            seed=seed,
            front_end=cap.provenance["adc_front_end"],  # the instance it was calibrated with
            idle="random",
            backpressure="bursty",
            tile_config=cap.tile_config,
        )
        for sim in SIMULATORS
    }
    for result, fig, hw_out in runs.values():
        assert result.failed == 0
        assert_all_checked(fig, cap)
        # The hardware computed something meaningful: close to the float reference on average.
        rms = np.sqrt(np.mean((hw_out - cap.reference) ** 2))
        assert rms < 0.1 * np.abs(cap.reference).max(), f"RMS error {rms} output LSB"
    (_, icarus, icarus_out), (_, verilator, verilator_out) = runs.values()
    np.testing.assert_array_equal(icarus_out, verilator_out)
    assert not simulator_disagreements({"icarus": [icarus], "verilator": [verilator]})


@pytest.mark.cocotb
def test_tile_with_adc_mismatch_and_noise(seed, build_dir):
    """Another mismatch/offset/noise instance, approximate conversion: still bit-exact."""
    _, fig, _ = run_tile_capture(
        CAPTURES["builtin"],
        sim="verilator",
        build_dir=build_dir,
        seed=seed,
        front_end={"mismatch": 0.04, "offset": 1.0, "noise": 0.5, "seed": seed},
        active_steps=6,
        idle="bursty",
        backpressure="random",
    )
    assert_all_checked(fig, load(CAPTURES["builtin"]))


def test_make_sim_names_a_malformed_capture(tmp_path, capsys):
    bad = tmp_path / "broken.npz"
    arrays = dict(np.load(CAPTURES["builtin"], allow_pickle=False))
    arrays["scale"] = arrays["scale"][:-1]
    np.savez(bad, **arrays)
    assert sim_main(["--capture", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.npz" in err and "scale" in err, err
    assert sim_main(["--capture", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--adc-ideal", "--adc-noise", "1"], "--adc-ideal conflicts"),
        (["--adc-seed", "3"], "--adc-seed needs"),
        (["--adc-noise", "-1"], "noise must be >= 0"),
        (["--synthetic", "--adc-noise", "1"], "--synthetic runs the NMPU alone"),
        (["--sim", "xcelium"], "invalid choice"),
    ],
)
def test_make_sim_flag_errors_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) if "--sim" in argv else nullcontext():
        status = sim_main(argv)
        assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
