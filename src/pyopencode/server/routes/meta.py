"""Health, paths and projects: what the server is and where it works."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from pyopencode import __version__
from pyopencode.model import session as m
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, raw_json
from pyopencode.server.state import AppState, app_state

router = APIRouter(route_class=JsonRoute)


STORE_HEALTH_HEADER = "x-pyopencode-store"


@router.get(
    "/global/health",
    operation_id="global.health",
    tags=["global"],
    response_model=m.Health,
    description="Answers from memory, never waiting on storage. The `x-pyopencode-store`"
    " header tells what the last write found: `ok`, `full` (disk full: writes get 507, deletes"
    " still work) or `unavailable` (locked or stalled: writes get 503).",
)
async def health(request: Request) -> Response:
    state = app_state(request)
    body = m.Health(healthy=True, version=__version__).model_dump()
    response = json_response(body)
    response.headers[STORE_HEALTH_HEADER] = state.sessions.health
    return response


# Load balancers and uptime probes often send HEAD; upstream's schema lists GET only.
@router.head("/global/health", include_in_schema=False)
async def health_head() -> m.Health:
    return m.Health(healthy=True, version=__version__)


@router.get("/path", operation_id="path.get", tags=["path"], response_model=m.PathInfo)
async def get_path(instance: CurrentInstance) -> Response:
    home = str(Path.home())
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return json_response(
        {
            "home": home,
            "state": os.path.join(state_home, "opencode"),
            "config": os.path.join(config_home, "opencode"),
            "worktree": instance.worktree if instance.vcs else instance.directory,
            "directory": instance.directory,
        }
    )


@router.get(
    "/project", operation_id="project.list", tags=["project"], response_model=list[m.Project]
)
async def list_projects(state: AppState, instance: CurrentInstance) -> Response:
    return raw_json(await state.sessions.projects())


@router.get(
    "/project/current", operation_id="project.current", tags=["project"], response_model=m.Project
)
async def current_project(state: AppState, instance: CurrentInstance) -> Response:
    return json_response(await state.sessions.ensure_project(instance.project_json()))
