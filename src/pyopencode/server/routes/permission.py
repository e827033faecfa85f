"""`GET /permission` and `POST /permission/{requestID}/reply`: questions the agent waits on."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from pyopencode.errors import NotFoundError
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.params import RequestID
from pyopencode.server.state import AppState

router = APIRouter(tags=["permission"], route_class=JsonRoute)


class PermissionReply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reply: Literal["once", "always", "reject"]
    message: str | None = None


@router.get("/permission", operation_id="permission.list")
async def list_permissions(state: AppState) -> Response:
    return json_response(state.agent_runner().permissions.requests())


@router.post("/permission/{requestID}/reply", operation_id="permission.reply")
async def reply(
    state: AppState,
    requestID: RequestID,
    body: Annotated[PermissionReply, Body()],
) -> Response:
    try:
        state.agent_runner().permissions.reply(requestID, body.reply)
    except NotFoundError as exc:
        return json_response(
            {"_tag": "PermissionNotFoundError", "requestID": requestID, "message": exc.message},
            404,
        )
    return true_response()


class PermissionResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    response: Literal["once", "always", "reject"]


@router.post(
    "/session/{sessionID}/permissions/{permissionID}",
    operation_id="permission.respond",
    tags=["session"],
    deprecated=True,
    description="The older form of POST /permission/{requestID}/reply; the request must "
    "belong to the session named.",
)
async def respond(
    state: AppState,
    sessionID: Annotated[str, Path(pattern="^ses", max_length=128)],
    permissionID: Annotated[str, Path(pattern="^per", max_length=128)],
    body: Annotated[PermissionResponse, Body()],
) -> Response:
    permissions = state.agent_runner().permissions
    pending = [r for r in permissions.requests() if r["id"] == permissionID]
    if not pending or pending[0]["sessionID"] != sessionID:
        return json_response(
            {
                "_tag": "PermissionNotFoundError",
                "requestID": permissionID,
                "message": f"Permission request not found: {permissionID}",
            },
            404,
        )
    try:
        permissions.reply(permissionID, body.response)
    except NotFoundError as exc:
        return json_response(
            {"_tag": "PermissionNotFoundError", "requestID": permissionID, "message": exc.message},
            404,
        )
    return true_response()
