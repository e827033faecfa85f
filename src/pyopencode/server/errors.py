"""Error rendering in upstream's JSON shapes; the one place that maps failures to statuses."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from pyopencode import errors
from pyopencode.model import session as sm
from pyopencode.server.json import json_response, send_json

# What an operation on one session declares beside its answer: a bad request, or no session.
SESSION_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": sm.InvalidRequestError},
    404: {"model": sm.NotFoundError},
}

log = logging.getLogger("pyopencode.server")

_KIND = {"body": "Body", "query": "Query", "path": "Params", "header": "Headers"}


def named(name: str, message: str, status: int) -> Response:
    return json_response({"name": name, "data": {"message": message}}, status)


async def send_named(
    send: Send,
    status: int,
    name: str,
    message: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """The same `{name, data: {message}}` shape, sent from ASGI middleware (no Request there)."""
    await send_json(
        send, orjson.dumps({"name": name, "data": {"message": message}}), status, headers
    )


def invalid_request(message: str, kind: str | None, field: str | None) -> Response:
    body: dict[str, Any] = {"_tag": "InvalidRequestError", "message": message}
    if kind is not None:
        body["kind"] = kind
    if field is not None:
        body["field"] = field
    return json_response(body, 400)


# Operations whose 400 the reference spec types as `BadRequestError` ({name, data}); every
# other operation uses `InvalidRequestError` ({_tag, message}). Listed from the 1.18.33 spec:
# any operation that takes `?directory=` can answer 400 for a directory that does not exist.
_NAMED_400 = frozenset(
    (
        "app.agents",
        "app.skills",
        "command.list",
        "config.get",
        "config.providers",
        "experimental.capabilities.get",
        "experimental.console.get",
        "experimental.console.listOrgs",
        "experimental.projectCopy.generateName",
        "experimental.resource.list",
        "experimental.session.list",
        "experimental.workspace.adapter.list",
        "experimental.workspace.list",
        "experimental.workspace.status",
        "experimental.workspace.syncList",
        "file.list",
        "file.read",
        "file.status",
        "find.files",
        "find.symbols",
        "find.text",
        "formatter.status",
        "global.config.get",
        "global.dispose",
        "global.event",
        "global.health",
        "instance.dispose",
        "lsp.status",
        "mcp.auth.remove",
        "mcp.connect",
        "mcp.disconnect",
        "mcp.status",
        "path.get",
        "permission.list",
        "project.current",
        "project.directories",
        "project.initGit",
        "project.list",
        "provider.auth",
        "provider.list",
        "pty.connectToken",
        "pty.get",
        "pty.list",
        "pty.remove",
        "pty.shells",
        "question.list",
        "session.diff",
        "session.list",
        "session.share",
        "session.unshare",
        "sync.start",
        "tui.clearPrompt",
        "tui.control.next",
        "tui.control.response",
        "tui.openHelp",
        "tui.openModels",
        "tui.openSessions",
        "tui.openThemes",
        "tui.showToast",
        "tui.submitPrompt",
        "vcs.diff",
        "vcs.diff.raw",
        "vcs.get",
        "vcs.status",
    )
)


def _operation(request: Request) -> str | None:
    operation_id: str | None = getattr(request.scope.get("route"), "operation_id", None)
    return operation_id


def bad_request(
    operation_id: str | None, message: str, kind: str | None, field: str | None
) -> Response:
    if operation_id in _NAMED_400:
        data: dict[str, Any] = {"message": message}
        if kind is not None:
            data["kind"] = kind
        return json_response({"name": "BadRequest", "data": data}, 400)
    return invalid_request(message, kind, field)


def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if not problems:
        return bad_request(_operation(request), "Invalid request", None, None)
    first = problems[0]
    loc = [str(p) for p in first.get("loc", ())]
    kind = _KIND.get(loc[0]) if loc else None
    field = ".".join(loc[1:]) or None
    message = str(first.get("msg", "Invalid request"))
    if first.get("type") == "json_invalid":
        message = "Malformed JSON body"
        field = None
    elif field:
        message = f"{field}: {message}"
    return bad_request(_operation(request), message, kind, field)


def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.OpencodeError)
    return domain_error(exc, _operation(request))


def domain_error(exc: errors.OpencodeError, operation_id: str | None) -> Response:
    """A domain failure as the response its operation declares."""
    if isinstance(exc, errors.ProjectNotFoundError):
        body = {"_tag": "ProjectNotFoundError", "projectID": exc.project_id, "message": exc.message}
        return json_response(body, 404)
    if isinstance(exc, errors.NotFoundError):
        return named("NotFoundError", exc.message, 404)
    if isinstance(exc, errors.BadRequestError):
        return bad_request(operation_id, exc.message, exc.kind, exc.field)
    if isinstance(exc, errors.SessionBusyError):
        return json_response(
            {"_tag": "SessionBusyError", "sessionID": exc.session_id, "message": exc.message}, 409
        )
    if isinstance(exc, errors.PayloadTooLargeError):
        return named("PayloadTooLargeError", exc.message, 413)
    if isinstance(exc, errors.StorageUnavailableError):
        response = named("StorageUnavailableError", exc.message, 503)
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    return named(type(exc).__name__, exc.message, exc.status)


def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return named("NotFoundError", f"No route for {request.method} {request.url.path}", 404)
    if exc.status_code == 400:
        return bad_request(_operation(request), str(exc.detail), "Body", None)
    if exc.status_code == 405:
        return named("MethodNotAllowedError", f"{request.method} is not allowed here", 405)
    return named("HTTPError", str(exc.detail), exc.status_code)


def _unexpected(request: Request, exc: Exception) -> Response:
    # The path only: query strings may carry secrets.
    log.error(
        "unexpected error in %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return unexpected()


def unexpected() -> Response:
    """The answer to a failure nobody anticipated; the details stay in the server log."""
    return named("UnknownError", "Unexpected server error. Check server logs for details.", 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(errors.OpencodeError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
