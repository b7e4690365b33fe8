"""Atomic file writes with ordinary permissions (private module, standard library only).

:func:`atomic_write` writes to a temporary file beside the destination and renames it into
place, so a failure (or Ctrl-C) never leaves a half-written file. The file gets the
permissions an ordinary ``open(path, "w")`` would give it: those of the file it replaces, or
``0o666`` minus the process umask for a new file (``tempfile.mkstemp`` alone would give
``0o600``).
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "new_file_mode"]

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
    dest = Path(path)
    directory = dest.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{dest}: the output directory {str(directory)!r} does not "
                                "exist")
    if dest.is_dir():
        raise IsADirectoryError(f"{dest}: is a directory; expected a file name")
    try:
        mode = stat.S_IMODE(dest.stat().st_mode)  # keep the permissions of what we replace
    except OSError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
