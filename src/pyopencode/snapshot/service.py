"""Where a server keeps its shadow repositories, and the one for a session's project."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pyopencode.file.git import CommandTimeout
from pyopencode.snapshot.shadow import Patch, ShadowRepo, SnapshotError

log = logging.getLogger("pyopencode.snapshot")
_data_dir: Path | None = None


def configure(data_dir: Path) -> None:
    """Called once at start-up: snapshots live under `data_dir/snapshot`."""
    global _data_dir
    _data_dir = data_dir


def shadow_for(project_id: str, worktree: str) -> ShadowRepo | None:
    """The project's shadow repository; None outside git (upstream snapshots git projects
    only) or before `configure`."""
    if _data_dir is None or project_id == "global" or worktree in ("", "/"):
        return None
    return ShadowRepo(_data_dir, project_id, worktree)


async def track(shadow: ShadowRepo | None) -> str | None:
    """A snapshot for an agent step; a failure is logged, never fails the prompt."""
    if shadow is None:
        return None
    try:
        return await shadow.track()
    except (SnapshotError, CommandTimeout, OSError) as exc:
        log.warning("snapshot of %s failed: %s", shadow.worktree, exc)
        return None


async def patch(shadow: ShadowRepo | None, since: str | None) -> tuple[Patch, str] | None:
    """What changed since `since`, and the snapshot taken to see it; None on failure."""
    if shadow is None or since is None:
        return None
    try:
        return await shadow.patch(since)
    except (SnapshotError, CommandTimeout, OSError) as exc:
        log.warning("snapshot patch of %s failed: %s", shadow.worktree, exc)
        return None


async def diff(shadow: ShadowRepo | None, start: str | None, end: str | None) -> list[Any] | None:
    """A turn's file diffs (SnapshotFileDiff), or None when there is nothing to report."""
    if shadow is None or start is None or end is None:
        return None
    try:
        return await shadow.diff(start, end)
    except (SnapshotError, CommandTimeout, OSError) as exc:
        log.warning("snapshot diff of %s failed: %s", shadow.worktree, exc)
        return None
