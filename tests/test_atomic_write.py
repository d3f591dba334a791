"""Every file the project writes goes through a temporary file and an atomic rename
(``model.files``): a failed write leaves the previous file intact and no temporary file,
and an output path that is not a regular file (a FIFO, a directory, a device) is refused
before anything is opened or any long work starts. Every file the project reads on a
user's word (config files, captures, import sources, the weights cache) is checked the
same way before it is opened (``check_input_path``): a FIFO would block the read."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model.capture import main as model_capture_main
from model.files import (
    TEMP_MARK,
    NotRegularFile,
    atomic_write,
    check_input_path,
    check_output_dir,
    check_output_path,
    save_figure,
    write_bytes_atomic,
    write_text_atomic,
    write_with,
)
from model.flow import capture, digits
from tests.test_capture import _valid_kwargs
from tools.accuracy import main as accuracy_main
from tools.capture import main as capture_main
from tools.rtl import main as rtl_main
from tools.sim import main as sim_main

REPO = Path(__file__).resolve().parent.parent


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (``TimeoutError``) instead of hanging when the block blocks, e.g. on opening a
    FIFO that nobody reads."""

    def expire(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "out.fifo"
    os.mkfifo(path)
    return path


# ------------------------------------------------------------------------ the module itself
def test_write_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a.txt"
    assert write_text_atomic(path, "one\n") == path
    assert write_text_atomic(path, "two\n") == path
    assert path.read_text() == "two\n"
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_mid_write_keeps_old_file_and_removes_temp(tmp_path, error):
    path = tmp_path / "report.json"
    path.write_text("old and good")
    with pytest.raises(type(error)), atomic_write(path, "w") as fh:
        fh.write("half of the new")
        fh.flush()
        assert temp_files(tmp_path), "the data goes to a temporary file beside the target"
        raise error
    assert path.read_text() == "old and good"
    assert temp_files(tmp_path) == []


def test_full_disk_oserror_keeps_old_file(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"previous")
    with pytest.raises(OSError, match="No space"), atomic_write(path) as fh:
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_bytes() == b"previous" and temp_files(tmp_path) == []


def test_new_file_follows_umask_and_replaced_file_keeps_its_mode(tmp_path):
    old = os.umask(0o027)
    try:
        new = write_text_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(new.stat().st_mode) == 0o640  # not mkstemp's 0o600
    kept = tmp_path / "kept.txt"
    kept.write_text("x")
    kept.chmod(0o604)
    write_text_atomic(kept, "y")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_text() == "y"


def test_symlink_is_followed_and_kept(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_text_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_non_regular_targets_are_refused_without_opening(tmp_path, fifo):
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [(fifo, "FIFO"), (folder, "a directory"), (Path("/dev/null"), "character device")]
    for path, kind in cases:
        with deadline(10):
            with pytest.raises(ValueError, match=kind) as info:
                write_text_atomic(path, "x")
            assert str(path) in str(info.value)
            with pytest.raises(ValueError, match=re.escape(f"--out {path}: ") + f".*{kind}"):
                check_output_path(path, "--out")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and list(folder.iterdir()) == []
    assert temp_files(tmp_path) == []
    check_output_path(tmp_path / "absent.npz")  # absent or regular: fine
    with pytest.raises(ValueError, match=f"{re.escape(str(fifo))} is a FIFO.*, not a directory"):
        check_output_path(fifo / "x.npz")  # under something that is not a folder: refused


def test_check_output_dir(tmp_path, fifo):
    check_output_dir(tmp_path)
    check_output_dir(tmp_path / "new" / "deeper")
    (tmp_path / "file").write_text("x")
    for path, kind in ((fifo, "a FIFO"), (tmp_path / "file", "a regular file")):
        with pytest.raises(ValueError, match=re.escape(f"--out {path}: {kind}")):
            check_output_dir(path, "--out")


def test_check_input_path_refuses_all_but_regular_files_without_opening(tmp_path, fifo):
    """An input must exist and be a regular file (links followed): a FIFO, a directory, a
    device, a link to a FIFO are refused with their kind, nothing is opened (a FIFO would
    block), and a missing file or a dangling link is ``no such file``."""
    good = tmp_path / "good.json"
    good.write_text("{}")
    assert check_input_path(str(good), "--nmpu-config") == good
    folder, link = tmp_path / "folder", tmp_path / "link.json"
    folder.mkdir()
    link.symlink_to(fifo)
    cases = [(fifo, "a FIFO (named pipe)"), (link, "a FIFO (named pipe)")]
    cases += [(folder, "a directory"), (Path("/dev/null"), "a character device")]
    for path, kind in cases:
        with deadline(10), pytest.raises(NotRegularFile) as info:
            check_input_path(path, "--nmpu-config")
        assert str(info.value) == f"--nmpu-config {path}: {kind}, not a regular file"
        assert info.value.kind == kind and isinstance(info.value, ValueError)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "gone")
    for path in (tmp_path / "absent.json", dangling, good / "under_a_file"):
        with pytest.raises(FileNotFoundError, match=re.escape(f"{path}: no such file")):
            check_input_path(path)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_check_input_path_refuses_an_unreadable_file(tmp_path, monkeypatch):
    """Mode 000 refuses every user but root (who runs CI): the access check is the
    operating system's answer for this process, so it is asked as a user would see it."""
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root: answer as the kernel does for anyone else
        monkeypatch.setattr(os, "access", lambda p, mode: not mode & os.R_OK)
    with pytest.raises(PermissionError, match="--sar-config .*: not readable"):
        check_input_path(path, "--sar-config")


def test_numpy_and_figures_write_exactly_the_path_given(tmp_path):
    """Given the open temporary file, ``np.save`` appends no ``.npy``; a figure's format
    comes from the suffix."""
    write_with(tmp_path / "hw_out.bin", lambda fh: np.save(fh, np.arange(3)))
    assert sorted(os.listdir(tmp_path)) == ["hw_out.bin"]
    np.testing.assert_array_equal(np.load(tmp_path / "hw_out.bin"), np.arange(3))

    class Figure:
        def savefig(self, fh, format, dpi):
            self.format, self.dpi = format, dpi
            fh.write(b"image")

    fig = Figure()
    save_figure(fig, tmp_path / "plot.SVG", dpi=90)
    assert (fig.format, fig.dpi) == ("svg", 90) and (tmp_path / "plot.SVG").read_bytes() == b"image"


# ---------------------------------------------------------------------------- capture files
def test_capture_save_failing_mid_write_keeps_previous_capture(tmp_path, seed, monkeypatch):
    """A full disk while a capture is written: the previous capture still loads, unchanged."""
    path = capture.save(tmp_path / "c.npz", **_valid_kwargs(seed))
    before = path.read_bytes()

    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError, match="No space"):
        capture.save(path, **_valid_kwargs(seed + 1, vectors=9))
    assert path.read_bytes() == before and temp_files(tmp_path) == []
    capture.load(path)


