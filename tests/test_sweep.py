"""The sweep engine (``flows.sweep``, ``tools.sweep``): Parquet rows from a real Dask
cluster on loopback, resume (also after SIGKILL), failing points, spec errors, a CLI
scheduler and workers surviving a killed worker, the RTL check.

Every sweep here is a few golden-chain points: the committed capture's first vectors or
the digits MLP on a subset of the test images (milliseconds to a second each); the ADC
instances are drawn from the test's seed (printed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from distributed import Client

from flows.sweep import points_dir, read_rows, run_sweep
from flows.sweep_report import mean_ci95, write_report
from flows.sweep_spec import SpecError, load, parse

TINY = """
[sweep]
name = "tiny"
kind = "{kind}"
[params]
{size} = {n}
[axes]
active_steps = [8, 4]
adc_seed = [{a}, {b}]
"""


def tiny(tmp_path, seed, kind="capture"):
    """4 points: the committed capture's first 32 vectors (no torch: cheap workers), or the
    study's MLP on 60 test images; two ADC instances drawn from ``seed``."""
    a, b = 1 + seed % 1000, 1001 + seed % 1000
    size, n = ("vectors", 32) if kind == "capture" else ("test_vectors", 60)
    path = tmp_path / f"tiny_{kind}.toml"
    path.write_text(TINY.format(kind=kind, size=size, n=n, a=a, b=b))
    return load(path)


def quiet(*_):
    pass


def test_local_cluster_writes_one_parquet_row_per_point_equal_to_a_serial_run(tmp_path, seed):
    """2 loopback workers: one Parquet file per point with axes, metrics, seeds, commit,
    versions, wall time and worker; the same rows (accuracy) as an in-process run."""
    spec = tiny(tmp_path, seed)
    res = run_sweep(spec, tmp_path / "dask", workers=2, log=quiet)
    assert res["ran"] == 4 and res["workers"] == 2 and not res["failed"], res["failed"]
    table = pq.read_table(points_dir(tmp_path / "dask"))  # the dataset, as a user reads it
    assert table.num_rows == 4
    rows = table.to_pylist()
    for r in rows:
        assert r["status"] == "ok" and r["error"] is None, r
        assert 0.5 < r["accuracy"] <= 1.0 and r["float_accuracy"] > 0.9, r
        assert 0 < r["rms_lsb"] < 20, r
        assert r["worker"].startswith("tcp://127.0.0.1:"), r["worker"]
        assert r["git_commit"] and '"dask"' in r["versions"] and r["wall_seconds"] > 0, r
        assert r["capture"].endswith("builtin_digits.npz") and r["vectors"] == 32, r
    assert {(r["active_steps"], r["adc_seed"]) for r in rows} == {
        (k, s) for k in (8, 4) for s in spec.axes["adc_seed"]
    }
    serial = run_sweep(spec, tmp_path / "serial", serial=True, log=quiet)
    got = {r["point_id"]: (r["accuracy"], r["rms_lsb"]) for r in rows}
    want = {r["point_id"]: (r["accuracy"], r["rms_lsb"]) for r in serial["rows"]}
    assert got == want, f"seed {seed}: cluster {got} != serial {want}"
    report = write_report(spec, res, tmp_path / "dask")
    assert [e["n"] for e in report["entries"]] == [2, 2], report["entries"]
    assert (tmp_path / "dask" / "accuracy_vs_active_steps.png").stat().st_size > 1000


def test_rerun_skips_finished_points(tmp_path, seed):
    """In process: a deleted point reruns alone, the others are not touched."""
    spec = tiny(tmp_path, seed)
    out = tmp_path / "out"
    first = run_sweep(spec, out, serial=True, log=quiet)
    assert first["ran"] == 4
    files = sorted(points_dir(out).glob("*.parquet"))
    keep = {f: f.stat().st_mtime_ns for f in files[1:]}
    files[0].unlink()  # as if the sweep had been killed while that point ran
    again = run_sweep(spec, out, serial=True, log=quiet)
    assert (again["ran"], again["skipped"]) == (1, 3), again
    assert {f: f.stat().st_mtime_ns for f in keep} == keep, "finished points were rewritten"
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in first["rows"]]
    assert all(0.5 < r["accuracy"] <= 1 and r["rms_lsb"] > 0 for r in again["rows"])


