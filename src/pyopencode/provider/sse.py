"""A model's streamed answer as the JSON objects of its server-sent events.

The SDKs send the request, authenticate and raise typed errors for a refused one; their typed
chunk objects (and their line decoders) cost more CPU than the rest of a turn, so the events
are split here and decoded with orjson.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from pyopencode.provider.events import StreamDropped, StreamEvent


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StreamDropped(f"The stream sent a chunk that is not JSON: {data[:200]!r}") from exc
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        # OpenAI-compatible servers send {"error": ...}, Anthropic {"type": "error", ...}.
        error = event["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise StreamDropped(f"The model's stream reported an error: {message}")
    return event


async def data_bursts(response: Any) -> AsyncIterator[list[dict[str, Any]]]:
    """The JSON object of each `data:` line of `response` (an SDK's raw streamed answer), in
    one list per network read, until `data: [DONE]` or the end of the body; `event:` and
    other lines are skipped.

    A list is what reached the server together: a fast model's hundred chunks are one list,
    handled (and sent on to clients) as one, without a task between the socket and the turn.
    """
    pending = bytearray()
    async for data in response.aiter_bytes():
        pending += data
        end = pending.rfind(b"\n")
        if end < 0:
            continue
        lines = bytes(pending[:end]).split(b"\n")
        del pending[: end + 1]
        burst: list[dict[str, Any]] = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                if burst:
                    yield burst
                return
            event = _decode(payload)
            if event is not None:
                burst.append(event)
        if burst:
            yield burst
    tail = bytes(pending).strip()
    if tail.startswith(b"data:") and tail[5:].strip() != b"[DONE]":
        event = _decode(tail[5:].strip())
        if event is not None:
            yield [event]


async def translated(
    response: Any, read: Callable[[dict[str, Any], list[StreamEvent]], None]
) -> AsyncGenerator[list[StreamEvent], None]:
    """What each network read of `response` means for the turn: `read` appends what one
    server-sent event means to a list; a read that means nothing yields nothing."""
    async for burst in data_bursts(response):
        events: list[StreamEvent] = []
        for event in burst:
            read(event, events)
        if events:
            yield events
