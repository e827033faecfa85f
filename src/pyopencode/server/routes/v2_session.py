"""`/api/session` (v2): list, create, active, get, switch agent or model, wait, interrupt."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode.agent.agents import get_agent
from pyopencode.model.session import SessionModelRef
from pyopencode.server.instance import CurrentInstance, resolve
from pyopencode.server.json import json_response
from pyopencode.server.params import MAX_PATH, SessionID
from pyopencode.server.routes import prompt as v1_prompt
from pyopencode.server.routes import summarize
from pyopencode.server.routes.v2_errors import (
    V2Route,
    invalid_cursor,
    invalid_request,
    not_available,
)
from pyopencode.server.state import AppState
from pyopencode.session import v2
from pyopencode.session.service import SessionQuery
from pyopencode.vocab import Json

router = APIRouter(prefix="/api", tags=["v2"], route_class=V2Route)

DEFAULT_LIMIT = 100
# One page is read whole from the store; this bounds what one request may hold in memory.
MAX_SESSIONS = 10_000
# A wait longer than this answers 503 (declared) instead of holding the connection forever.
WAIT_SECONDS = 600.0
NO_CONTENT = 204


# Text a store can hold and a path can name: PostgreSQL refuses NUL, and so does the OS.
NO_NUL = r"^[^\x00]*$"
# Ids a client may choose: the prefix, then what the server's own ids are made of.
NEW_SESSION_ID = r"^ses_[0-9A-Za-z]+$"


class LocationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # Absolute: a relative one would mean whatever the server's working directory is.
    directory: str = Field(max_length=MAX_PATH, pattern=r"^/[^\x00]*$")
    workspaceID: str | None = Field(default=None, pattern=r"^wrk")


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str | None = Field(default=None, pattern=NEW_SESSION_ID, max_length=128)
    agent: str | None = None
    model: SessionModelRef | None = None
    location: LocationRef | None = None


class AgentSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    agent: str = Field(min_length=1)


class ModelSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: SessionModelRef


@router.get("/session", operation_id="v2.session.list")
async def list_sessions(
    state: AppState,
    instance: CurrentInstance,
    workspace: Annotated[str | None, Query(pattern=r"^wrk", max_length=128)] = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    search: Annotated[str | None, Query(max_length=1024, pattern=NO_NUL)] = None,
    project: Annotated[str | None, Query(max_length=MAX_PATH, pattern=NO_NUL)] = None,
    subpath: Annotated[str | None, Query(max_length=MAX_PATH, pattern=NO_NUL)] = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response:
    try:
        position = v2.decode_cursor(cursor, ("id",)) if cursor else None
    except v2.InvalidCursor:
        return invalid_cursor()
    query = SessionQuery(
        project_id=project or instance.project_id,
        directory=instance.directory,
        path=subpath,
        search=search or None,
        limit=MAX_SESSIONS,
    )
    newest_first: list[Json] = orjson.loads(await state.sessions.list_raw(query))
    if workspace is not None:
        newest_first = [s for s in newest_first if s.get("workspaceID") == workspace]
    sessions = [v2.session_info(s) for s in reversed(newest_first)]
    chosen = order or (position or {}).get("order") or "desc"
    size = DEFAULT_LIMIT if limit is None else min(limit, MAX_SESSIONS)
    try:
        data, cursors = v2.page(sessions, chosen, size, position)
    except v2.InvalidCursor:
        return invalid_cursor()
    return json_response({"data": data, "cursor": cursors})


@router.post("/session", operation_id="v2.session.create")
async def create_session(
    state: AppState,
    instance: CurrentInstance,
    body: Annotated[SessionCreate | None, Body()] = None,
) -> Response:
    body = body or SessionCreate()
    if body.location is not None:
        if body.location.workspaceID is not None:
            return not_available("Workspaces", "v2.session.create")
        instance = await resolve(state, body.location.directory)
    fields: Json = {}
    if body.agent is not None:
        cfg = await asyncio.to_thread(config.load, instance.directory)
        fields["agent"] = get_agent(cfg, body.agent).name
    if body.model is not None:
        fields["model"] = body.model.model_dump(exclude_none=True)
    if body.id is not None:
        if await state.sessions.get_raw(body.id) is not None:
            return invalid_request(f"Session already exists: {body.id}", "Body", "id")
        info = v2.new_session(instance, fields, body.id)
        created = await state.sessions.insert(info)
    else:
        created = await state.sessions.create(instance, fields)
    return json_response({"data": v2.session_info(created)})


@router.get("/session/active", operation_id="v2.session.active")
async def active_sessions(state: AppState) -> Response:
    # Upstream lists the sessions this process runs; on a shared store others run the rest.
    runner = state.runner
    owned = [sid for sid in list(state.status) if runner is not None and runner.owns(sid)]
    running = {sid: {"type": "running"} for sid in owned}
    return json_response({"data": running})


@router.get("/session/{sessionID}", operation_id="v2.session.get")
async def get_session(state: AppState, sessionID: SessionID) -> Response:
    return json_response({"data": v2.session_info(await state.sessions.get(sessionID))})


@router.post("/session/{sessionID}/agent", operation_id="v2.session.switchAgent", status_code=204)
async def switch_agent(
    state: AppState, sessionID: SessionID, body: Annotated[AgentSwitch, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    cfg = await asyncio.to_thread(config.load, session["directory"])
    name = get_agent(cfg, body.agent).name
    await state.sessions.update(sessionID, lambda info: v2.with_agent(info, name))
    return Response(status_code=NO_CONTENT)


@router.post("/session/{sessionID}/model", operation_id="v2.session.switchModel", status_code=204)
async def switch_model(
    state: AppState, sessionID: SessionID, body: Annotated[ModelSwitch, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    cfg = await asyncio.to_thread(config.load, session["directory"])
    provider.resolve(cfg, body.model.providerID, body.model.id)
    model = body.model.model_dump(exclude_none=True)
    await state.sessions.update(sessionID, lambda info: v2.with_model(info, model))
    return Response(status_code=NO_CONTENT)


@router.post("/session/{sessionID}/wait", operation_id="v2.session.wait", status_code=204)
async def wait(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while sessionID in state.status:
        if loop.time() >= deadline:
            return json_response(
                {
                    "_tag": "ServiceUnavailableError",
                    "message": f"Session {sessionID} is still running; wait again",
                    "service": "session.wait",
                },
                503,
            )
        await asyncio.sleep(0.05)
    # A prompt deleted meanwhile: say so rather than report it finished.
    await state.sessions.get(sessionID)
    return Response(status_code=NO_CONTENT)


@router.post("/session/{sessionID}/interrupt", operation_id="v2.session.interrupt", status_code=204)
async def interrupt(state: AppState, sessionID: SessionID) -> Response:
    await state.sessions.get(sessionID)
    await v1_prompt.abort(state, sessionID)
    return Response(status_code=NO_CONTENT)


@router.post("/session/{sessionID}/compact", operation_id="v2.session.compact", status_code=204)
async def compact(state: AppState, sessionID: SessionID) -> Response:
    session = await state.sessions.get(sessionID)
    await summarize.compact(state, session, None)
    return Response(status_code=NO_CONTENT)