def test_a_killed_sweep_keeps_its_finished_points(tmp_path, seed):
    """``tools.sweep`` (study kind: chip-specific training, one epoch) killed with SIGKILL
    after its first point: every file left is a whole row, and the rerun runs only the
    points that were missing."""
    a = 1 + seed % 1000
    spec = tmp_path / "kill.toml"
    spec.write_text(
        '[sweep]\nname = "kill"\nkind = "study"\n[params]\ntest_vectors = 60\n'
        'training = "chip_specific"\nepochs = 1\nactive_steps = 6\n'
        f"[axes]\nadc_seed = [{a}, {a + 1000}, {a + 2000}]\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tools.sweep", str(spec), "--out", str(out), "--serial"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(points_dir(out).glob("*.parquet")):
            assert proc.poll() is None, f"the sweep ended (status {proc.returncode}) early"
            assert time.monotonic() < deadline, "no point finished in 60 s"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    left = {f: f.stat().st_mtime_ns for f in points_dir(out).glob("*.parquet")}
    assert 1 <= len(left) < 3, f"{len(left)} points finished before the kill"
    assert all(r["status"] == "ok" for r in read_rows(out)), "a partial row was left"
    again = run_sweep(load(spec), out, serial=True, log=quiet)
    assert (again["ran"], again["skipped"]) == (3 - len(left), len(left)), again
    assert {f: f.stat().st_mtime_ns for f in left} == left, "finished points were rewritten"
    rows = again["rows"]
    assert len(rows) == 3 and all(r["status"] == "ok" and r["train_seconds"] > 0 for r in rows)
    assert all(0.5 < r["accuracy"] <= 1 and r["decisions_per_inference"] == 32 * 6 for r in rows)


def test_failing_point_is_recorded_and_the_exit_status_names_it(tmp_path, capsys):
    """A point whose front end is out of range fails alone: its row holds the error, the
    other points finish, the command exits 1 naming it; a rerun retries only it."""
    from tools.sweep import main

    spec = tmp_path / "fail.toml"
    spec.write_text(
        '[sweep]\nname = "fail"\nkind = "capture"\n[params]\nvectors = 16\n'
        "[axes]\nmismatch = [0.01, 0.9]\n"
    )
    out = tmp_path / "out"
    assert main([str(spec), "--out", str(out), "--serial"]) == 1
    err = capsys.readouterr().err
    assert "1 points failed" in err and "mismatch=0.9" in err, err
    rows = {r["mismatch"]: r for r in read_rows(out)}
    assert rows[0.01]["status"] == "ok" and rows[0.01]["accuracy"] > 0.5, rows[0.01]
    bad = rows[0.9]
    assert bad["status"] == "failed" and bad["accuracy"] is None, bad
    assert "ValueError" in bad["error"] and "mismatch must be at most 0.5" in bad["error"]
    assert main([str(spec), "--out", str(out), "--serial"]) == 1
    assert "1 already finished" in capsys.readouterr().out


BAD = [
    ("[sweep]\nkind = \"nope\"\n", "sweep.kind: must be one of study, capture, not 'nope'"),
    ('[sweep]\nkind = "study"\n[axes]\nactive_steps = [8, 0]\n',
     "axes.active_steps[1]: must be an integer in [1, 8], not 0"),
    ('[sweep]\nkind = "study"\n[axes]\nwidth = [1]\n', "axes.width: unknown parameter"),
    ('[sweep]\nkind = "study"\n[params]\nnetwork = "mlp"\n[axes]\nnetwork = ["cnn"]\n',
     "axes.network: network is also in [params]"),
    ('[sweep]\nkind = "study"\n[axes]\ntraining = []\n', "axes.training: must be a non-empty"),
    ('[sweep]\nkind = "study"\n[measure.rtl]\nsim = "xsim"\n', "measure.rtl.sim: must be"),
    ('[sweep]\nkind = "capture"\n[params]\ncapture = "nowhere.npz"\n', "params.capture:"),
    ('[sweep]\nkind = "study"\n[axes]\nadc_seed = [1]\n[[exclude]]\nadc_seed = 1\n',
     "exclude: leaves no point to run"),
    ("[sweep\n", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize("text, message", BAD)
def test_bad_spec_is_one_line_naming_file_and_field(tmp_path, capsys, text, message):
    from tools.sweep import main

    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main([str(spec), "--out", str(tmp_path / "out"), "--serial"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {spec}: "), err
    assert message in err, err
    assert not (tmp_path / "out").exists(), "a bad spec ran something"


def test_spec_points_ids_and_exclusions(tmp_path):
    doc = {
        "sweep": {"name": "x", "kind": "study"},
        "axes": {"training": ["float", "chip_specific"], "calibration": ["none", "per_column"],
                 "active_steps": [8, 4]},
        "exclude": [{"training": "chip_specific", "calibration": "per_column"}],
        "measure": {"rtl": {"sim": "icarus", "when": {"active_steps": 4}}},
    }  # fmt: skip
    spec = parse(doc, "x.toml")
    pts = spec.points()
    assert len(pts) == 6 and [p["index"] for p in pts] == list(range(6))
    assert not any(p["params"]["training"] == "chip_specific"
                   and p["params"]["calibration"] == "per_column" for p in pts)  # fmt: skip
    assert [p["rtl"] is not None for p in pts] == [p["params"]["active_steps"] == 4 for p in pts]
    assert len({p["id"] for p in pts}) == 6
    assert [p["id"] for p in parse(doc, "x.toml").points()] == [p["id"] for p in pts]
    doc["params"] = {"test_vectors": 100}  # anything that changes the result changes the id
    assert not {p["id"] for p in parse(doc, "x.toml").points()} & {p["id"] for p in pts}
    with pytest.raises(SpecError, match=r"^x.toml: axes.calibration\[0\]: must be one of"):
        parse({**doc, "axes": {"calibration": ["all"]}}, "x.toml")


def test_mean_ci95_is_the_student_t_interval():
    m, lo, hi = mean_ci95([0.90, 0.92, 0.94])
    half = 4.302653 * 0.02 / 3**0.5  # t(0.975, 2 dof) (printed tables) * sd / sqrt(n)
    assert m == pytest.approx(0.92) and (lo, hi) == pytest.approx((0.92 - half, 0.92 + half))
    assert mean_ci95([0.5]) == (0.5, 0.5, 0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_cluster_survives_a_killed_worker_with_the_serial_rows(tmp_path, seed):
    """``dask scheduler`` and two ``dask worker`` processes started as the docs show
    (loopback only); ``tools.sweep --scheduler`` (its own process) runs 40 points there, one
    worker is SIGKILLed once the first rows are written and before the last, and the sweep
    still finishes every point, each row equal to an in-process (serial) run's; the sweep
    leaves the cluster running."""
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    py = sys.executable
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    quiet_io = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = [py, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                 str(port), "--no-dashboard"]  # fmt: skip
    procs = [subprocess.Popen(scheduler, **quiet_io)]
    a = 1 + seed % 1000
    spec_path = tmp_path / "kill_worker.toml"
    spec_path.write_text(
        '[sweep]\nname = "kill-worker"\nkind = "capture"\n[params]\nvectors = 256\n[axes]\n'
        "active_steps = [8, 7, 6, 5, 4, 3, 2, 1]\n"
        f"adc_seed = [{a}, {a + 1}, {a + 2}, {a + 3}, {a + 4}]\n"
    )
    out = tmp_path / "out"
    try:
        worker = [py, "-m", "distributed.cli.dask_worker", addr, "--nworkers", "1",
                  "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                  "--no-dashboard"]  # fmt: skip
        workers = [subprocess.Popen(worker, **quiet_io) for _ in range(2)]
        procs += workers
        deadline = time.monotonic() + 60
        while True:  # until both workers have joined
            try:
                with Client(addr, timeout="5s") as c:
                    if len(c.scheduler_info(n_workers=-1)["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the CLI workers did not join in 60 s"
            time.sleep(0.3)
        sweep = subprocess.Popen(
            [py, "-m", "tools.sweep", str(spec_path), "--out", str(out), "--scheduler", addr],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while len(list(points_dir(out).glob("*.parquet"))) < 2:
            assert sweep.poll() is None, f"the sweep ended before the kill:\n{sweep.stdout.read()}"
            assert time.monotonic() < deadline, "no row written in 120 s"
            time.sleep(0.02)
        workers[1].kill()  # SIGKILL: no goodbye to the scheduler
        finished_at_kill = len(list(points_dir(out).glob("*.parquet")))
        log, _ = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, log[-3000:]
        assert finished_at_kill < 40, "every point had finished before the kill"
        assert f"on {addr}" in log
        rows = read_rows(out)
        assert len(rows) == 40 and all(r["status"] == "ok" for r in rows), rows
        assert all(p.poll() is None for p in procs[:2]), "the sweep stopped the attached cluster"
    finally:
        with contextlib.suppress(OSError), Client(addr, timeout="5s") as c:
            c.shutdown()  # scheduler and workers
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=15)
    serial = run_sweep(load(spec_path), tmp_path / "serial", serial=True, log=quiet)
    by_id = {r["point_id"]: r for r in serial["rows"]}
    for r in rows:
        ref = by_id[r["point_id"]]
        assert (r["accuracy"], r["rms_lsb"]) == (ref["accuracy"], ref["rms_lsb"]), r["point_id"]


@pytest.mark.cocotb
def test_rtl_check_runs_the_points_vectors_on_the_bulk_harness(tmp_path):
    """``[measure.rtl]`` on Icarus: the point's first 2 vectors, its own narrowed formats
    (a ``[formats.NAME]`` table) and active_steps through the tile bulk harness, 0
    mismatches, in the worker's own folder."""
    from flows.sweep_points import worker_build_dir

    spec = tmp_path / "rtl.toml"
    spec.write_text(
        '[sweep]\nname = "rtl"\nkind = "capture"\n[params]\nvectors = 4\nformats = "mine"\n'
        '[formats.mine]\nscale = "UQ(1,5)"\noffset = "Q(6,1)"\nfrac_y = 0\nmid_width = 10\n'
        'bn_scale = "Q(3,6)"\nbn_offset = "Q(9,0)"\n'
        '[axes]\nactive_steps = [5, 8]\n[measure.rtl]\nsim = "icarus"\nvectors = 2\n'
        "when = { active_steps = [5] }\n"
    )
    res = run_sweep(load(spec), tmp_path / "out", serial=True, log=quiet)
    checked, plain = res["rows"]
    assert checked["status"] == "ok" and checked["active_steps"] == 5, checked
    assert (checked["rtl_sim"], checked["rtl_vectors"], checked["rtl_mismatches"]) == (
        "icarus", 2, 0), checked  # fmt: skip
    assert plain["rtl_sim"] is None and plain["rtl_mismatches"] is None, plain
    build = worker_build_dir() / checked["point_id"]
    assert "tile_harness" in (build / "rtl.log").read_text(), "the bench did not run there"


def test_docs_name_every_spec_parameter():
    """docs/sweeps.md documents each kind's every parameter (the spec's reference)."""
    from flows.sweep_spec import PARAMS

    text = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    missing = [f"{kind}.{name}" for kind, table in PARAMS.items() for name in table
               if f"`{name}`" not in text]  # fmt: skip
    assert not missing, f"docs/sweeps.md lacks {missing}"


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "sweeps").glob("*.toml"))
)
def test_committed_specs_parse(name):
    """The committed specs load; quick.toml stays small (48 points, one RTL check)."""
    spec = load(Path(__file__).resolve().parents[1] / "sweeps" / name)
    points = spec.points()
    assert len({p["id"] for p in points}) == len(points) > 0
    if name == "quick.toml":
        assert len(points) == 48 and sum(p["rtl"] is not None for p in points) == 1
