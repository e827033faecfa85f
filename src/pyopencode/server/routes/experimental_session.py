"""`/experimental/session`: every session across projects; and "background subagents"."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.params import SessionID
from pyopencode.server.state import AppState
from pyopencode.session.service import GlobalSessionQuery

router = APIRouter(prefix="/experimental/session", tags=["experimental"], route_class=JsonRoute)

DEFAULT_LIMIT = 100
# One page is held in memory whole; this bounds it.
MAX_LIMIT = 10_000
# Milliseconds since the epoch fit here; a larger number is no time at all.
MAX_TIME = 2**53

Flag = Literal["true", "false"] | None
Time = Annotated[float | None, Query(ge=0, le=MAX_TIME)]


@router.get(
    "",
    operation_id="experimental.session.list",
    description=(
        "Get a list of all OpenCode sessions across projects, sorted by most recently updated. "
        "Archived sessions are excluded unless `archived=true`. When there are more, the "
        "`x-next-cursor` header carries the `cursor` of the next page."
    ),
)
async def list_sessions(
    state: AppState,
    directory: Annotated[str | None, Query(max_length=4096)] = None,
    workspace: Annotated[str | None, Query(max_length=128)] = None,
    roots: Flag = None,
    start: Time = None,
    cursor: Time = None,
    search: Annotated[str | None, Query(max_length=1024, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[float | None, Query(ge=1, le=MAX_LIMIT)] = None,
    archived: Flag = None,
) -> Response:
    query = GlobalSessionQuery(
        roots=roots == "true",
        start=None if start is None else int(start),
        cursor=None if cursor is None else int(cursor),
        search=search or None,
        limit=DEFAULT_LIMIT if limit is None else int(limit),
    )
    sessions, next_cursor = await state.sessions.list_global(query, archived=archived == "true")
    response = json_response(sessions)
    if next_cursor is not None:
        response.headers["x-next-cursor"] = str(next_cursor)
    return response


@router.post(
    "/{sessionID}/background",
    operation_id="experimental.session.background",
    description=(
        "Detach synchronous subagents blocking the session. pyopencode runs subagents inline, "
        "inside the parent's tool call, and never detaches them: the answer is always `false` "
        "(nothing was backgrounded), as upstream's is when there is nothing to detach."
    ),
)
async def background(
    sessionID: SessionID,
    directory: Annotated[str | None, Query(max_length=4096)] = None,
    workspace: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    return json_response(False)
