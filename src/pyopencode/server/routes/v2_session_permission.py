"""`/api/session/{id}/permission` (v2): evaluate and raise requests, list them, and reply."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import config, ids
from pyopencode.agent.agents import get_agent
from pyopencode.errors import NotFoundError
from pyopencode.permission.client import decide
from pyopencode.server.json import json_response
from pyopencode.server.params import RequestID, SessionID
from pyopencode.server.routes.v2_errors import V2Route
from pyopencode.server.state import AppState, State
from pyopencode.session import v2
from pyopencode.vocab import Json, Place

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


class PermissionSource(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["tool"]
    messageID: str = Field(max_length=128)
    callID: str = Field(max_length=256)


class PermissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str | None = Field(default=None, pattern=r"^per_[0-9A-Za-z]+$", max_length=128)
    action: str = Field(min_length=1, max_length=256)
    resources: list[str] = Field(max_length=256)
    save: list[str] | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None
    source: PermissionSource | None = None
    agent: str | None = None


def _pending(state: State, session_id: str) -> list[Json]:
    """The agent's requests waiting on this session, then those clients raised."""
    found: list[Json] = []
    if state.runner is not None:
        requests = state.runner.permissions.requests()
        found += [r for r in requests if r["sessionID"] == session_id]
    if state.client_permissions is not None:
        found += state.client_permissions.of_session(session_id)
    return found


@router.get("/session/{sessionID}/permission", operation_id="v2.session.permission.list")
async def list_permissions(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    data = [v2.permission_request(r) for r in _pending(state, sessionID)]
    return json_response({"data": data})


@router.post("/session/{sessionID}/permission", operation_id="v2.session.permission.create")
async def create_permission(
    state: AppState, sessionID: SessionID, body: Annotated[PermissionCreate, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    cfg = await asyncio.to_thread(config.load, session["directory"])
    name = body.agent or session.get("agent") or cfg.get("default_agent") or "build"
    granted = state.agent_runner().permissions.approved.get(sessionID, [])
    # The rules the agent's own tools are held to: the agent's, the session's, then grants.
    rules = get_agent(cfg, name).permission + list(session.get("permission") or []) + granted
    effect = decide(rules, body.action, body.resources)
    request_id = body.id or ids.ascending("per")
    if effect == "ask":
        request: Json = {
            "id": request_id,
            "sessionID": sessionID,
            "permission": body.action,
            "patterns": body.resources,
            "metadata": body.metadata or {},
            "always": body.save if body.save is not None else body.resources,
        }
        if body.source is not None:
            request["tool"] = {"messageID": body.source.messageID, "callID": body.source.callID}
        state.permission_requests().open(request, Place.of(session))
    return json_response({"data": {"id": request_id, "effect": effect}})


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
    permissions = state.agent_runner().permissions
    clients = state.client_permissions
    if clients is not None and clients.reply(requestID, body.reply, permissions.approved):
        return Response(status_code=204)
    try:
        permissions.reply(requestID, body.reply)
    except NotFoundError:
        return _not_found(requestID)
    return Response(status_code=204)
