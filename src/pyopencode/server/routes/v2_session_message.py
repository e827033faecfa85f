"""`/api/session/{id}` (v2) prompting and reading: prompt, messages, context, history, events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from pyopencode import futures
from pyopencode import message as message_rules
from pyopencode.agent import prompt as prompting
from pyopencode.bus import Event
from pyopencode.errors import NotFoundError
from pyopencode.server.instance import resolve
from pyopencode.server.json import json_response
from pyopencode.server.params import MAX_ID, MAX_PATH, MessageID, SessionID
from pyopencode.server.routes.v2_errors import V2Route, invalid_cursor, invalid_request
from pyopencode.server.state import AppState, State
from pyopencode.session import v2
from pyopencode.vocab import Json

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
COALESCE_SECONDS = 0.05
COALESCE_MAX = 100
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


class PromptSource(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    start: float
    end: float
    text: str


class FileAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    uri: str = Field(max_length=MAX_PATH * 64)
    mime: str = Field(max_length=256)
    name: str | None = None
    description: str | None = None
    source: PromptSource | None = None


class AgentAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    source: PromptSource | None = None


class PromptInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str
    files: list[FileAttachment] | None = None
    agents: list[AgentAttachment] | None = None


class PromptBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # The prefix, then what the server's own ids are made of (the store refuses NUL and more).
    id: str | None = Field(default=None, pattern=r"^msg_[0-9A-Za-z]+$", max_length=MAX_ID)
    prompt: PromptInput
    delivery: Literal["steer", "queue"] | None = None
    resume: bool | None = None


def _v1_fields(body: PromptBody) -> Json:
    """The v1 prompt the v2 body asks for: one text part, then its files and agents."""
    parts: list[Json] = [{"type": "text", "text": body.prompt.text}]
    for file in body.prompt.files or []:
        part: Json = {"type": "file", "mime": file.mime, "url": file.uri}
        if file.name is not None:
            part["filename"] = file.name
        parts.append(part)
    parts += [{"type": "agent", "name": a.name} for a in body.prompt.agents or []]
    fields: Json = {"parts": parts}
    if body.id is not None:
        fields["messageID"] = body.id
    return fields


async def _stored(state: State, session_id: str) -> tuple[Json, list[Json]]:
    session = await state.sessions.get(session_id)
    return session, await state.sessions.messages(session_id)


@router.post("/session/{sessionID}/prompt", operation_id="v2.session.prompt")
async def prompt(
    state: AppState, sessionID: SessionID, body: Annotated[PromptBody, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    if body.id is not None and await _exists(state, sessionID, body.id):
        return json_response(
            {
                "_tag": "ConflictError",
                "message": f"Message already exists: {body.id}",
                "resource": body.id,
            },
            409,
        )
    if body.resume is False:
        # Admitted without running, as v1's `noReply`: stored, and nothing answers it yet.
        info, parts = message_rules.user_message(session, _v1_fields(body))
        await state.sessions.update_message(info, parts)
        user_id = info["id"]
    else:
        instance = await resolve(state, session["directory"])
        runner = state.agent_runner()
        turn = await prompting.start(
            state.sessions, runner, session, _v1_fields(body), instance.worktree
        )
        runner.submit(turn).add_done_callback(futures.retrieve)
        user_id = turn.user["id"]
    session, messages = await _stored(state, sessionID)
    user = next(m for m in messages if m["info"]["id"] == user_id)
    seq = next(
        e["durable"]["seq"]
        for e in v2.history(session, messages)
        if e["type"] == "session.next.prompt.admitted"
        and e["data"]["messageID"] == user["info"]["id"]
    )
    return json_response({"data": v2.admitted(sessionID, user, seq)})


async def _exists(state: State, session_id: str, message_id: str) -> bool:
    try:
        await state.sessions.message_raw(session_id, message_id)
    except NotFoundError:
        return False
    return True


@router.get("/session/{sessionID}/context", operation_id="v2.session.context")
async def context(state: AppState, sessionID: SessionID) -> Response:
    _, messages = await _stored(state, sessionID)
    return json_response({"data": [v2.message(m) for m in messages]})


@router.get("/session/{sessionID}/message", operation_id="v2.session.messages")
async def messages(
    state: AppState,
    sessionID: SessionID,
    limit: Annotated[int | None, Query(ge=0)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response:
    try:
        position = v2.decode_cursor(cursor, ("id",)) if cursor else None
    except v2.InvalidCursor:
        return invalid_cursor()
    if position is not None and order is not None:
        return invalid_request("cursor: do not combine with order", "Query", "cursor")
    _, stored = await _stored(state, sessionID)
    chosen = order or (position or {}).get("order") or "desc"
    if chosen not in ("asc", "desc"):
        return invalid_cursor()
    size = DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT)
    try:
        data, cursors = v2.page([v2.message(m) for m in stored], chosen, size, position)
    except v2.InvalidCursor:
        return invalid_cursor()
    return json_response({"data": data, "cursor": cursors})


@router.get("/session/{sessionID}/message/{messageID}", operation_id="v2.session.message")
async def message(state: AppState, sessionID: SessionID, messageID: MessageID) -> Response:
    return json_response({"data": v2.message(await state.sessions.message(sessionID, messageID))})


def _seq(value: str | None, name: str) -> int | Response | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 15:
        return invalid_request(f"{name}: expected a non-negative integer", "Query", name)
    return int(value)


@router.get("/session/{sessionID}/history", operation_id="v2.session.history")
async def history(
    state: AppState,
    sessionID: SessionID,
    limit: Annotated[str | None, Query(max_length=32)] = None,
    after: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    size, start = _seq(limit, "limit"), _seq(after, "after")
    if isinstance(size, Response):
        return size
    if isinstance(start, Response):
        return start
    session, stored = await _stored(state, sessionID)
    events = [e for e in v2.history(session, stored) if e["durable"]["seq"] > (start or 0)]
    bound = MAX_LIMIT if size is None else min(size, MAX_LIMIT)
    return json_response({"data": events[:bound], "hasMore": len(events) > bound})


def _about(session_id: str, event: Event) -> bool:
    props = event.properties
    if props.get("sessionID") == session_id:
        return True
    for key in ("info", "part"):
        inner = props.get(key)
        if isinstance(inner, dict) and inner.get("sessionID") == session_id:
            return True
    return False


async def _follow(
    state: State, session_id: str, after: int, heartbeat: float
) -> AsyncIterator[bytes]:
    sub = state.bus.subscribe(lambda e: _about(session_id, e))
    sent: set[str] = set()
    try:
        while True:
            try:
                session, stored = await _stored(state, session_id)
            except NotFoundError:
                return  # the session is gone: the log ends
            for event in v2.history(session, stored):
                if event["durable"]["seq"] <= after or event["id"] in sent:
                    continue
                sent.add(event["id"])
                seq = str(event["durable"]["seq"]).encode()
                yield b"id: " + seq + b"\ndata: " + orjson.dumps(event) + b"\n\n"
            try:
                # Woken by any change to the session; the log is derived again from the store.
                changed = await sub.next(heartbeat)
                if changed is None:
                    yield b": heartbeat\n\n"
                    continue
                # A streaming reply changes the session many times a second: derive once for
                # a burst of changes, not once per change.
                for _ in range(COALESCE_MAX):
                    if changed is None or changed.type == "session.deleted":
                        break
                    changed = await sub.next(COALESCE_SECONDS)
            except StopAsyncIteration:
                return
            if changed is not None and changed.type == "session.deleted":
                return
    finally:
        sub.close()


@router.get(
    "/session/{sessionID}/event",
    operation_id="v2.session.events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Session events"}},
)
async def events(
    state: AppState,
    sessionID: SessionID,
    after: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    start = _seq(after, "after")
    if isinstance(start, Response):
        return start
    await state.sessions.get(sessionID)
    return StreamingResponse(
        _follow(state, sessionID, start or 0, state.settings.heartbeat_seconds),
        media_type="text/event-stream",
        headers=_SSE_HEADERS,
    )
