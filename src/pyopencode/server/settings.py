"""Server settings, fixed at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/pyopencode`, falling back to `~/.local/share/pyopencode`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pyopencode"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    # Bodies this large are refused with 413 before they are read into memory.
    max_body_bytes: int = 16 * 1024 * 1024
    heartbeat_seconds: float = 10.0
    # Per-subscriber event backlog; a subscriber that falls this far behind is disconnected.
    sse_queue_size: int = 10_000
    # The same backlog in bytes of encoded events; over it the subscriber gets `server.resync`
    # and is dropped.
    sse_queue_bytes: int = 16 * 1024 * 1024
    # Recent events kept for Last-Event-ID resume; an older id gets a `server.resync` event.
    event_buffer_size: int = 1000
    # The replay ring is also capped in bytes of encoded events; the oldest go first.
    event_buffer_bytes: int = 32 * 1024 * 1024
    cwd: str = field(default_factory=os.getcwd)
    # HTTP Basic credentials; no password means no authentication (loopback only, see cli).
    username: str = "opencode"
    password: str | None = None
    # Browser origins allowed to call us, matched exactly; empty means no CORS headers at all.
    cors_origins: tuple[str, ...] = ()
    # Longer request lines are refused with 414 before routing.
    max_path_bytes: int = 4096
    max_query_bytes: int = 8192
    # A request body that has not fully arrived after this many seconds gets 408.
    body_timeout_seconds: float = 30.0
    access_log: bool = False
    # A write not committed within this many seconds gets 503 (its outcome unknown).
    write_timeout_seconds: float = 30.0
    # Bound to loopback: refuse a Host header that is not loopback or one of `allowed_hosts`
    # (DNS rebinding).
    check_host: bool = False
    allowed_hosts: tuple[str, ...] = ()
    # Serve create/get/delete of a session ahead of FastAPI routing (server/hot.py). Off only
    # to compare the two paths (PYOPENCODE_HOT_ROUTES=0); answers are the same either way.
    hot_routes: bool = True
    # Mark fast-path answers with a header (PYOPENCODE_HOT_TRACE=1), so tests can prove it served.
    hot_trace: bool = False

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:{self.data_dir / 'pyopencode.db'}"
