"""`/api/session/{id}/revert/*` (v2): declared 400s until snapshots and revert land."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode.server.params import SessionID
from pyopencode.server.routes.v2_errors import V2Route, not_available
from pyopencode.server.state import AppState

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)

FEATURE = "Revert (file snapshots)"


@router.post("/session/{sessionID}/revert/stage", operation_id="v2.session.revert.stage")
async def stage(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.revert.stage")


@router.post(
    "/session/{sessionID}/revert/clear", operation_id="v2.session.revert.clear", status_code=204
)
async def clear(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.revert.clear")


@router.post(
    "/session/{sessionID}/revert/commit", operation_id="v2.session.revert.commit", status_code=204
)
async def commit(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.revert.commit")
