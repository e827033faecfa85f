"""One server per SQLite data directory: a lock file holding the owner's PID and port."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = "pyopencode.lock"


class DataDirInUse(Exception):
    """Another live server holds the data directory."""


class DataDirLock:
    """An exclusive `flock` on `<data dir>/pyopencode.lock`, held for the process's life.

    The kernel drops the lock when its holder dies however it dies, so a lock file left by a
    dead server (kill -9, power loss) is simply taken over; the PID and URL written into it
    only serve to name the holder in the refusal.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.path.parent} is in use by another pyopencode"
                f" server ({holder}). Two servers on one SQLite database would each miss the"
                " other's events and caches. Stop that server, pass another --data-dir, or run"
                " many instances on one PostgreSQL database with --database postgresql://..."
            ) from None
        self._fd = fd
        self.record(None)

    def record(self, url: str | None) -> None:
        """Write our PID (and, once listening, our URL) for the next server's message."""
        if self._fd is None:
            return
        text = f"pid {os.getpid()}" + (f" listening on {url}" if url else "") + "\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None


def _read(fd: int) -> str:
    try:
        text = os.pread(fd, 512, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "PID unknown"
