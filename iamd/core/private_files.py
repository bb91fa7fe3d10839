"""Files only iamd's own user may read: the data directory (0700) and what iamd writes in it (0600).

The modes are set explicitly, so a permissive umask (022, 002) never widens them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("iamd")

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700; warn when an existing one is open to others."""
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
        return
    _warn_if_shared(path, "chmod 700")


def touch_private(path: Path) -> None:
    """Create ``path`` empty as 0600 unless it exists (an existing file keeps its mode, with a warning)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _warn_if_shared(path, "chmod 600")
        return
    os.fchmod(fd, FILE_MODE)
    os.close(fd)


def open_private(path: Path) -> int:
    """Open (creating as 0600 if needed) ``path`` for reading and writing; returns the descriptor."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(PermissionError):  # not ours: leave its mode to its owner
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    return fd


def create_private_file(path: Path, data: bytes) -> bool:
    """Write ``path`` (0600) with ``data`` atomically, only if it does not exist.

    Returns False when the file already existed (someone else created it first).  Readers never
    see a partly written file: the data goes to a temporary file that is then hard-linked in place.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def _warn_if_shared(path: Path, fix: str) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o): %s %s", path, mode, fix, path)
