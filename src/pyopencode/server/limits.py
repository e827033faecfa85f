"""ASGI middleware and HTTP protocol guards that bound what one request may cost."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pyopencode.server import chunked
from pyopencode.server.errors import send_named

_CLOSE = ((b"connection", b"close"),)
# How long a refused connection is drained before it is closed regardless.
_LINGER_SECONDS = 5.0


class _Refused(Exception):
    """Raised from `receive` so the route never runs on a cut-off body."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


class BodyLimit:
    """Refuses over-long URLs (414), bodies over the cap (413) without buffering them, and
    bodies that trickle in too slowly (408)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_path_bytes: int = 4096,
        max_query_bytes: int = 8192,
        body_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_path_bytes = max_path_bytes
        self.max_query_bytes = max_query_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("raw_path") or scope["path"].encode()
        if len(path) > self.max_path_bytes or len(scope["query_string"]) > self.max_query_bytes:
            message = (
                f"URL path is limited to {self.max_path_bytes} bytes and query string"
                f" to {self.max_query_bytes} bytes"
            )
            await send_named(send, 414, "URITooLongError", message, _CLOSE)
            return
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return
                has_body = has_body or declared > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            # HTTP/1.1 without a length or chunking means an empty body: nothing to bound, so
            # GETs and DELETEs skip the wrappers below.
            await self.app(scope, receive, send)
            return
        seen = 0
        complete = False
        refusal: _Refused | None = None
        started = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal seen, complete, refusal
            if refusal is not None:
                raise refusal
            if complete:
                # After the body only a disconnect can come; waiting for it has no deadline.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refusal = _Refused(
                    408,
                    "RequestTimeoutError",
                    f"Request body did not arrive within {self.body_timeout:g} seconds",
                )
                raise refusal from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Chunked bodies declare no length, so they are counted as they arrive.
                    refusal = _Refused(413, "PayloadTooLargeError", self._too_large_message())
                    raise refusal
                complete = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None:
                # The app caught the refusal and answered something else: ours wins.
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_Refused):
            await self.app(scope, limited_receive, guarded_send)
        if refusal is not None and not started:
            await send_named(send, refusal.status, refusal.name, refusal.message, _CLOSE)

    def _too_large_message(self) -> str:
        return f"Request body is larger than {self.max_bytes} bytes"

    async def _too_large(self, send: Send) -> None:
        await send_named(send, 413, "PayloadTooLargeError", self._too_large_message(), _CLOSE)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline and a size cap on request headers.

    uvicorn alone lets a client that sends its headers a byte at a time (slowloris) hold a
    connection forever, and httptools caps no header size. Set the class attributes before
    handing the class to uvicorn. Each request's scope also offers its connection for
    streamed chunks (server/chunked.py).
    """

    header_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024

    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes: int = 0
    _in_headers: bool = False
    _read_bytes: int = 0
    _discarding: bool = False
    _linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_headers()

    def _start_headers(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._give_up)

    def _stop_headers(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_headers:
            # Only what precedes the blank line is header; a body can share the same read.
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end
            if self._header_bytes > self.max_header_bytes:
                message = f"Request headers are larger than {self.max_header_bytes} bytes"
                reason = "Request Header Fields Too Large"
                self._reject(431, reason, "HeadersTooLargeError", message)
                return
        self._read_bytes = len(data)
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:
            # A later request on this connection: its headers began somewhere in this read,
            # so all of it counts (a little over, never under). The first request's were
            # counted since the connection opened; starting again here lost its first read,
            # and headers over the cap that came in one large read then waited for the 408.
            self._start_headers()
            self._header_bytes = self._read_bytes

    def on_headers_complete(self) -> None:
        self._stop_headers()
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # an upgrade or a refusal makes no cycle
            chunked.attach(self.scope, self.cycle)

    def eof_received(self) -> None:
        if self._discarding:
            self.transport.close()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_headers()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)

    def _give_up(self) -> None:
        self._header_timer = None
        if self._in_headers:
            message = f"Request headers did not arrive within {self.header_timeout:g} seconds"
            self._reject(408, "Request Timeout", "RequestTimeoutError", message)

    def _reject(self, status: int, reason: str, name: str, message: str) -> None:
        self._stop_headers()
        if self.transport.is_closing():
            return
        body = orjson.dumps({"name": name, "data": {"message": message}})
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        # Closing with the client's unread bytes in our socket would send a reset, and the
        # client could lose the answer. Say we are done (FIN), read and drop what still comes,
        # and close when the client does, or after a grace period.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(_LINGER_SECONDS, self.transport.close)
