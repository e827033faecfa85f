"""Repeated query parameters: the first value wins, as in upstream, and the rest are dropped."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send


def first_values(query: bytes) -> bytes:
    """`query` with every parameter after its first occurrence removed (names compared decoded)."""
    seen: set[bytes] = set()
    kept: list[bytes] = []
    for pair in query.split(b"&"):
        if not pair:
            continue
        name = unquote_to_bytes(pair.split(b"=", 1)[0].replace(b"+", b" "))
        if name in seen:
            continue
        seen.add(name)
        kept.append(pair)
    return b"&".join(kept)


class FirstQueryValue:
    """Every operation takes single-valued query parameters only. Starlette would hand a route
    the last of several values and a middleware might read the first; one rule, applied
    before anything reads the query, means every layer sees the same value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] in ("http", "websocket") and b"&" in query:
            deduped = first_values(query)
            if deduped != query:
                scope = {**scope, "query_string": deduped}
        await self.app(scope, receive, send)
