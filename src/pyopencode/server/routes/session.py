"""`/session` routes: create, list, get, update, delete, children, fork, status, todo."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from pyopencode.errors import NotFoundError
from pyopencode.model import session as m
from pyopencode.project import Instance
from pyopencode.server.errors import SESSION_ERRORS as NOT_FOUND
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, raw_json
from pyopencode.server.params import MAX_PATH, SessionID
from pyopencode.server.state import State, app_state
from pyopencode.session.service import SessionQuery

router = APIRouter(tags=["session"], route_class=JsonRoute)


# Millisecond timestamps beyond JavaScript's exact integers (2**53 - 1) are refused with 400,
# not turned into an integer the store cannot hold.
MAX_START = 2**53 - 1
# Upstream answers at most this many sessions when `limit` is not given.
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000


# The operations behind the busiest routes, shared by FastAPI and by the fast path in
# server/hot.py, which calls them with requests it has parsed itself.


async def create(state: State, instance: Instance, fields: dict[str, Any]) -> bytes:
    return orjson.dumps(await state.sessions.create(instance, fields))


async def get(state: State, session_id: str) -> bytes:
    raw = await state.sessions.get_raw(session_id)
    if raw is None:
        raise NotFoundError.session(session_id)
    return raw


async def delete(state: State, session_id: str) -> bytes:
    # Answers only after the cascade has committed, or raises NotFoundError: `true` is never
    # sent for a session that is still there.
    await state.sessions.delete(session_id)
    return b"true"


@router.get(
    "/session",
    operation_id="session.list",
    response_model=list[m.Session],
    responses={400: {"model": m.BadRequestError}},
)
async def list_sessions(
    request: Request,
    instance: CurrentInstance,
    directory: Annotated[str | None, Query(max_length=MAX_PATH)] = None,
    scope: Annotated[str | None, Query(pattern="^project$")] = None,
    path: Annotated[str | None, Query(max_length=MAX_PATH)] = None,
    roots: Annotated[bool | None, Query()] = None,
    start: Annotated[float | None, Query(ge=0, le=MAX_START, allow_inf_nan=False)] = None,
    search: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    state = app_state(request)
    query = SessionQuery(
        project_id=instance.project_id,
        # An explicit `directory` narrows to that directory unless the caller asks for the
        # whole project; without one, the project of the server's directory is listed.
        directory=instance.directory if directory and scope != "project" else None,
        path=path,
        roots=bool(roots),
        start=int(start) if start is not None else None,
        search=search or None,
        # Clients ask for huge limits to mean "all" (upstream has no cap); answering 400 would
        # break them, so a request is clamped to the cap that bounds one response's memory.
        limit=DEFAULT_LIST_LIMIT if limit is None else min(limit, MAX_LIST_LIMIT),
    )
    return raw_json(await state.sessions.list_raw(query))


@router.post(
    "/session",
    operation_id="session.create",
    response_model=m.Session,
    responses={400: {"model": m.InvalidRequestError}, 404: {"model": m.NotFoundError}},
)
async def create_session(
    request: Request,
    instance: CurrentInstance,
    body: Annotated[m.SessionCreate | None, Body()] = None,
) -> Response:
    fields = body.model_dump(exclude_none=True) if body is not None else {}
    return raw_json(await create(app_state(request), instance, fields))


@router.get("/session/status", operation_id="session.status")
async def session_status(
    request: Request, instance: CurrentInstance
) -> dict[str, m.SessionStatusBusy | m.SessionStatusRetry | m.SessionStatusIdle]:
    state = app_state(request)
    return state.status  # type: ignore[return-value]


@router.get(
    "/session/{sessionID}",
    operation_id="session.get",
    response_model=m.Session,
    responses=NOT_FOUND,
)
async def get_session(request: Request, sessionID: SessionID) -> Response:
    return raw_json(await get(app_state(request), sessionID))


@router.patch(
    "/session/{sessionID}",
    operation_id="session.update",
    response_model=m.Session,
    responses=NOT_FOUND,
)
async def update_session(
    request: Request,
    sessionID: SessionID,
    body: Annotated[m.SessionUpdate | None, Body()] = None,
) -> Response:
    state = app_state(request)
    patch = body.model_dump(exclude_none=True) if body is not None else {}
    info = await state.sessions.patch(sessionID, patch)
    return json_response(info)


@router.delete(
    "/session/{sessionID}",
    operation_id="session.delete",
    response_model=bool,
    responses=NOT_FOUND,
)
async def delete_session(request: Request, sessionID: SessionID) -> Response:
    return raw_json(await delete(app_state(request), sessionID))


@router.get(
    "/session/{sessionID}/children",
    operation_id="session.children",
    response_model=list[m.Session],
    responses=NOT_FOUND,
)
async def session_children(request: Request, sessionID: SessionID) -> Response:
    state = app_state(request)
    return raw_json(await state.sessions.children_raw(sessionID))


@router.post(
    "/session/{sessionID}/fork",
    operation_id="session.fork",
    response_model=m.Session,
    responses=NOT_FOUND,
)
async def fork_session(
    request: Request,
    sessionID: SessionID,
    body: Annotated[m.SessionFork | None, Body()] = None,
) -> Response:
    state = app_state(request)
    until = body.messageID if body is not None else None
    info = await state.sessions.fork(sessionID, until)
    return json_response(info)


@router.get(
    "/session/{sessionID}/todo",
    operation_id="session.todo",
    response_model=list[m.Todo],
    responses=NOT_FOUND,
)
async def session_todo(request: Request, sessionID: SessionID) -> Response:
    state = app_state(request)
    return raw_json(await state.sessions.todos_raw(sessionID))
