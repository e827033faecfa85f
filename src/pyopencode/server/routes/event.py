"""Server-Sent Events: `/event` for one directory, `/global/event` for everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter
from starlette.responses import StreamingResponse

from pyopencode import ids
from pyopencode.bus import Event, Subscription
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute
from pyopencode.server.state import AppState

router = APIRouter(route_class=JsonRoute)

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _frame(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def _server_event(kind: str) -> dict[str, object]:
    return {"id": ids.ascending("evt"), "type": kind, "properties": {}}


async def _stream(
    sub: Subscription,
    heartbeat: float,
    encode: Callable[[Event], bytes],
    wrap: Callable[[dict[str, object]], bytes],
) -> AsyncIterator[bytes]:
    try:
        yield _frame(wrap(_server_event("server.connected")))
        while True:
            try:
                event = await sub.next(heartbeat)
            except StopAsyncIteration:
                return
            if event is None:
                yield _frame(wrap(_server_event("server.heartbeat")))
            else:
                yield _frame(encode(event))
    finally:
        # Runs when the client goes away too, so its queue is released at once.
        sub.close()


@router.get(
    "/event",
    operation_id="event.subscribe",
    tags=["event"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def subscribe(state: AppState, instance: CurrentInstance) -> StreamingResponse:
    directory = instance.directory
    sub = state.bus.subscribe(lambda e: e.directory == directory)
    return StreamingResponse(
        _stream(sub, state.settings.heartbeat_seconds, Event.payload_json, orjson.dumps),
        media_type="text/event-stream",
        headers=_HEADERS,
    )


@router.get(
    "/global/event",
    operation_id="global.event",
    tags=["global"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def global_events(state: AppState) -> StreamingResponse:
    sub = state.bus.subscribe()
    return StreamingResponse(
        _stream(
            sub,
            state.settings.heartbeat_seconds,
            Event.global_json,
            # Server-level frames belong to no directory; upstream's GlobalEvent requires one.
            lambda payload: orjson.dumps({"directory": "global", "payload": payload}),
        ),
        media_type="text/event-stream",
        headers=_HEADERS,
    )
