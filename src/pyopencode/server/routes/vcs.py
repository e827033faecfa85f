"""`/vcs`: the git branch, working-tree status, diff and `git apply`; a project's directories."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.file import status
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


@router.get("/vcs/status", operation_id="vcs.status", tags=["vcs"])
async def vcs_status(instance: CurrentInstance) -> Response:
    """Files changed against HEAD, untracked ones included, with line counts."""
    changed = await status.changes(instance.directory)
    return json_response(
        [
            {"file": c.file, "additions": c.additions, "deletions": c.deletions, "status": c.status}
            for c in changed
        ]
    )


@router.get("/vcs/diff", operation_id="vcs.diff", tags=["vcs"])
async def vcs_diff(
    instance: CurrentInstance,
    mode: Literal["git", "branch"],
    context: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> Response:
    """Each changed file's patch: against HEAD (`git`) or where HEAD left the default branch."""
    changed = await status.changes(instance.directory, mode, context, patches=True)
    return json_response(
        [
            {
                "file": c.file,
                "patch": c.patch or "",
                "additions": c.additions,
                "deletions": c.deletions,
                "status": c.status,
            }
            for c in changed
        ]
    )


@router.get("/vcs/diff/raw", operation_id="vcs.diff.raw", tags=["vcs"])
async def vcs_diff_raw(instance: CurrentInstance) -> Response:
    """The working tree's whole diff against HEAD, as `git diff` prints it."""
    return Response(await status.raw_diff(instance.directory), media_type="text/x-diff")


class ApplyInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    patch: str = Field(max_length=16 * 1024 * 1024)


@router.post("/vcs/apply", operation_id="vcs.apply", tags=["vcs"])
async def vcs_apply(instance: CurrentInstance, body: ApplyInput) -> Response:
    """`git apply` a patch to the working tree: all of it, or nothing when it does not apply."""
    try:
        await status.apply(instance.directory, body.patch)
    except status.ApplyError as exc:
        return json_response(
            {"name": "VcsApplyError", "data": {"message": exc.message, "reason": exc.reason}},
            400,
        )
    return json_response({"applied": True})
