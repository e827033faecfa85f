"""`/api/session/{id}/revert/*` (v2): stage a revert, clear it, or commit it, over the same
snapshot revert as v1's `/revert`, `/unrevert` and the next prompt's cleanup."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import ids
from pyopencode.errors import SessionBusyError
from pyopencode.server.json import json_response
from pyopencode.server.params import MAX_ID, SessionID
from pyopencode.server.routes.revert import _idle, _shadow
from pyopencode.server.routes.v2_errors import V2Route, invalid_request
from pyopencode.server.state import AppState
from pyopencode.snapshot import revert as workspace
from pyopencode.vocab import Json

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)


class RevertStage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    messageID: str = Field(pattern=r"^msg_[0-9A-Za-z]+$", max_length=MAX_ID)
    # False records the revert point without touching the files.
    files: bool | None = None


def _busy(exc: SessionBusyError) -> Response:
    # The reference declares no 409 here: a busy session is a request to retry later.
    return invalid_request(f"{exc.message}; revert once it is idle", "Params", "sessionID")


def _state(revert: Json) -> Json:
    return {k: revert[k] for k in ("messageID", "partID", "snapshot", "diff") if k in revert}


@router.post("/session/{sessionID}/revert/stage", operation_id="v2.session.revert.stage")
async def stage(
    state: AppState, sessionID: SessionID, body: Annotated[RevertStage, Body()]
) -> Response:
    try:
        _idle(state, sessionID)
    except SessionBusyError as exc:
        return _busy(exc)
    shadow = await _shadow(state, sessionID) if body.files is not False else None
    info = await workspace.revert(state.sessions, shadow, sessionID, body.messageID, None)
    return json_response({"data": _state(info["revert"])})


@router.post(
    "/session/{sessionID}/revert/clear", operation_id="v2.session.revert.clear", status_code=204
)
async def clear(state: AppState, sessionID: SessionID) -> Response:
    try:
        _idle(state, sessionID)
    except SessionBusyError as exc:
        return _busy(exc)
    shadow = await _shadow(state, sessionID)
    await workspace.unrevert(state.sessions, shadow, sessionID)
    return Response(status_code=204)


@router.post(
    "/session/{sessionID}/revert/commit", operation_id="v2.session.revert.commit", status_code=204
)
async def commit(state: AppState, sessionID: SessionID) -> Response:
    try:
        _idle(state, sessionID)
    except SessionBusyError as exc:
        return _busy(exc)
    session = await state.sessions.get(sessionID)
    # What the next prompt would do: drop the reverted messages for good. A fresh id sorts
    # after every stored message, so all of them up to now are considered.
    await workspace.cleanup(state.sessions, session, ids.ascending("msg"))
    return Response(status_code=204)
