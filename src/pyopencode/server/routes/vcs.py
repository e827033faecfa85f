"""`GET /vcs` and a project's directories: the git branch and worktree a client works in."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Annotated

import orjson
from fastapi import APIRouter, Path
from starlette.responses import Response

from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.state import AppState

router = APIRouter(route_class=JsonRoute)


def _git(directory: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def _default_branch(directory: str) -> str | None:
    remote_head = _git(directory, "symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    if remote_head is not None:
        return remote_head.removeprefix("origin/")
    for name in ("main", "master"):
        if _git(directory, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"):
            return name
    return None


def _vcs(directory: str) -> dict[str, str]:
    info: dict[str, str] = {}
    branch = _git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    # "HEAD" means detached: there is no branch to report.
    if branch is not None and branch != "HEAD":
        info["branch"] = branch
    default = _default_branch(directory)
    if default is not None:
        info["default_branch"] = default
    return info


@router.get("/vcs", operation_id="vcs.get", tags=["vcs"])
async def vcs(instance: CurrentInstance) -> Response:
    if instance.vcs != "git":
        return json_response({})
    return json_response(await asyncio.to_thread(_vcs, instance.directory))


@router.get(
    "/project/{projectID}/directories", operation_id="project.directories", tags=["project"]
)
async def project_directories(
    state: AppState,
    instance: CurrentInstance,
    project_id: Annotated[str, Path(alias="projectID", max_length=256)],
) -> Response:
    """The project's worktree; `global` (no git) and unknown projects have none."""
    if project_id == "global":
        return json_response([])
    projects = orjson.loads(await state.sessions.projects())
    for project in projects:
        if project.get("id") == project_id:
            return json_response([{"directory": project["worktree"]}])
    return json_response([])
