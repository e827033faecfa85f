"""HTTP Basic authentication for every route, as ASGI middleware in front of routing."""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from pyopencode.server.errors import send_named

HEALTH_PATH = "/global/health"
_CHALLENGE = ((b"www-authenticate", b'Basic realm="pyopencode"'),)
# Without credentials, health answers only this: a liveness probe (load balancer, systemd,
# `pyopencode check` before it knows the password) needs a 200, and this tells nobody more
# than a TCP connect already does. The version, which helps an attacker pick exploits, and
# everything else need the password.
_ANONYMOUS_HEALTH = orjson.dumps({"healthy": True})


def _credentials(scope: Scope) -> tuple[bytes, bytes] | None:
    for name, value in scope.get("headers", ()):
        if name != b"authorization":
            continue
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            decoded = b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        user, sep, password = decoded.partition(b":")
        return (user, password) if sep else None
    return None


class BasicAuth:
    """Refuses every request without the right username and password with 401."""

    def __init__(self, app: ASGIApp, username: str, password: str) -> None:
        self.app = app
        self._username = username.encode()
        self._password = password.encode()

    def authorized(self, scope: Scope) -> bool:
        given = _credentials(scope)
        if given is None:
            return False
        # Both compared in constant time, and both always compared, so timing tells neither
        # which part was wrong nor how much of it was right.
        user_ok = hmac.compare_digest(given[0], self._username)
        password_ok = hmac.compare_digest(given[1], self._password)
        return user_ok & password_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            if b"ticket=" in scope.get("query_string", b""):
                # Browsers cannot put credentials on a WebSocket; a terminal's connect ticket
                # (itself issued only to an authenticated caller) stands in, and the route
                # refuses the connection unless it redeems one.
                scope["pyopencode.ticket_only"] = True
                await self.app(scope, receive, send)
                return
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_ANONYMOUS_HEALTH)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": _ANONYMOUS_HEALTH})
            return
        await send_named(
            send, 401, "UnauthorizedError", "Authentication required", headers=_CHALLENGE
        )
