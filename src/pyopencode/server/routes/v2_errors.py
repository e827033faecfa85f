"""The `/api/*` (v2) error bodies: `{_tag, ...}` shapes, one route class that renders them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pyopencode.errors import NotFoundError, SessionBusyError
from pyopencode.server.json import JsonRoute, json_response

SESSION_PREFIX = "Session not found: "
MESSAGE_PREFIX = "Message not found: "


def session_not_found(session_id: str) -> Response:
    return json_response(
        {
            "_tag": "SessionNotFoundError",
            "sessionID": session_id,
            "message": f"{SESSION_PREFIX}{session_id}",
        },
        404,
    )


def invalid_cursor() -> Response:
    return json_response({"_tag": "InvalidCursorError", "message": "Invalid cursor"}, 400)


def invalid_request(message: str, kind: str | None = None, field: str | None = None) -> Response:
    body: dict[str, Any] = {"_tag": "InvalidRequestError", "message": message}
    if kind is not None:
        body["kind"] = kind
    if field is not None:
        body["field"] = field
    return json_response(body, 400)


def not_available(feature: str, operation: str) -> Response:
    """A declared 400 for an operation whose feature this server does not run (yet)."""
    return invalid_request(
        f"{feature} is not available on this server yet ({operation})", kind="Feature"
    )


def _not_found(request: Request, exc: NotFoundError) -> Response:
    params = request.path_params
    session_id = str(params.get("sessionID", ""))
    if exc.message.startswith(MESSAGE_PREFIX):
        message_id = exc.message[len(MESSAGE_PREFIX) :]
        return json_response(
            {
                "_tag": "MessageNotFoundError",
                "sessionID": session_id,
                "messageID": message_id,
                "message": exc.message,
            },
            404,
        )
    if exc.message.startswith(SESSION_PREFIX):
        session_id = exc.message[len(SESSION_PREFIX) :]
    return session_not_found(session_id)


class V2Route(JsonRoute):
    """Renders the domain's not-found and busy failures in the v2 shapes the reference declares;
    everything else goes to the app's handlers (server/errors.py) as for v1."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFoundError as exc:
                return _not_found(request, exc)
            except SessionBusyError as exc:
                return json_response(
                    {"_tag": "ConflictError", "message": exc.message, "resource": exc.session_id},
                    409,
                )

        return route
