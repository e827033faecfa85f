"""`/session/{id}/diff`, `/revert` and `/unrevert`: what a session changed in the workspace,
and undoing it (snapshot/)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.errors import NotFoundError, SessionBusyError
from pyopencode.model import session as m
from pyopencode.model.message import SnapshotFileDiff
from pyopencode.server.instance import resolve
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.params import MessageQuery, SessionID
from pyopencode.server.routes.session import NOT_FOUND
from pyopencode.server.state import AppState, State
from pyopencode.snapshot import revert as workspace
from pyopencode.snapshot import service as snapshots
from pyopencode.snapshot.shadow import ShadowRepo

router = APIRouter(tags=["session"], route_class=JsonRoute)


class RevertInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    messageID: str = Field(pattern=r"^msg", max_length=128)
    partID: str | None = Field(default=None, pattern=r"^prt", max_length=128)


async def _shadow(state: State, session_id: str) -> ShadowRepo | None:
    info = await state.sessions.get(session_id)
    instance = await resolve(state, info["directory"])
    return snapshots.shadow_for(instance.project_id, instance.worktree)


def _idle(state: State, session_id: str) -> None:
    """Files are only restored while no prompt runs: never a half-restored tree."""
    runner = state.runner
    if session_id in state.status or (runner is not None and runner.owns(session_id)):
        raise SessionBusyError(session_id)


@router.get(
    "/session/{sessionID}/diff",
    operation_id="session.diff",
    response_model=list[SnapshotFileDiff],
    responses={400: {"model": m.BadRequestError}},
)
async def session_diff(
    state: AppState,
    sessionID: SessionID,
    messageID: MessageQuery = None,
) -> Response:
    """Files changed by the session, or by the turn of user message `messageID`."""
    try:
        shadow = await _shadow(state, sessionID)
        return json_response(await workspace.diff(state.sessions, shadow, sessionID, messageID))
    except NotFoundError:
        # Upstream's spec has no 404 here; an unknown session has changed nothing.
        return json_response([])


@router.post(
    "/session/{sessionID}/revert",
    operation_id="session.revert",
    response_model=m.Session,
    responses={**NOT_FOUND, 409: {"model": m.SessionBusyError}},
)
async def session_revert(
    state: AppState, sessionID: SessionID, body: Annotated[RevertInput, Body()]
) -> Response:
    """Restore the files to before `messageID` (or `partID`); the messages stay until the
    next prompt, which removes them."""
    _idle(state, sessionID)
    shadow = await _shadow(state, sessionID)
    info = await workspace.revert(state.sessions, shadow, sessionID, body.messageID, body.partID)
    return json_response(info)


@router.post(
    "/session/{sessionID}/unrevert",
    operation_id="session.unrevert",
    response_model=m.Session,
    responses={**NOT_FOUND, 409: {"model": m.SessionBusyError}},
)
async def session_unrevert(state: AppState, sessionID: SessionID) -> Response:
    """Bring back the files as they were before the revert, and clear it."""
    _idle(state, sessionID)
    shadow = await _shadow(state, sessionID)
    return json_response(await workspace.unrevert(state.sessions, shadow, sessionID))
