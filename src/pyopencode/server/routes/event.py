"""Server-Sent Events: `/event` for one directory, `/global/event` for everything."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Header
from starlette.responses import StreamingResponse

from pyopencode import ids
from pyopencode.bus import Event, Subscription, is_public
from pyopencode.server.chunked import ChunkedBody, frame
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute
from pyopencode.server.state import AppState, State

log = logging.getLogger("pyopencode.server")
router = APIRouter(route_class=JsonRoute)

# Events sent in one write at most; bounds the size of one chunk on a backed-up stream.
_BATCH = 256
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
# The same answer head, as the fast path in server/hot.py sends it.
RAW_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
]

# Sent by EventSource on reconnect; hidden from the schema, which mirrors upstream's.
LastEventId = Annotated[str | None, Header(alias="last-event-id", include_in_schema=False)]


def _frame(event_id: str, data: bytes) -> bytes:
    # `id:` lets EventSource (and our own clients) resume with Last-Event-ID. It follows
    # `data:`, which SSE allows, so clients that read the first line as the data still work.
    return b"data: " + data + b"\nid: " + event_id.encode() + b"\n\n"


def _event_frame(event: Event) -> bytes:
    return _frame(event.id, event.payload_json())


def _global_frame(event: Event) -> bytes:
    return _frame(event.id, event.global_json())


def _server_event(sub: Subscription, kind: str, **properties: object) -> dict[str, object]:
    event_id = ids.ascending("evt")
    sub.mark(event_id)
    return {"id": event_id, "type": kind, "properties": properties}


def _pusher(
    sub: Subscription, body: ChunkedBody, encode: Callable[[Event], bytes]
) -> Callable[[], None]:
    def push() -> None:
        # Runs inside the bus's wake-up, for each subscriber in turn: a batch is built and
        # framed once for all subscribers at one position and written here, where resuming
        # each stream's task to write it cost more than the write.
        try:
            while body.writable():
                data = sub.frames(_BATCH, encode, frame)
                if not data:
                    sub.rearm()
                    return
                body.write(data)
        except Exception:
            log.exception("writing an event batch failed")
        # The peer is not reading, or is gone: the stream's task takes over, and its `send`
        # waits for the drain (or the stream ends).
        sub.resume()

    return push


async def _stream(
    subscribe: Callable[[], Subscription],
    heartbeat: float,
    encode: Callable[[Event], bytes],
    wrap: Callable[[dict[str, object]], bytes],
    body: ChunkedBody | None = None,
) -> AsyncIterator[bytes]:
    """The frames of one subscription; given the answer's `body`, events go out through it
    when the bus wakes the subscription, and this yields only the frames that are not
    events (connected, heartbeats, resyncs) and the batches of a peer that reads slowly."""
    # Subscribing here, not in the route, means a stream that never starts leaves nothing behind.
    sub = subscribe()
    if body is not None:
        sub.push = _pusher(sub, body, encode)

    def server_frame(kind: str, **properties: object) -> bytes:
        payload = _server_event(sub, kind, **properties)
        return _frame(str(payload["id"]), wrap(payload))

    try:
        # server.connected stays first, as upstream clients expect; a resync notice comes next,
        # before any live event, so the client knows to refetch instead of seeing a silent gap.
        yield server_frame("server.connected")
        if sub.resync:
            yield server_frame("server.resync", reason="Last-Event-ID is unknown or too old")
        while True:
            try:
                pending = await sub.wait(heartbeat)
            except StopAsyncIteration:
                pending = False
            if sub.closed:
                if sub.overflowed:
                    # Its backlog went over the cap and was dropped: the client must refetch
                    # (or resume with this frame's id, while the ring still covers it).
                    yield server_frame("server.resync", reason="The client fell too far behind")
                return
            if not pending:
                yield server_frame("server.heartbeat")
                continue
            # Whatever is already published goes out in one write: one send (and one trip
            # through the middleware) per batch instead of one per event. Frames are built
            # once per event, and a batch once per position, for all subscribers.
            batch = sub.frames(_BATCH, encode)
            if batch:
                yield batch
    finally:
        # Runs when the client goes away too, so its queue is released at once.
        sub.close()


def directory_events(
    state: State,
    directory: str,
    last_event_id: str | None,
    subscribed: Callable[[Subscription], None] | None = None,
    body: ChunkedBody | None = None,
) -> AsyncIterator[bytes]:
    """The `/event` stream of one directory; `subscribed` is told the subscription it reads,
    and events go out through `body` where given (see `_stream`)."""
    bus = state.bus

    def subscribe() -> Subscription:
        sub = bus.subscribe(
            lambda e: e.directory == directory and is_public(e),
            last_event_id,
            key=("directory", directory),
        )
        if subscribed is not None:
            subscribed(sub)
        return sub

    return _stream(subscribe, state.settings.heartbeat_seconds, _event_frame, orjson.dumps, body)


@router.get(
    "/event",
    operation_id="event.subscribe",
    tags=["event"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def subscribe(
    state: AppState, instance: CurrentInstance, last_event_id: LastEventId = None
) -> StreamingResponse:
    return StreamingResponse(
        directory_events(state, instance.directory, last_event_id),
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
async def global_events(state: AppState, last_event_id: LastEventId = None) -> StreamingResponse:
    bus = state.bus
    return StreamingResponse(
        _stream(
            lambda: bus.subscribe(is_public, last_event_id, key="global"),
            state.settings.heartbeat_seconds,
            _global_frame,
            # Server-level frames belong to no directory; upstream's GlobalEvent requires one.
            lambda payload: orjson.dumps({"directory": "global", "payload": payload}),
        ),
        media_type="text/event-stream",
        headers=_HEADERS,
    )
