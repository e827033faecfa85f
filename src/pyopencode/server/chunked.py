"""A streaming answer's HTTP/1.1 chunks written straight to its connection, past ASGI `send`."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from starlette.types import Scope

# The scope extension under which the server's protocol leaves a request's `ChunkedBody`.
EXTENSION = "pyopencode.chunked_body"


class _Flow(Protocol):
    write_paused: bool


class _Cycle(Protocol):
    """The parts of uvicorn's request-response cycle that `ChunkedBody` reads."""

    transport: asyncio.Transport
    flow: _Flow
    response_started: bool
    response_complete: bool
    chunked_encoding: bool | None
    disconnected: bool


def frame(data: bytes) -> bytes:
    """`data` as one HTTP/1.1 chunk; never call it with b"", the chunk that ends a body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class ChunkedBody:
    """Writes whole chunks of one answer's body on its connection, for a caller that writes
    hundreds of connections at a time (the event stream's fan-out): ASGI `send` costs a
    coroutine and a copy per write, more than the write itself.

    Only between the server's `send` of the answer's start and of its end, and only while the
    connection takes writes at once: `writable()` is False while the peer is not reading
    (the caller then goes back to `send`, which waits for the drain) or is gone, and when the
    server did not choose chunked encoding for this answer (an HTTP/1.0 client).
    """

    __slots__ = ("_cycle",)

    def __init__(self, cycle: _Cycle) -> None:
        self._cycle = cycle

    def writable(self) -> bool:
        cycle = self._cycle
        return (
            cycle.response_started
            and cycle.chunked_encoding is True
            and not cycle.response_complete
            and not cycle.disconnected
            and not cycle.flow.write_paused
            and not cycle.transport.is_closing()
        )

    def write(self, chunk: bytes) -> None:
        """Write `chunk`, already framed (see `frame`); check `writable()` first."""
        self._cycle.transport.write(chunk)


def attach(scope: Any, cycle: Any) -> None:
    """Offer `cycle`'s connection to the app, if the server's cycle has what we read."""
    if all(hasattr(cycle, name) for name in _Cycle.__annotations__):
        scope.setdefault("extensions", {})[EXTENSION] = ChunkedBody(cycle)


def chunked_body(scope: Scope) -> ChunkedBody | None:
    found = scope.get("extensions", {}).get(EXTENSION)
    return found if isinstance(found, ChunkedBody) else None
