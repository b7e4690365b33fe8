"""Atomic file writes with ordinary permissions (private module, standard library only).

:func:`atomic_write` writes to a temporary file beside the destination and renames it into
place, so a failure (or Ctrl-C) never leaves a half-written file. The file gets the
permissions an ordinary ``open(path, "w")`` would give it: those of the file it replaces, or
``0o666`` minus the process umask for a new file (``tempfile.mkstemp`` alone would give
``0o600``). Every output of poselift (CLI, :func:`poselift.data.write_bvh`, exports) follows
this one rule.

:func:`write_all` writes several files all or nothing: every file is first written to its
temporary file, and only when all of them are complete are they renamed into place. Errors
name the destination the caller gave, never a temporary file.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "check_output", "new_file_mode", "write_all"]

_UMASK_LOCK = threading.Lock()


def new_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` gives a new file.

    Examples:
        >>> old = os.umask(0o022); mode = new_file_mode(); _ = os.umask(old)
        >>> oct(mode)
        '0o644'
    """
    with _UMASK_LOCK:  # reading the umask means setting it; keep other threads out meanwhile
        umask = os.umask(0o077)
        os.umask(umask)
    return 0o666 & ~umask


def check_output(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be written as a file, without writing anything.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        PermissionError: the directory is not writable, or ``path`` is an existing file that
            cannot be replaced (checked with :func:`os.access`; root may write anyway).

    Examples:
        >>> import tempfile
        >>> check_output(f"{tempfile.mkdtemp()}/missing/x.txt")   # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: .../missing/x.txt: the output directory '.../missing' does not exist
    """
    dest = Path(path)
    directory = dest.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{dest}: the output directory {str(directory)!r} does not "
                                "exist")
    if dest.is_dir():
        raise IsADirectoryError(f"{dest}: is a directory; expected a file name")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{dest}: the output directory {str(directory)!r} is not "
                              "writable")
    return dest


def write_all(files: Sequence[tuple[str | os.PathLike[str], Callable[[IO[bytes]], None]]]
              ) -> None:
    """Write several files atomically and all or nothing, with ordinary permissions.

    Each ``write(file)`` fills a temporary file beside its destination; when all are
    complete they are renamed into place. If a write fails (or is interrupted), every
    temporary file is removed and no destination has changed. (If a rename fails, which
    within one directory only a vanished directory can cause, the files already renamed are
    removed too.)

    Args:
        files: ``(path, write)`` pairs; every path is checked (:func:`check_output`) before
            anything is written.

    Raises:
        FileNotFoundError / IsADirectoryError / PermissionError: from :func:`check_output`.
        OSError: a failed write, naming the destination (not the temporary file).

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> write_all([(f"{d}/a.txt", lambda f: f.write(b"a")),
        ...            (f"{d}/b.txt", lambda f: f.write(b"b"))])
        >>> sorted(os.listdir(d))
        ['a.txt', 'b.txt']
        >>> def fail(f):
        ...     raise OSError("disk full")
        >>> write_all([(f"{d}/c.txt", lambda f: f.write(b"c")), (f"{d}/e.txt", fail)])
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        OSError: .../e.txt: disk full
        >>> sorted(os.listdir(d))                                  # nothing written
        ['a.txt', 'b.txt']
    """
    dests = [check_output(path) for path, _ in files]
    staged: list[tuple[str, Path]] = []
    renamed: list[Path] = []
    try:
        for dest, (_, write) in zip(dests, files, strict=True):
            try:
                mode = stat.S_IMODE(dest.stat().st_mode)  # keep the permissions we replace
            except OSError:
                mode = new_file_mode()
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp",
                                           dir=dest.parent)
            except OSError as e:
                raise OSError(e.errno, e.strerror, str(dest)) from None
            staged.append((tmp, dest))
            try:
                with os.fdopen(fd, "wb") as f:
                    write(f)
                os.chmod(tmp, mode)
            except OSError as e:
                if e.filename is not None and e.filename != tmp:
                    raise
                if e.errno is None:  # name the user's file, not the temporary one
                    raise OSError(f"{dest}: {e}") from None
                raise OSError(e.errno, e.strerror, str(dest)) from None
        for tmp, dest in staged:
            try:
                os.replace(tmp, dest)
            except OSError as e:
                raise OSError(e.errno, e.strerror, str(dest)) from None
            renamed.append(dest)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        for dest in renamed:
            dest.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` atomically, with ordinary permissions.

    Args:
        path: the destination file; its directory must exist.
        write: writes the content to the binary file object it is given.

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> atomic_write(f"{d}/x.txt", lambda f: f.write(b"hello"))
        >>> open(f"{d}/x.txt").read(), os.listdir(d)
        ('hello', ['x.txt'])
    """
    write_all([(path, write)])
