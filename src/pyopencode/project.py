"""Projects: a directory's project id is its git root commit, or `global` outside git."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyopencode.vocab import now_ms


@dataclass(frozen=True, slots=True)
class Instance:
    """What a request works on: the directory it named and the project that holds it."""

    directory: str
    project_id: str
    worktree: str
    vcs: str | None

    @property
    def path(self) -> str:
        """The directory relative to the worktree, `""` at the root (as upstream reports it)."""
        if self.worktree in ("/", "") or self.directory == self.worktree:
            return ""
        rel = os.path.relpath(self.directory, self.worktree)
        return "" if rel.startswith("..") else rel

    def project_json(self) -> dict[str, Any]:
        now = now_ms()
        project: dict[str, Any] = {"id": self.project_id, "worktree": self.worktree}
        if self.vcs is not None:
            project["vcs"] = self.vcs
        project["time"] = {"created": now, "updated": now}
        project["sandboxes"] = []
        return project


def _git(directory: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def detect(directory: str) -> Instance:
    """Resolve `directory` to its project. Runs git, so callers cache the result."""
    if not Path(directory).is_dir():
        return Instance(directory=directory, project_id="global", worktree="/", vcs=None)
    toplevel = _git(directory, "rev-parse", "--show-toplevel")
    if toplevel is None:
        return Instance(directory=directory, project_id="global", worktree="/", vcs=None)
    roots = _git(directory, "rev-list", "--max-parents=0", "--all")
    root_commits = sorted(roots.split()) if roots else []
    project_id = root_commits[0] if root_commits else "global"
    return Instance(directory=directory, project_id=project_id, worktree=toplevel, vcs="git")
