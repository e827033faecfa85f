"""A lean `GET /event` reader for many concurrent subscribers: an asyncio protocol that decodes
the chunked body as it arrives, with no task switch per chunk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

# Called with what each read brought of the decoded body (frames may be split across calls).
OnData = Callable[[bytes], None]
_MAX_HEAD = 64 * 1024


class Dechunker:
    """An HTTP/1.1 chunked body, decoded from reads however the network split it."""

    def __init__(self) -> None:
        self._buffer = b""
        self._need = -1  # bytes left of the current chunk (with its CRLF); -1: a size line next
        self.finished = False  # the last (empty) chunk arrived

    def feed(self, data: bytes) -> bytes:
        """The body bytes `data` completes (b"" when none, or once finished)."""
        if self.finished:
            return b""
        if self._buffer:
            data = self._buffer + data
        pieces: list[bytes] = []
        at, end = 0, len(data)
        while at < end:
            if self._need < 0:
                line_end = data.find(b"\r\n", at)
                if line_end < 0:
                    break
                size = int(data[at:line_end].split(b";", 1)[0], 16)
                at = line_end + 2
                if size == 0:
                    self.finished = True
                    self._buffer = b""
                    return b"".join(pieces)
                self._need = size + 2
            take = min(self._need, end - at)
            # The chunk's closing CRLF is counted in _need and cut off here.
            keep = min(take, self._need - 2)
            if keep > 0:
                pieces.append(data[at : at + keep])
            at += take
            self._need -= take
            if self._need == 0:
                self._need = -1
        self._buffer = data[at:]
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class _EventStream(asyncio.Protocol):
    """HTTP/1.1 response head, then the body, chunked or not, handed to `on_data` per read."""

    def __init__(
        self, request: bytes, on_data: OnData, ready: asyncio.Event, raw: bool = False
    ) -> None:
        self.request = request
        self.on_data = on_data
        self.ready = ready
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._in_head = True
        self._raw = raw
        self._chunked = False
        self._body = Dechunker()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            data = self._head(self._buffer + data)
            if not data:
                return
        if self._raw or not self._chunked:
            self.on_data(data)
            return
        body = self._body.feed(data)
        if body:
            self.on_data(body)
        if self._body.finished:
            self._finish()

    def _head(self, data: bytes) -> bytes:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self._buffer = data
            if len(data) > _MAX_HEAD:
                self._fail(ConnectionError("response head too large"))
            return b""
        head, rest = data[:end], data[end + 4 :]
        self._buffer = b""
        self._in_head = False
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
        if status != b"200":
            self._fail(ConnectionError(f"GET /event: {head[:200]!r}"))
            return b""
        self._chunked = b"transfer-encoding: chunked" in head.lower()
        if self._raw and not self._chunked:
            self._fail(ConnectionError(f"GET /event: not a chunked stream: {head[:200]!r}"))
            return b""
        self.ready.set()
        return rest

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail(exc)
        else:
            self._finish()


def directory_headers(directory: str | None) -> dict[str, str]:
    """The header that picks the project a request is about (none: the server's own)."""
    return {"x-opencode-directory": directory} if directory else {}


async def subscribe(
    url: str,
    path: str,
    on_data: OnData,
    ready: asyncio.Event,
    headers: dict[str, str],
    raw: bool = False,
) -> None:
    """Read `path` as an event stream until cancelled or the server closes it.

    `ready` is set once the response headers are in (the server has registered the subscriber).
    `raw`: `on_data` gets the body as it came, chunked (see `Dechunker`), and the end of a
    chunked body is not looked for.
    """
    parts = urlsplit(url)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"GET {path} HTTP/1.1\r\nhost: {parts.netloc}\r\naccept: text/event-stream\r\n{extra}\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_connection(
        lambda: _EventStream(request, on_data, ready, raw),
        parts.hostname or "127.0.0.1",
        parts.port or 80,
    )
    try:
        await stream.done
    finally:
        if stream.transport is not None:
            stream.transport.close()
