"""`GET /question` and `POST /question/{requestID}/reply|reject`: what the agent asks the user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import question
from pyopencode.errors import NotFoundError
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.state import AppState

router = APIRouter(tags=["question"], route_class=JsonRoute)

RequestID = Annotated[str, Path(pattern=r"^que", max_length=128)]
Label = Annotated[str, Field(max_length=4096)]


class QuestionReply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    answers: Annotated[list[Annotated[list[Label], Field(max_length=256)]], Field(max_length=64)]


def _not_found(request_id: str, exc: NotFoundError) -> Response:
    return json_response(
        {"_tag": "QuestionNotFoundError", "requestID": request_id, "message": exc.message}, 404
    )


@router.get("/question", operation_id="question.list")
async def list_questions(state: AppState) -> Response:
    return json_response(question.service(state.sessions).requests())


@router.post("/question/{requestID}/reply", operation_id="question.reply")
async def reply(
    state: AppState, requestID: RequestID, body: Annotated[QuestionReply, Body()]
) -> Response:
    try:
        await question.service(state.sessions).reply(requestID, body.answers)
    except NotFoundError as exc:
        return _not_found(requestID, exc)
    return true_response()


@router.post("/question/{requestID}/reject", operation_id="question.reject")
async def reject(state: AppState, requestID: RequestID) -> Response:
    try:
        await question.service(state.sessions).reject(requestID)
    except NotFoundError as exc:
        return _not_found(requestID, exc)
    return true_response()
