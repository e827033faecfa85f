"""`/api/session/{id}/question` (v2): the questions the agent's `question` tool waits on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import question
from pyopencode.errors import NotFoundError
from pyopencode.server.json import json_response
from pyopencode.server.params import MAX_ID, SessionID
from pyopencode.server.routes.v2_errors import V2Route
from pyopencode.server.state import AppState, State

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)

QuestionID = Annotated[str, Path(max_length=MAX_ID)]
Label = Annotated[str, Field(max_length=4096)]


class QuestionReply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    answers: Annotated[list[Annotated[list[Label], Field(max_length=256)]], Field(max_length=64)]


def _not_found(request_id: str) -> Response:
    return json_response(
        {
            "_tag": "QuestionNotFoundError",
            "requestID": request_id,
            "message": f"Question request not found: {request_id}",
        },
        404,
    )


async def _owned(state: State, session_id: str, request_id: str) -> bool:
    """Whether `request_id` is a question pending on this (existing) session."""
    await state.sessions.get(session_id)
    pending = question.service(state.sessions).requests()
    return any(r["id"] == request_id and r["sessionID"] == session_id for r in pending)


@router.get("/session/{sessionID}/question", operation_id="v2.session.question.list")
async def list_questions(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    pending = question.service(state.sessions).requests()
    return json_response({"data": [r for r in pending if r["sessionID"] == sessionID]})


@router.post(
    "/session/{sessionID}/question/{requestID}/reply",
    operation_id="v2.session.question.reply",
    status_code=204,
)
async def reply(
    state: AppState,
    sessionID: SessionID,
    requestID: QuestionID,
    body: Annotated[QuestionReply, Body()],
) -> Response:
    if not await _owned(state, sessionID, requestID):
        return _not_found(requestID)
    try:
        await question.service(state.sessions).reply(requestID, body.answers)
    except NotFoundError:
        return _not_found(requestID)
    return Response(status_code=204)


@router.post(
    "/session/{sessionID}/question/{requestID}/reject",
    operation_id="v2.session.question.reject",
    status_code=204,
)
async def reject(state: AppState, sessionID: SessionID, requestID: QuestionID) -> Response:
    if not await _owned(state, sessionID, requestID):
        return _not_found(requestID)
    try:
        await question.service(state.sessions).reject(requestID)
    except NotFoundError:
        return _not_found(requestID)
    return Response(status_code=204)
