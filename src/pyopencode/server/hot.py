"""Hot session routes (create, get, delete) served straight from ASGI, ahead of FastAPI."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyopencode import session as rules
from pyopencode.errors import NotFoundError, OpencodeError
from pyopencode.model.session import SessionCreate
from pyopencode.server import errors
from pyopencode.server.instance import DIRECTORY_HEADER, MAX_DIRECTORY, chosen, resolve
from pyopencode.server.json import send_json
from pyopencode.server.routes.session import MAX_ID
from pyopencode.server.state import State

_PREFIX = "/session/ses"
_ID_AT = len("/session/")
_INSTANCE_PARAMS = frozenset(("directory", "workspace"))
_DIRECTORY_HEADER = DIRECTORY_HEADER.encode()


class _FallThrough(Exception):
    """The request is off the common path: the FastAPI route answers it instead."""


class HotRoutes:
    """`POST /session` and `GET|DELETE /session/{id}` without per-request dependency solving.

    FastAPI's routing and dependency resolution cost several times what these operations do
    themselves, and they are what clients call most. Only the common shape is served here:
    anything else (a body that does not validate, unknown query parameters, a non-JSON
    content type) falls through to the FastAPI route with the body replayed, so errors keep a
    single implementation and the OpenAPI document still describes every operation. Sits
    inside the auth, CORS, access-log and body-limit middleware, so they apply unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            method: str = scope["method"]
            if path == "/session":
                if method == "POST":
                    await self._create(scope, receive, send)
                    return
            elif path.startswith(_PREFIX):
                session_id = path[_ID_AT:]
                if len(session_id) <= MAX_ID and "/" not in session_id:
                    if method == "GET":
                        await self._get(scope, session_id, send)
                        return
                    if method == "DELETE":
                        await self._delete(scope, session_id, send)
                        return
        await self.app(scope, receive, send)

    async def _get(self, scope: Scope, session_id: str, send: Send) -> None:
        raw = await _state(scope).store.get_session(session_id)
        if raw is None:
            await _send_error(send, NotFoundError.session(session_id), "session.get")
            return
        await send_json(send, raw)

    async def _delete(self, scope: Scope, session_id: str, send: Send) -> None:
        try:
            # Answers only after the cascade has committed, or raises NotFoundError.
            await _state(scope).store.delete_session(session_id)
        except OpencodeError as exc:
            await _send_error(send, exc, "session.delete")
            return
        await send_json(send, b"true")

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, receive = await _read_body(receive)
        try:
            fields = _create_fields(body, scope)
            directory = _directory(scope)
        except _FallThrough:
            await self.app(scope, receive, send)
            return
        state = _state(scope)
        try:
            instance = await resolve(state, directory)
            info = await state.store.create_session(rules.new_info(instance, fields))
        except OpencodeError as exc:
            await _send_error(send, exc, "session.create")
            return
        await send_json(send, orjson.dumps(info))


def _state(scope: Scope) -> State:
    state: State = scope["app"].state.pyopencode
    return state


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it over again if the request falls through."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # A disconnect before the body ended: let the full route see it as it is.
            pending: Message | None = message
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            pending = None
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _create_fields(body: bytes, scope: Scope) -> dict[str, Any]:
    if not body:
        return {}
    content_type = _header(scope, b"content-type")
    if content_type is None or content_type.split(b";")[0].strip() != b"application/json":
        # FastAPI also reads `+json` types, and refuses a body without a content type (its
        # strict_content_type): its call, made in one place.
        raise _FallThrough
    try:
        value = orjson.loads(body)
        # Parsed but too deeply nested to store again: the full route refuses it.
        orjson.dumps(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        raise _FallThrough from None
    if value is None:
        return {}
    try:
        fields: dict[str, Any] = SessionCreate.model_validate(value).model_dump(exclude_none=True)
    except ValidationError:
        raise _FallThrough from None
    return fields


def _directory(scope: Scope) -> str | None:
    """The instance directory, as `server/instance.py` reads it, for simple query strings."""
    directory: str | None = None
    query: bytes = scope["query_string"]
    if query:
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        names = [name for name, _ in params]
        if len(set(names)) != len(names) or not _INSTANCE_PARAMS.issuperset(names):
            raise _FallThrough
        for name, value in params:
            if len(value) > MAX_DIRECTORY:
                raise _FallThrough
            if name == "directory":
                directory = value
    header = _header(scope, _DIRECTORY_HEADER)
    return chosen(directory, header.decode("latin-1") if header is not None else None)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            result: bytes = value
            return result
    return None


async def _send_error(send: Send, exc: OpencodeError, operation_id: str) -> None:
    response = errors.domain_error(exc, operation_id)
    await send_json(send, bytes(response.body), response.status_code)
