"""Hot routes (session create, get, delete; the event stream) served from ASGI, ahead of FastAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyopencode.bus import Subscription
from pyopencode.errors import OpencodeError
from pyopencode.model.session import SessionCreate
from pyopencode.server import errors
from pyopencode.server.chunked import chunked_body
from pyopencode.server.complete import RAW_SEND
from pyopencode.server.instance import DIRECTORY_HEADER, MAX_DIRECTORY, chosen, resolve
from pyopencode.server.json import send_json
from pyopencode.server.params import MAX_ID
from pyopencode.server.routes import event, session
from pyopencode.server.state import State

log = logging.getLogger("pyopencode.server")

_PREFIX = "/session/ses"
_ID_AT = len("/session/")
_INSTANCE_PARAMS = frozenset(("directory", "workspace"))
_DIRECTORY_HEADER = DIRECTORY_HEADER.encode()
# Names the fast path on its answers when tracing is on, so tests can tell who answered.
SERVED_HEADER = b"x-pyopencode-served"

Operation = Callable[[State], Awaitable[bytes]]


class _FallThrough(Exception):
    """The request is off the common path: the FastAPI route answers it instead."""


def _operation_ids() -> dict[Callable[..., Any], str]:
    """Each fast operation's id, as the router declares it for the FastAPI route it mirrors."""
    endpoints: dict[Callable[..., Any], Callable[..., Any]] = {
        session.create_session: session.create,
        session.get_session: session.get,
        session.delete_session: session.delete,
        event.subscribe: event.directory_events,
    }
    found: dict[Callable[..., Any], str] = {
        endpoints[route.endpoint]: str(route.operation_id)
        for route in [*session.router.routes, *event.router.routes]
        if isinstance(route, APIRoute) and route.endpoint in endpoints
    }
    assert len(found) == len(endpoints), "a fast operation has no FastAPI route"
    return found


class HotRoutes:
    """A dispatcher for `POST /session`, `GET|DELETE /session/{id}` and `GET /event`: serve
    fast, or fall through.

    FastAPI's routing and dependency resolution cost several times what these operations do
    themselves, and they are what clients call most. Only the common shape of a request is
    served here, by the same operation function the FastAPI route calls. Anything else (a body
    that does not validate, unknown query parameters, a non-JSON content type) falls through
    to the FastAPI route with the body replayed, so errors keep a single implementation and the
    OpenAPI document still describes every operation. Sits inside the auth, CORS, access-log
    and body-limit middleware, so they apply unchanged.
    """

    def __init__(self, app: ASGIApp, trace: bool = False) -> None:
        self.app = app
        self._ids = _operation_ids()
        self._served: tuple[tuple[bytes, bytes], ...] = ((SERVED_HEADER, b"hot"),) if trace else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            method: str = scope["method"]
            if path == "/session":
                if method == "POST":
                    body, receive = await _read_body(receive)
                    try:
                        fields = _create_fields(body, scope)
                        directory = _directory(scope)
                    except _FallThrough:
                        pass
                    else:

                        async def create(state: State) -> bytes:
                            instance = await resolve(state, directory)
                            return await session.create(state, instance, fields)

                        await self._serve(scope, send, session.create, create)
                        return
            elif path == "/event" and method == "GET":
                try:
                    directory = _directory(scope)
                except _FallThrough:
                    pass
                else:
                    await self._events(scope, receive, send, directory)
                    return
            elif path.startswith(_PREFIX):
                session_id = path[_ID_AT:]
                if len(session_id) <= MAX_ID and "/" not in session_id:
                    if method == "GET":
                        op = session.get
                    elif method == "DELETE":
                        op = session.delete
                    else:
                        op = None
                    if op is not None:
                        await self._serve(scope, send, op, lambda s: op(s, session_id))
                        return
        await self.app(scope, receive, send)

    async def _events(
        self, scope: Scope, receive: Receive, send: Send, directory: str | None
    ) -> None:
        """`GET /event`, each batch of frames one `send`: past FastAPI's response machinery,
        which cost more per write than the write, times every subscriber on every event."""
        state = _state(scope)
        try:
            instance = await resolve(state, directory)
        except OpencodeError as exc:
            await self._refuse(send, exc, event.directory_events)
            return
        last = _header(scope, b"last-event-id")
        subscriptions: list[Subscription] = []
        frames = event.directory_events(
            state,
            instance.directory,
            last.decode("latin-1") if last is not None else None,
            subscriptions.append,
            chunked_body(scope),
        )
        # A client that goes away ends its subscription, which ends the stream.
        watcher = asyncio.ensure_future(_disconnected(receive))
        watcher.add_done_callback(lambda _: _close_all(subscriptions))
        headers = [*event.RAW_HEADERS, *self._served]
        # The middleware between here and the server looks at the start of an answer and at
        # its end, never at the bytes between: a stream's frames skip the chain, which cost
        # more per write than the write, times every subscriber on every event.
        write = scope.get(RAW_SEND, send)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in frames:
                await write({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            await frames.aclose()  # type: ignore[attr-defined]

    async def _serve(
        self, scope: Scope, send: Send, op: Callable[..., Any], call: Operation
    ) -> None:
        try:
            body = await call(_state(scope))
        except OpencodeError as exc:
            await self._refuse(send, exc, op)
            return
        except Exception as exc:
            # Never raise into the ASGI server: it would drop the connection unanswered.
            log.error("unexpected error in %s %s", scope["method"], scope["path"], exc_info=exc)
            response = errors.unexpected()
            await send_json(send, bytes(response.body), response.status_code, self._served)
            return
        await send_json(send, body, 200, self._served)

    async def _refuse(self, send: Send, exc: OpencodeError, op: Callable[..., Any]) -> None:
        """The error answer the FastAPI route of `op` gives for `exc`."""
        response = errors.domain_error(exc, self._ids[op])
        retry = response.headers.get("retry-after")
        headers = self._served + (((b"retry-after", retry.encode()),) if retry else ())
        await send_json(send, bytes(response.body), response.status_code, headers)


def _close_all(subscriptions: list[Subscription]) -> None:
    for sub in subscriptions:
        sub.close()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


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
