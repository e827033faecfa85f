"""JSON in and out: strict orjson parsing of bodies, and fast responses from stored JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

_TRUE = b"true"


class JsonRequest(Request):
    """Parses with orjson, which refuses what cannot be stored: NaN, lone surrogates, bad UTF-8."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = orjson.loads(body)
            try:
                # Parsed but unstorable (nesting too deep for the encoder): refuse it now, as
                # bad input, rather than fail after the write has begun.
                orjson.dumps(value)
            except orjson.JSONEncodeError as exc:
                raise json.JSONDecodeError(str(exc), body.decode(errors="replace"), 0) from exc
            self._json = value
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return route


async def send_json(
    send: Send, body: bytes, status: int = 200, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A JSON response sent straight over ASGI, where there is no Response to return."""
    start = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def json_response(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def raw_json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def true_response() -> Response:
    return raw_json(_TRUE)
