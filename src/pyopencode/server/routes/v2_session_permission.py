"""`/api/session/{id}/permission` (v2): the session's pending permission requests and replies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from pyopencode.errors import NotFoundError
from pyopencode.server.json import json_response
from pyopencode.server.params import RequestID, SessionID
from pyopencode.server.routes.v2_errors import V2Route, not_available
from pyopencode.server.state import AppState, State
from pyopencode.session import v2
from pyopencode.vocab import Json

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)


class PermissionReply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reply: Literal["once", "always", "reject"]
    message: str | None = None


def _not_found(request_id: str) -> Response:
    return json_response(
        {
            "_tag": "PermissionNotFoundError",
            "requestID": request_id,
            "message": f"Permission request not found: {request_id}",
        },
        404,
    )


def _pending(state: State, session_id: str) -> list[Json]:
    if state.runner is None:
        return []
    requests = state.runner.permissions.requests()
    return [r for r in requests if r["sessionID"] == session_id]


@router.get("/session/{sessionID}/permission", operation_id="v2.session.permission.list")
async def list_permissions(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    data = [v2.permission_request(r) for r in _pending(state, sessionID)]
    return json_response({"data": data})


@router.post("/session/{sessionID}/permission", operation_id="v2.session.permission.create")
async def create_permission(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    # Requests come from the agent's tools here; clients cannot raise their own yet.
    return not_available("Client-created permission requests", "v2.session.permission.create")


@router.get("/session/{sessionID}/permission/{requestID}", operation_id="v2.session.permission.get")
async def get_permission(state: AppState, sessionID: SessionID, requestID: RequestID) -> Response:
    await state.sessions.get(sessionID)
    for request in _pending(state, sessionID):
        if request["id"] == requestID:
            return json_response({"data": v2.permission_request(request)})
    return _not_found(requestID)


@router.post(
    "/session/{sessionID}/permission/{requestID}/reply",
    operation_id="v2.session.permission.reply",
    status_code=204,
)
async def reply(
    state: AppState,
    sessionID: SessionID,
    requestID: RequestID,
    body: Annotated[PermissionReply, Body()],
) -> Response:
    await state.sessions.get(sessionID)
    if not any(r["id"] == requestID for r in _pending(state, sessionID)):
        return _not_found(requestID)
    try:
        state.agent_runner().permissions.reply(requestID, body.reply)
    except NotFoundError:
        return _not_found(requestID)
    return Response(status_code=204)