def test_capture_save_under_file_size_limit_keeps_previous_capture(tmp_path, seed):
    """RLIMIT_FSIZE too small for the new capture (SIGXFSZ ignored, so the write fails with
    EFBIG): the save fails, the old capture is byte-identical and loads, no temp file."""
    path = capture.save(tmp_path / "c.npz", **_valid_kwargs(seed))
    before = path.read_bytes()
    limit = len(before) // 2  # the old file would not fit either
    code = textwrap.dedent(f"""
        import errno, resource, signal, sys
        from model.flow import capture
        from tests.test_capture import _valid_kwargs
        kw = _valid_kwargs({seed + 1}, vectors=64)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
        try:
            capture.save({str(path)!r}, **kw)
        except OSError as exc:
            print(errno.errorcode.get(exc.errno, exc.errno))
            sys.exit(3)
        print("written")
    """)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env=env, timeout=60)  # fmt: skip
    assert res.returncode == 3 and res.stdout.strip() == "EFBIG", res
    assert path.read_bytes() == before
    assert capture.load(path).vectors == 5
    assert temp_files(tmp_path) == []


def test_capture_save_refuses_a_directory(tmp_path, seed):
    folder = tmp_path / "c.npz"
    folder.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{folder}: a directory, not a regular file")):
        capture.save(folder, **_valid_kwargs(seed))
    assert list(folder.iterdir()) == [] and temp_files(tmp_path) == []


def test_mlp_cache_written_atomically_at_the_exact_path(tmp_path, monkeypatch):
    mlp = digits.MLP(np.ones((4, 3)), np.zeros(3), np.ones((3, 2)), np.zeros(2))
    path = tmp_path / "weights"  # no .npz: numpy would have written weights.npz
    mlp.save(path)
    assert sorted(os.listdir(tmp_path)) == ["weights"] and digits.MLP.load(path).hidden == 3
    before = path.read_bytes()

    def interrupted(fh, **arrays):
        fh.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mlp.save(path)
    assert path.read_bytes() == before and temp_files(tmp_path) == []


