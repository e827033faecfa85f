"""`POST|DELETE /session/{id}/share`: sharing is disabled on this server, and says so."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.state import app_state

router = APIRouter(tags=["session"], route_class=JsonRoute)

SessionID = Annotated[str, Path(pattern=r"^ses", max_length=128)]
DISABLED = (
    "Sharing is disabled on this server: pyopencode never uploads sessions to a share "
    'service (config `share` is "disabled").'
)


async def _refuse(request: Request, session_id: str) -> Response:
    await app_state(request).sessions.get(session_id)  # NotFoundError for an unknown one
    return json_response({"name": "BadRequest", "data": {"message": DISABLED}}, 400)


@router.post("/session/{sessionID}/share", operation_id="session.share")
async def share(request: Request, sessionID: SessionID) -> Response:
    return await _refuse(request, sessionID)


@router.delete("/session/{sessionID}/share", operation_id="session.unshare")
async def unshare(request: Request, sessionID: SessionID) -> Response:
    return await _refuse(request, sessionID)
