"""Message and part routes: list, get, delete, update parts, and store prompts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.errors import BadRequestError, SessionBusyError
from pyopencode.model import session as sm
from pyopencode.model.message import Message, MessageWithParts, OutputFormat
from pyopencode.model.part import Part, PartInput
from pyopencode.server.errors import SESSION_ERRORS as ERRORS
from pyopencode.server.json import JsonRoute, json_response, raw_json, true_response
from pyopencode.server.params import MessageID, MessageQuery, PartID, SessionID
from pyopencode.server.state import AppState

router = APIRouter(tags=["session"], route_class=JsonRoute)


class PromptModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    providerID: str
    modelID: str


class PromptInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    messageID: str | None = Field(default=None, pattern=r"^msg")
    model: PromptModel | None = None
    agent: str | None = None
    noReply: bool | None = None
    tools: dict[str, bool] | None = None
    format: OutputFormat | None = None
    system: str | None = None
    variant: str | None = None
    parts: list[PartInput]


class PromptResult(BaseModel):
    # An assistant message after a reply; the stored user message for `noReply` (as upstream).
    info: Message
    parts: list[Part]


@router.get(
    "/session/{sessionID}/message",
    operation_id="session.messages",
    response_model=list[MessageWithParts],
    responses=ERRORS,
)
async def list_messages(
    state: AppState,
    sessionID: SessionID,
    # The spec's own bound (2**53 - 1); larger values would overflow SQLite's integers.
    limit: Annotated[int | None, Query(ge=0, le=9_007_199_254_740_991)] = None,
    before: MessageQuery = None,
) -> Response:
    return raw_json(await state.sessions.messages_raw(sessionID, limit, before))


@router.get(
    "/session/{sessionID}/message/{messageID}",
    operation_id="session.message",
    response_model=MessageWithParts,
    responses=ERRORS,
)
async def get_message(state: AppState, sessionID: SessionID, messageID: MessageID) -> Response:
    return raw_json(await state.sessions.message_raw(sessionID, messageID))


@router.delete(
    "/session/{sessionID}/message/{messageID}",
    operation_id="session.deleteMessage",
    response_model=bool,
    responses={**ERRORS, 409: {"model": sm.SessionBusyError}},
)
async def delete_message(state: AppState, sessionID: SessionID, messageID: MessageID) -> Response:
    if state.status.get(sessionID, {}).get("type") == "busy":
        raise SessionBusyError(sessionID)
    await state.sessions.delete_message(sessionID, messageID)
    return true_response()


@router.patch(
    "/session/{sessionID}/message/{messageID}/part/{partID}",
    operation_id="part.update",
    response_model=Part,
    responses=ERRORS,
)
async def update_part(
    state: AppState,
    sessionID: SessionID,
    messageID: MessageID,
    partID: PartID,
    body: Annotated[Part, Body()],
) -> Response:
    part = body.model_dump(exclude_none=True, by_alias=True)
    for key, expected in (("sessionID", sessionID), ("messageID", messageID), ("id", partID)):
        if part.get(key) != expected:
            raise BadRequestError(f"{key} in the body does not match the path", field=key)
    return json_response(await state.sessions.update_part(part))


@router.delete(
    "/session/{sessionID}/message/{messageID}/part/{partID}",
    operation_id="part.delete",
    response_model=bool,
    responses=ERRORS,
)
async def delete_part(
    state: AppState, sessionID: SessionID, messageID: MessageID, partID: PartID
) -> Response:
    await state.sessions.delete_part(sessionID, messageID, partID)
    return true_response()