def test_verilog_writer_refuses_a_fifo_without_blocking(fifo):
    from hw.verilog import write_if_changed

    with deadline(10), pytest.raises(ValueError, match="FIFO"):
        write_if_changed(fifo, "module top; endmodule\n")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# ----------------------------------------------------------------------------- command lines
def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip


def assert_refused(res: subprocess.CompletedProcess, option: str, path: Path, kind: str) -> None:
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert f"{option} {path}" in lines[0] and kind in lines[0], lines[0]


@pytest.mark.parametrize(
    "tool, option",
    [
        (["tools.capture", "--simulator", "builtin", "--vectors", "8"], "--out"),
        (["tools.capture", "import", "missing_source.npz"], "--out"),  # before reading it
        (["tools.benchmark", "--repeats", "1"], "--out"),
        (["tools.adc_report"], "--out"),
        (["tools.adc_study", "--quick"], "--out"),
        (["tools.rtl"], "--out"),
        (["tools.ppa", "--lane-only"], "--out"),
        (["tools.network", "--no-rtl"], "--out"),
        (["tools.sim"], "--build-dir"),
    ],
    ids=lambda v: "-".join(v[:2]) if isinstance(v, list) else v,
)
def test_tool_refuses_a_fifo_at_once(tmp_path, fifo, tool, option):
    """A FIFO as the output file or folder: exit 2 within the timeout (not after the work,
    and not blocked on opening the FIFO), one line naming the option and the path, the
    FIFO untouched and nothing written."""
    res = run_tool(*tool, option, str(fifo))
    assert_refused(res, option, fifo, "FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["out.fifo"]


#: Every command line that reads a file a user names: (its main, argv with ``{in}`` for the
#: input and ``{out}`` for an output folder, what its one line says besides the path).
INPUTS = {
    "rtl_nmpu_config": (rtl_main, ["--out", "{out}", "--nmpu-config", "{in}"], "--nmpu-config"),
    "rtl_sar_config": (rtl_main, ["--out", "{out}", "--sar-config", "{in}"], "--sar-config"),
    "capture_import": (capture_main, ["import", "{in}", "--out", "{out}/c"], "import source"),
    "capture_mlp_cache": (capture_main, ["--out", "{out}/c", "--mlp-cache", "{in}"], "--mlp-cache"),
    "sim_capture": (sim_main, ["--capture", "{in}", "--build-dir", "{out}"], "capture"),
    "accuracy": (accuracy_main, ["{in}"], "capture"),
    "model_capture": (model_capture_main, ["{in}"], "capture"),
}


@pytest.mark.parametrize("kind", ["fifo", "directory"])
@pytest.mark.parametrize("case", list(INPUTS))
def test_tool_refuses_a_fifo_or_directory_as_input_at_once(tmp_path, capsys, case, kind):
    """A FIFO or a folder where a command reads a file: exit 2 at once (before the fix
    ``tools.rtl --nmpu-config FIFO`` blocked forever in the read, and captures and import
    sources said "empty file"), one line naming the path and what it is, nothing written."""
    main, argv, says = INPUTS[case]
    src = tmp_path / "input.json"
    os.mkfifo(src) if kind == "fifo" else src.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{in}", str(src)).replace("{out}", str(out)) for a in argv]
    with deadline(20):
        status = main(argv)
    _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    what = "a FIFO (named pipe)" if kind == "fifo" else "a directory"
    assert str(src) in err and what in err and says in err, err
    assert list(out.iterdir()) == []


def test_capture_tool_refuses_a_directory_for_its_file(tmp_path, capsys):
    folder = tmp_path / "c.npz"
    folder.mkdir()
    status = capture_main(["--vectors", "8", "--out", str(folder)])
    out, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1, out + err
    assert f"--out {folder}: a directory, not a regular file" in err
    assert list(folder.iterdir()) == [] and out == ""


def test_rtl_tool_refuses_a_file_for_its_folder(tmp_path, capsys):
    file = tmp_path / "rtl"
    file.write_text("mine")
    status = rtl_main(["--out", str(file)])
    out, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1, out + err
    assert f"--out {file}: a regular file, not a directory" in err
    assert file.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["rtl"]
