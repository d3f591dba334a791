"""Writing output files safely: the one way the project writes a file.

Every writer (captures, reports, plots, Verilog, result arrays) goes through
:func:`atomic_write`: the data goes to a temporary file beside the target
(``.<name>.tmp-<random>``), is flushed and fsynced, and replaces the target with one
``os.replace``. A write that fails half-way (a full disk, a file-size limit, an
exception, Ctrl-C) removes the temporary file and leaves the previous file as it was;
readers never see a half-written file. A target that exists and is not a regular file
(a directory, FIFO, device or socket) is refused with a ``ValueError`` naming it, found
with ``os.stat`` and never opened: opening a FIFO for writing blocks until someone reads.
A symbolic link is followed: the file it points to is replaced, the link stays.

Command lines call :func:`check_output_path` / :func:`check_output_dir` on their
output options before any long work starts.

Reading is guarded the same way: every file a user names (config files, captures, import
sources, the trained-weights cache) passes :func:`check_input_path` before it is opened. It
must exist and be a regular file, found with ``os.stat`` (links followed), never opened:
opening a FIFO for reading blocks until someone writes, and a device may never end.

Standard library only, so that every layer may use it (``tests/test_layout.py`` ranks it
at the bottom, beside ``model.golden``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_MARK",
    "NotRegularFile",
    "atomic_write",
    "check_input_path",
    "check_output_dir",
    "check_output_path",
    "file_kind",
    "save_figure",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_with",
]

#: What a temporary file's name holds after its target's name: ``.<name>.tmp-<hex>``.
TEMP_MARK = ".tmp-"


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, in words (``"a FIFO (named pipe)"``, ...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _stat(path: Path) -> os.stat_result | None:
    """``os.stat`` (links followed), or None when nothing is there (a dangling link, a
    path under a file included)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _named(path, what: str | None) -> str:
    return f"{what} {path}" if what else str(path)


def _check_ancestors(path: Path, what: str | None) -> None:
    """The nearest existing folder above ``path`` must be a directory (else creating the
    output would fail, but only after the work)."""
    for parent in path.absolute().parents:
        st = _stat(parent)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise ValueError(
                    f"{_named(path, what)}: {parent} is {file_kind(st.st_mode)}, not a directory"
                )
            return


class NotRegularFile(ValueError):
    """An input path that exists and is not a regular file (:func:`check_input_path`);
    ``kind`` says what it is (``"a FIFO (named pipe)"``, :func:`file_kind`)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def check_input_path(path, what: str | None = None) -> Path:
    """Refuse an input file path that is not an existing, readable regular file; returns it as
    a ``Path``. Checked with ``os.stat`` (links followed); nothing is opened.

    * nothing there (a dangling link, a path under a file included): ``FileNotFoundError``,
      message ``"[<what> ]<path>: no such file"``;
    * a directory, FIFO, device or socket: :class:`NotRegularFile` (a ``ValueError``), message
      ``"[<what> ]<path>: <kind>, not a regular file"``;
    * a regular file the process may not read: ``PermissionError``, message
      ``"[<what> ]<path>: not readable (permission denied)"``.

    ``what`` names the option or role in the message (``"--nmpu-config"``).
    """
    path = Path(path)
    st = _stat(path)
    if st is None:
        raise FileNotFoundError(f"{_named(path, what)}: no such file")
    if not stat.S_ISREG(st.st_mode):
        kind = file_kind(st.st_mode)
        raise NotRegularFile(f"{_named(path, what)}: {kind}, not a regular file", kind)
    if not os.access(path, os.R_OK):  # as open() would refuse it
        raise PermissionError(f"{_named(path, what)}: not readable (permission denied)")
    return path


def check_output_path(path, what: str | None = None) -> Path:
    """Refuse an output file path that cannot take a regular file; returns it as a ``Path``.

    ``ValueError`` (message ``"[<what> ]<path>: <kind>, not a regular file"``) when
    ``path`` exists and is a directory, FIFO, device or socket, or when the nearest
    existing folder above it is not a directory. Nothing is opened or created. ``what``
    names the option or role in the message (``"--out"``).
    """
    path = Path(path)
    st = _stat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{_named(path, what)}: {file_kind(st.st_mode)}, not a regular file")
    _check_ancestors(path, what)
    return path


def check_output_dir(path, what: str | None = None) -> Path:
    """Refuse an output folder path that exists and is not a directory (or lies under
    something that is not one); returns it as a ``Path``. Nothing is created."""
    path = Path(path)
    st = _stat(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{_named(path, what)}: {file_kind(st.st_mode)}, not a directory")
    _check_ancestors(path, what)
    return path


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create ``.<name>.tmp-<hex>`` beside ``target`` exclusively; (fd, path). Its
    permissions are ``open()``'s for a new file: ``0o666`` less the umask (and the
    folder's default ACL), applied by the kernel, unlike ``mkstemp``'s ``0o600``."""
    stem = "." + target.name[:200] + TEMP_MARK
    for _ in range(100):
        tmp = target.with_name(stem + os.urandom(4).hex())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target))


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every file system lets a folder sync)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path, mode: str = "wb", *, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``path`` when the block ends.

    ``mode``: ``"wb"`` (binary) or ``"w"`` (text, ``encoding``, ``newline``). On leaving
    the block the file is flushed, fsynced, given the permissions of the file it replaces
    (a new file: ``0o666`` less the umask, as ``open()`` gives) and renamed onto ``path``
    (a symbolic link's target when ``path`` is a link). On any exception, ``KeyboardInterrupt``
    and a full disk's ``OSError`` included, the temporary file is removed, ``path`` is left
    as it was, and the exception propagates. Before anything is created: ``ValueError`` if
    ``path`` exists and is not a regular file, ``PermissionError`` if it exists and is not
    writable (as ``open()`` would raise). The folder must exist.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', not {mode!r}")
    check_output_path(path)
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if _stat(target) is not None and not os.access(target, os.W_OK):  # as open() would
        raise PermissionError(errno.EACCES, "Permission denied (read-only file)", str(path))
    fd, tmp = _create_temp(target)
    try:
        kwargs = {"encoding": encoding, "newline": newline} if mode == "w" else {}
        try:
            fh = os.fdopen(fd, mode, **kwargs)
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        st = _stat(target)
        if st is not None and not stat.S_ISREG(st.st_mode):  # appeared while writing
            raise ValueError(f"{path}: {file_kind(st.st_mode)}, not a regular file")
        if st is not None:  # keep the replaced file's permissions
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def write_with(path, writer: Callable[[IO[Any]], Any], mode: str = "wb") -> Path:
    """``writer(fh)`` into :func:`atomic_write` ``(path, mode)``; returns ``Path(path)``.

    For libraries that take an open file: ``write_with(p, lambda fh: np.save(fh, a))``
    (given a file object, ``np.save``/``np.savez`` write exactly there and do not append
    ``.npy``/``.npz`` to the name).
    """
    with atomic_write(path, mode) as fh:
        writer(fh)
    return Path(path)


def write_text_atomic(path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_write`; returns ``Path(path)``."""
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_write`; returns ``Path(path)``."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def save_figure(fig, path, **kwargs) -> Path:
    """``fig.savefig`` (a matplotlib figure) through :func:`atomic_write`, the format taken
    from the suffix of ``path`` (``.png``, ``.svg``, ``.pdf``, ...; ``png`` without one);
    ``kwargs`` go to ``savefig`` (``dpi``). Returns ``Path(path)``."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **kwargs)
    return Path(path)
