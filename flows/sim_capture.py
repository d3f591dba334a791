"""``make sim`` on a capture: the tile's RTL against the golden chain, plus what it means
for the network (error against the float reference, accuracy with the capture's own head).

Why here: it runs the tile's RTL (``tb.runner.run_tile_capture``); ``tools.sim`` is its
command line. :func:`run_capture` takes the capture already loaded (the command line
loads and validates it once, before any build) and returns the exit status and the
report lines.

Results go to a build folder per capture, ``<build root>/<stem>-<hash>`` with the hash of
the capture's resolved path, so two captures with one file name never share a folder
(``--build-dir`` / ``make sim BUILD_DIR=...`` moves the root). Beside the simulator's
files (the result files of ``tb.runner``: the figures and the hardware's activations) it
holds ``error_vs_float.png`` (histograms of the hardware's error against the float
reference, per column and overall).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from flows import REPO
from model.capture import Capture
from model.files import save_figure
from model.golden.config import check_hardware_size
from tb.runner import CocotbFailure, clear_results, read_results, run_tile_capture

#: The capture ``make sim`` runs unless told otherwise.
DEFAULT_CAPTURE = REPO / "captures" / "builtin_digits.npz"
#: Default root of the per-capture build folders.
BUILD_ROOT = REPO / "build" / "sim"
#: Largest ``vectors * phases * columns`` one ``make sim`` runs without ``--allow-large``:
#: 64x the committed 32-column captures, about 5 minutes on Verilator at 32 columns
#: (Icarus is several times slower).
MAX_VALUES = 1 << 19
#: How many mismatches are printed before the run fails.
SHOW_MISMATCHES = 10


def build_folder(capture: Path, root: Path | None = None, unit: str = "fixed") -> Path:
    """``<root>/<stem>-<8 hex of sha1(resolved path)>[-<unit>]``: one folder per capture
    file and post-processing unit (the two units' tiles are different Verilog)."""
    resolved = str(Path(capture).resolve())
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
    suffix = "" if unit == "fixed" else f"-{unit}"
    return Path(root or BUILD_ROOT) / f"{Path(capture).stem}-{digest}{suffix}"


def check_size(cap: Capture, allow_large: bool) -> str | None:
    """Refuse a capture too large to co-verify in reasonable time, or whose tile is above the
    hardware size limit (``model.golden.config.check_hardware_size``), unless
    ``allow_large``; returns the size rule's warning line, if any."""
    values = cap.vectors * cap.phases * cap.columns
    if values > MAX_VALUES and not allow_large:
        raise ValueError(
            f"{cap.path}: field 'analog': {cap.vectors} vectors x {cap.phases} phases x "
            f"{cap.columns} columns = {values} analog values, above make sim's limit of "
            f"{MAX_VALUES} (hours of simulation); pass --allow-large "
            "(make sim SIM_ARGS=--allow-large), or import fewer vectors (--max-vectors)"
        )
    return check_hardware_size(cap.tile_config, allow_large, what=str(cap.path))


def error_plot(err: np.ndarray, path: Path, title: str) -> Path:
    """Write a PNG of ``err`` [vectors, columns] (output LSB): per-column histograms as a
    heat map (column x error) and the overall histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = max(1.0, float(np.ceil(np.abs(err).max())))
    bins = np.linspace(-lim, lim, min(81, 2 * int(lim) + 2))
    columns = err.shape[1]
    counts = np.stack([np.histogram(err[:, c], bins=bins)[0] for c in range(columns)], axis=1)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    im = ax0.imshow(
        counts,
        aspect="auto",
        origin="lower",
        extent=(-0.5, columns - 0.5, bins[0], bins[-1]),
        cmap="viridis",
        interpolation="nearest",
    )
    ax0.set_xlabel("column")
    ax0.set_ylabel("hardware - float (output LSB)")
    ax0.set_title("error histogram per column")
    fig.colorbar(im, ax=ax0, label="vectors")
    ax1.hist(err.ravel(), bins=bins, color="tab:blue")
    rms = float(np.sqrt(np.mean(err**2)))
    ax1.set_title(f"all columns: RMS {rms:.3f} LSB")
    ax1.set_xlabel("hardware - float (output LSB)")
    ax1.set_ylabel("activations")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path


def accuracy_line(cap: Capture, hw_out: np.ndarray) -> str:
    """Accuracy with the capture's own network, or why it is not available."""
    if cap.head is None:
        return "accuracy: not available (capture has no network head)"
    if cap.labels is None:
        return "accuracy: not available (capture has no labels)"
    acc_hw, acc_float = cap.accuracy(hw_out), cap.accuracy(cap.reference)
    return (
        f"accuracy           : {100 * acc_hw:.2f} % with the hardware's activations, "
        f"{100 * acc_float:.2f} % with the float layer ({len(cap.labels)} vectors, "
        f"the capture's head of {len(cap.head.layers)} layer(s))"
    )


def front_end_line(front_end: dict, cap: Capture) -> str:
    calibrated = cap.adc_front_end
    text = json.dumps(front_end) if front_end else "ideal"
    if calibrated is None:
        return text + " (the capture records no ADC front end: ideal assumed)"
    return text + (" (as calibrated)" if front_end == calibrated else " (not the calibrated one)")


def run_capture(
    sim: str,
    cap: Capture,
    seed: int,
    front_end: dict | None = None,
    traffic: bool = True,
    *,
    build_root: Path | None = None,
    waves: bool = False,
    allow_large: bool = False,
    unit: str = "fixed",
    log=None,
) -> tuple[int, list[str]]:
    """Co-verify the loaded capture ``cap`` on ``sim``; returns the exit status (0 iff no
    mismatch) and the report lines.

    ``front_end``: the ADC analog front end's ``AnalogFrontEnd.sample`` settings;
    ``None`` takes the one the capture was calibrated with (ideal if it records none),
    ``{}`` the ideal one. ``waves``: record a waveform (FST on Icarus, VCD on Verilator;
    its path is reported). ``unit``: the tile's post-processing unit, ``fixed`` (the
    NMPU) or ``fp16`` (the FP16 baseline with the calibration rounded to binary16).
    ``log``: called with one line (the build folder) before the simulation starts.
    Raises ``ValueError`` (one line) for a capture above the size guard.
    """
    t0 = time.perf_counter()
    capture = Path(cap.path)
    check_size(cap, allow_large)
    if front_end is None:
        front_end = cap.adc_front_end or {}
    build = build_folder(capture, build_root, unit)
    clear_results(build)
    if log is not None:
        log(
            f"make sim: {cap.vectors} vectors x {cap.phases} phase(s) x {cap.columns} columns "
            f"on {sim}, build folder {build}"
        )
    failure = None
    try:
        result, fig, hw_out = run_tile_capture(
            capture,
            tile_config=cap.tile_config,
            sim=sim,
            build_dir=build,
            seed=seed,
            front_end=front_end,
            idle="random" if traffic else "none",
            backpressure="random" if traffic else "none",
            unit=unit,
            waves=waves,
        )
    except CocotbFailure as exc:
        failure, result = exc, exc.result
        figures, hw_out = read_results(build)
        fig = figures[0] if figures else None
    wall = time.perf_counter() - t0
    prov = cap.provenance
    lines = [
        "== make sim: SAR ADC (closed loop) -> "
        + ("NMPU" if unit == "fixed" else "FP16 unit")
        + " on captured activations ==",
        f"simulator          : {sim}",
        "post-processing    : "
        + ("fixed-point NMPU" if unit == "fixed" else "FP16 baseline unit (binary16 parameters)"),
        f"capture            : {capture} (schema {cap.schema_version})",
        f"  analog simulator : {prov.get('simulator')} {json.dumps(prov.get('simulator_version'))}",
        f"  network, layer   : {prov.get('network')}; {prov.get('layer')}",
        f"  noise            : {json.dumps(prov.get('noise'))}",
        f"  seed, command    : {prov.get('seed')}; {prov.get('command')}",
        f"ADC front end      : {front_end_line(front_end, cap)}",
        f"seed               : {seed}",
    ]
    if fig is None:
        lines += [
            f"RESULT             : FAIL ({failure}; the bench wrote no figures)",
        ]
        return 1, lines
    mismatches = fig["adc_mismatches"] + fig["activation_mismatches"]
    lines += [
        f"vectors x columns  : {fig['vectors']} x {fig['columns']} "
        f"({fig['conversions']} conversions, {fig['adc_values_checked']} codes + decisions, "
        f"{fig['activation_values_checked']} activations + last flags checked)",
        f"mismatches         : {mismatches} (ADC codes or decisions {fig['adc_mismatches']}, "
        f"activations {fig['activation_mismatches']})",
    ]
    for text in fig.get("errors", [])[:SHOW_MISMATCHES]:
        lines.append(f"  mismatch         : {text}")
    if hw_out is not None and failure is None:
        # What the hardware's activations mean: error vs float, accuracy of the network.
        err = hw_out.astype(np.float64) - cap.reference
        rms = float(np.sqrt(np.mean(err**2)))
        png = error_plot(
            err, build / "error_vs_float.png", f"{Path(capture).name} on {sim}: hardware - float"
        )
        lines += [
            f"RMS error vs float : {rms:.3f} output LSB (max |err| {np.abs(err).max():.2f} LSB); "
            f"histograms {png}",
            accuracy_line(cap, hw_out),
        ]
    if result.waves is not None:
        kind = result.waves.suffix[1:].upper()
        lines.append(f"waveform           : {result.waves} ({kind}: open with gtkwave or surfer)")
    elif waves:
        lines.append("waveform           : none written (see the simulator log)")
    lines += [
        f"speed              : {fig['cycles'] / fig['seconds']:.0f} clocks/s "
        f"({fig['conversions'] / fig['seconds']:.0f} conversions/s)",
        f"wall time          : {wall:.1f} s (build {result.build_seconds:.1f} s)",
        "RESULT             : "
        + ("PASS" if mismatches == 0 and failure is None else f"FAIL ({failure or 'mismatch'})"),
    ]
    return (0 if mismatches == 0 and failure is None and result.failed == 0 else 1), lines
