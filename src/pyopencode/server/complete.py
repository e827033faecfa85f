"""Outermost ASGI wrapper: every request gets a whole response, and a 5xx ends the connection."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyopencode.server.errors import send_named

log = logging.getLogger("pyopencode.server")

_CLOSE = (b"connection", b"close")
# The server's own `send`, left in the scope for the event stream's body writes (server/hot.py).
RAW_SEND = "pyopencode.raw_send"


class CompleteResponses:
    """Wraps the whole app, outside Starlette's ServerErrorMiddleware.

    That middleware answers an unhandled error with a 500 and then re-raises it; uvicorn then
    closes the socket without `Connection: close`, so a keep-alive client's next request hits a
    broken pipe. An error raised before any response (middleware, the hot routes) was worse:
    some paths dropped the connection with no answer at all. Here an error after a complete
    answer is swallowed, one before any answer gets a 500, and every 5xx says
    `Connection: close`, since the request body may be left unread.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        done = False
        scope[RAW_SEND] = send

        async def tracked(message: Message) -> None:
            nonlocal started, done
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 500:
                    headers = [h for h in message.get("headers", ()) if h[0] != b"connection"]
                    message = {**message, "headers": [*headers, _CLOSE]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if done:
                # Already answered (and logged) by the error handler.
                return
            if started:
                # Half a response cannot be completed honestly: let the server drop it.
                raise
            log.error(
                "unexpected error in %s %s: %s: %s",
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
                exc,
            )
            await send_named(
                send,
                500,
                "UnknownError",
                "Unexpected server error. Check server logs for details.",
                (_CLOSE,),
            )
