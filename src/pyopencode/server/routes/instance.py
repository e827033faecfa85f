"""`/instance/dispose` and `/global/dispose`: let go of what a directory (or everything) holds."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from starlette.responses import Response

from pyopencode.bus import Event
from pyopencode.pty import Terminals
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, true_response
from pyopencode.server.state import AppState

router = APIRouter(route_class=JsonRoute)

_DISPOSE = (
    "Kills the directory's terminals (their whole process groups) and forgets the cached "
    "project of the directory, so the next request detects it afresh. Stored sessions stay."
)


@router.post(
    "/instance/dispose", operation_id="instance.dispose", tags=["instance"], description=_DISPOSE
)
async def dispose_instance(
    request: Request, state: AppState, instance: CurrentInstance
) -> Response:
    terminals: Terminals = request.app.state.terminals
    await terminals.dispose(instance.directory)
    state.instances.pop(os.path.normpath(instance.directory), None)
    event = Event(
        "server.instance.disposed",
        {"directory": instance.directory},
        directory=instance.directory,
        project=instance.project_id,
    )
    state.bus.publish([event])
    return true_response()


@router.post(
    "/global/dispose",
    operation_id="global.dispose",
    tags=["global"],
    description="Disposes every instance: all terminals are killed and every cached project "
    "is forgotten. Stored sessions stay.",
)
async def dispose_global(request: Request, state: AppState) -> Response:
    terminals: Terminals = request.app.state.terminals
    await terminals.dispose()
    state.instances.clear()
    state.bus.publish([Event("global.disposed", {})])
    return true_response()
