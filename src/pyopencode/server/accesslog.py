"""Access log: one line per request (method, path, status, duration, client), secrets redacted."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pyopencode.access")

# Query parameters whose values never reach the log. Headers are not logged at all, so the
# Authorization header cannot leak.
_SECRET_WORDS = ("password", "passwd", "token", "secret", "key", "auth", "credential")

_MAX_QUERY = 200  # one log line per request, not one per kilobyte of query


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_query(query: bytes) -> str:
    if not query:
        return ""
    text = query.decode("latin-1")
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        # Not key=value pairs: could be anything, so show only its size.
        return f"?<{len(query)} bytes>"
    cleaned = [(k, "REDACTED" if _is_secret(k) else v) for k, v in pairs]
    shown = urlencode(cleaned)  # re-encoded, so no raw control characters either
    return "?" + (shown if len(shown) <= _MAX_QUERY else shown[:_MAX_QUERY] + "...")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            # The app raised before answering: uvicorn will send a 500 (or drop the stream).
            status = status or 500
            raise
        finally:
            client = scope.get("client")
            remote = f"{client[0]}:{client[1]}" if client else "-"
            log.info(
                "%s %s%s %d %.1fms %s",
                scope["method"],
                # Escaped: a decoded %0A in the path must not forge a second log line.
                scope["path"].encode("unicode_escape").decode("ascii"),
                redact_query(scope.get("query_string", b"")),
                status,
                (time.perf_counter() - started) * 1000,
                remote,
            )
