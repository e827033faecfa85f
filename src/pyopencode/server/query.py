"""Repeated query parameters: a declared one given twice gets 400, as upstream answers it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from pyopencode.server import errors
from pyopencode.server.json import send_json


def declared_names(openapi: dict[str, Any]) -> frozenset[str]:
    """Every query parameter name any operation declares."""
    names = set()
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query":
                    names.add(parameter["name"])
    return frozenset(names)


def repeated(query: bytes, names: frozenset[str]) -> tuple[str, list[str]] | None:
    """The first declared parameter given more than once, with all its values."""
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in names:
            values.setdefault(name, []).append(value)
    for name, given in values.items():
        if len(given) > 1:
            return name, given
    return None


def operations(openapi: dict[str, Any]) -> list[tuple[re.Pattern[str], str, str]]:
    """(path pattern, method, operation id) of every documented operation."""
    found = []
    for template, ops in openapi.get("paths", {}).items():
        pattern = compile_path(template)[0]
        for method, op in ops.items():
            if isinstance(op, dict) and "operationId" in op:
                found.append((pattern, method.upper(), str(op["operationId"])))
    return found


def _operation_id(scope: Scope, known: list[tuple[re.Pattern[str], str, str]]) -> str | None:
    """The id of the operation the request is for (looked up only for a refused request)."""
    for pattern, method, operation_id in known:
        if method == scope["method"] and pattern.fullmatch(scope["path"]):
            return operation_id
    return None


class RepeatedQuery:
    """Every operation takes single-valued query parameters. Upstream 1.18.33 answers a
    declared one given twice (`?limit=1&limit=4`) with 400 BadRequest, kind Query, and ignores
    repeated unknown ones; so do we. Refusing beats picking one: a middleware reading the first
    value while a route reads the last would let one request mean two things."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._names: frozenset[str] | None = None
        self._operations: list[tuple[re.Pattern[str], str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] == "http" and b"&" in query:
            if self._names is None:
                # Built once, on the first query with several parameters.
                document = scope["app"].openapi()
                self._names = declared_names(document)
                self._operations = operations(document)
            found = repeated(query, self._names)
            if found is not None:
                name, values = found
                message = f"{name}: expected one value, got {orjson.dumps(values).decode()}"
                body: dict[str, Any] = {
                    "name": "BadRequest",
                    "data": {"message": message, "kind": "Query"},
                }
                operation = _operation_id(scope, self._operations)
                if operation is not None and not scope["path"].startswith("/api/"):
                    # The shape this operation declares for its 400, as for any bad query.
                    response = errors.bad_request(operation, message, "Query", name)
                    await send_json(send, bytes(response.body), 400)
                    return
                if scope["path"].startswith("/api/"):
                    # The v2 API's operations declare their 400 as InvalidRequestError.
                    body = {
                        "_tag": "InvalidRequestError",
                        "message": message,
                        "kind": "Query",
                        "field": name,
                    }
                await send_json(send, orjson.dumps(body), 400)
                return
        await self.app(scope, receive, send)
