"""Writing files so that a failure never leaves half of one, and one writer per output folder.

Every result file goes to a temporary file in the same folder first and is renamed over the old
one only once complete: a full disk, a kill or Ctrl-C leaves the previous complete file (or
none), never a truncated one. :class:`StagedFiles` does the same for a set of files that belong
together (an evaluation's predictions, details and results): all are written before any is
renamed into place.

:class:`OutputLock` is an exclusive ``flock`` on ``<folder>/.personalize.lock``. The kernel drops
it when the process ends, however it ends, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

from personalize.errors import ConfigError, PersonalizeError

LOCK_FILE = ".personalize.lock"


class OutputError(PersonalizeError):
    """A file or folder that cannot be written (full disk, read-only, not a folder)."""


def describe_os_error(exc: OSError, action: str = "write") -> str:
    """One line for an ``OSError``: what failed, where, and what the user can do about it."""
    where = exc.filename or "?"
    reason = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "the disk is full; free some space or choose another folder",
        errno.EDQUOT: "the disk quota is exhausted; free some space or choose another folder",
        errno.EROFS: "the file system is read-only; choose another folder",
        errno.EACCES: "no permission; choose a folder you can write to",
        errno.EPERM: "no permission; choose a folder you can write to",
        errno.ENOTDIR: "a file stands where a folder is needed",
        errno.EISDIR: "a folder stands where a file is needed",
    }.get(exc.errno or 0)
    return f"cannot {action} {where}: {reason}" + (f" ({hint})" if hint else "")


def encode_text(text: str, where: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (which no UTF-8 file can hold) is a one-line error."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PersonalizeError(f"{where}: text holds {exc.object[exc.start:exc.end]!r}, which cannot be written "
                               "as UTF-8 (a lone surrogate); clean the input") from None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_all(fh: Any, data: bytes) -> None:
    fh.write(data)  # one seam, so that tests can simulate a full disk without root


def _write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file beside ``path`` (flushed to disk); removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make results private to their writer
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, data)
            fh.flush()
            # A delayed ENOSPC (a file system that allocates on flush) must surface here, before
            # the rename, not later as a silently empty file.
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` in one rename; on any failure the old file stays as it was."""
    path = Path(path)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, encode_text(text, str(path)))


def json_text(data: Any, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json_text(data, indent))


class StagedFiles:
    """Files that belong together: each ``add`` writes a complete temporary file; ``commit``
    renames them all into place (renames need no space, so a full disk fails before any old
    file is touched). Leaving the ``staged`` block by an exception removes the temporary files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._staged: list[tuple[Path, Path]] = []

    def add_text(self, name: str, text: str) -> None:
        target = self.folder / name
        self._staged.append((_write_temp(target, encode_text(text, str(target))), target))

    def commit(self) -> None:
        for tmp, target in self._staged:
            os.replace(tmp, target)
        self._staged = []
        _fsync_dir(self.folder)

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []


@contextlib.contextmanager
def staged(folder: str | Path) -> Iterator[StagedFiles]:
    """``with staged(out) as files: files.add_text(...)``: all files land together or none do."""
    files = StagedFiles(Path(folder))
    try:
        yield files
        files.commit()
    finally:
        files.discard()


def ensure_writable_dir(path: str | Path, option: str = "--out") -> Path:
    """Create folder ``path`` if needed and prove a file can be written in it, before any work
    runs: otherwise a read-only or full output folder is found only after the run, and its
    results are lost."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as exc:
        raise OutputError(f"{option} {path} is not writable: " + describe_os_error(exc)) from None
    return path


def _probe(folder: Path) -> None:
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
    try:
        os.write(fd, b"x")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)


class OutputLock:
    """An exclusive, non-blocking lock on one output folder for the life of a run.

    A second process that tries the same folder fails at once with a one-line error instead of
    writing into the first one's files. Within one process the lock is re-entrant (the CLI and
    the library may both take it for the same run).
    """

    _held: ClassVar[dict[str, tuple[int, int]]] = {}  # folder -> (fd, depth), this process's locks

    def __init__(self, folder: str | Path, what: str = "--out") -> None:
        self.folder = Path(folder)
        self.what = what
        self._key = ""

    def acquire(self) -> Self:
        import fcntl

        ensure_writable_dir(self.folder, self.what)
        self._key = str(self.folder.resolve())
        if self._key in self._held:
            fd, depth = self._held[self._key]
            self._held[self._key] = (fd, depth + 1)
            return self
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, "create the lock file")) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputError(f"{self.what} {self.folder} is in use by another personalize run{holder}; "
                              "wait for it to finish or choose another folder") from None
        except OSError:
            os.close(fd)  # a file system without flock: run unlocked rather than not at all
            return self
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._held[self._key] = (fd, 1)
        return self

    def release(self) -> None:
        entry = self._held.get(self._key)
        if entry is None:
            return
        fd, depth = entry
        if depth > 1:
            self._held[self._key] = (fd, depth - 1)
            return
        del self._held[self._key]
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def cache_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block, waiting
    for another process that holds it.

    For shared caches under ``$PERSONALIZE_HOME`` (a converted model, a user's FAISS index):
    whoever writes or reads a group of files that must match holds it, so two processes never
    interleave their writes. Where the file system has no ``flock`` the block runs unlocked.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (process {pid})"
    return ""


__all__ = [
    "LOCK_FILE", "OutputError", "OutputLock", "StagedFiles", "atomic_write_bytes", "atomic_write_json", "cache_lock",
    "atomic_write_text", "describe_os_error", "encode_text", "ensure_writable_dir", "json_text", "staged",
]
