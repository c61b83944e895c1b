"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's umask.  os.umask can only be read by setting it, so we set it back
    at once; a file another thread creates in between would get mode 0o644."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> Path:
    """Call ``write(f)`` on a binary temporary file beside ``path``, then rename it over ``path``.

    ``os.replace`` is atomic on one file system: readers see the old file or the new
    one, never a mixture, and if ``write`` fails the old file is untouched and the
    temporary file is removed.

    The file ends with the mode any other new file would get, ``0o666 & ~umask``
    (usually -rw-r--r--), or, when it replaces a file, that file's mode.  (The temporary
    file is created private, 0o600, so nobody reads it half-written.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_writable(folder) -> Path:
    """Create ``folder`` if needed and make sure a file can be written in it, so that a
    long run fails at its start, not after its first hour.  Raises OSError saying so."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"cannot write to {folder} ({exc.strerror or exc}); choose a folder you can write to") from exc
    return folder
