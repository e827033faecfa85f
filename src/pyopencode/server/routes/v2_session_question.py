"""`/api/session/{id}/question` (v2): declared 400s until the question tool lands."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode.server.params import RequestID, SessionID
from pyopencode.server.routes.v2_errors import V2Route, not_available
from pyopencode.server.state import AppState

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)

FEATURE = "The question tool"


@router.get("/session/{sessionID}/question", operation_id="v2.session.question.list")
async def list_questions(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.question.list")


@router.post(
    "/session/{sessionID}/question/{requestID}/reply",
    operation_id="v2.session.question.reply",
    status_code=204,
)
async def reply(state: AppState, sessionID: SessionID, requestID: RequestID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.question.reply")


@router.post(
    "/session/{sessionID}/question/{requestID}/reject",
    operation_id="v2.session.question.reject",
    status_code=204,
)
async def reject(state: AppState, sessionID: SessionID, requestID: RequestID) -> Response:
    await state.sessions.get(sessionID)
    return not_available(FEATURE, "v2.session.question.reject")
