"""`/project` writes: `PATCH /project/{id}` (name, icon, commands) and `POST /project/git/init`."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Annotated

from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from pyopencode.errors import BadRequestError
from pyopencode.model import session as m
from pyopencode.server.instance import CurrentInstance, resolve
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.params import MAX_ID
from pyopencode.server.state import AppState

router = APIRouter(tags=["project"], route_class=JsonRoute)


def _git_init(directory: str) -> None:
    if not os.path.isdir(directory):
        raise BadRequestError(f"directory: not a directory: {directory}", kind="Query")
    try:
        done = subprocess.run(
            ["git", "init", "--quiet"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BadRequestError(f"git init failed: {exc}") from exc
    if done.returncode != 0:
        raise BadRequestError(f"git init failed: {done.stderr.strip()[:500]}")


@router.post(
    "/project/git/init",
    operation_id="project.initGit",
    description="Runs `git init` in the directory unless it is already in a repository. The "
    "project id stays `global` until the repository has a first commit.",
)
async def git_init(state: AppState, instance: CurrentInstance) -> Response:
    if instance.vcs is None:
        await asyncio.to_thread(_git_init, instance.directory)
        state.instances.pop(os.path.normpath(instance.directory), None)
        instance = await resolve(state, instance.directory)
    return json_response(await state.sessions.ensure_project(instance.project_json()))


@router.patch(
    "/project/{projectID}",
    operation_id="project.update",
    response_model=m.Project,
    responses={404: {"model": m.ProjectNotFound}},
    description="Update project properties such as name, icon, and commands.",
)
async def update_project(
    state: AppState,
    instance: CurrentInstance,
    projectID: Annotated[str, Path(max_length=MAX_ID)],
    body: Annotated[m.ProjectUpdate, Body()],
) -> Response:
    patch = body.model_dump(exclude_none=True)
    return json_response(await state.sessions.update_project(projectID, patch))
