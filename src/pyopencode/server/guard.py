"""Browser-borne request checks: Host (DNS rebinding), Origin and JSON-only bodies on writes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from pyopencode.server.errors import send_named

_WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_CLOSE = ((b"connection", b"close"),)
_HOSTS_SEEN_MAX = 256


def host_name(host: str) -> str:
    """The name or address in a Host header value, without port or brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RequestGuard:
    """Refuses what a hostile web page can make a browser send to a local server.

    - A `Host` that is not a loopback name, the bound address, or an `--allowed-host` gets
      403 when the server is bound to loopback: a page whose name was rebound to 127.0.0.1
      still sends its own name.
    - A write (or WebSocket) whose `Origin` is present and not allowed gets 403.
    - A write with a body that is not `application/json` gets 415: that is the "simple
      request" a browser sends cross-origin without a preflight.
    """

    def __init__(
        self,
        app: ASGIApp,
        check_host: bool,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.check_host = check_host
        self.allowed_hosts = frozenset(host_name(h) for h in allowed_hosts)
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        # Host values already found allowed: parsing an address costs more than the rest of
        # a session read. Bounded, since every port number makes a new value.
        self._hosts_seen: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host: str | None = None
        raw_host: bytes | None = None
        origin: str | None = None
        content_type: bytes | None = None
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"host":
                raw_host = value
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                has_body = has_body or value.strip() not in (b"0", b"")
            elif name == b"transfer-encoding":
                has_body = True
        problem: tuple[int, str, str] | None = None
        if raw_host is not None and not self._host_ok(raw_host):
            problem = (403, "ForbiddenError", f"Host {host!r} is not allowed")
        elif kind == "websocket" or scope["method"] in _WRITES:
            if origin is not None and not self._origin_allowed(origin, host):
                problem = (403, "ForbiddenError", f"Origin {origin!r} is not allowed")
            elif kind == "http" and has_body and not _is_json(content_type):
                problem = (
                    415,
                    "UnsupportedMediaTypeError",
                    "Request bodies must be sent as content-type: application/json",
                )
        if problem is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            # The unread body stays on the socket, so the connection cannot be reused.
            await send_named(send, *problem, headers=_CLOSE)

    def _host_ok(self, raw: bytes) -> bool:
        if raw in self._hosts_seen:
            return True
        if not self._host_allowed(host_name(raw.decode("latin-1"))):
            return False
        if len(self._hosts_seen) < _HOSTS_SEEN_MAX:
            self._hosts_seen.add(raw)
        return True

    def _host_allowed(self, name: str) -> bool:
        if not self.check_host:
            return True
        return is_loopback_name(name) or name in self.allowed_hosts

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.allowed_origins:
            return True
        # Same origin: a page served from this very address.
        scheme, sep, rest = origin.partition("://")
        if sep and scheme in ("http", "https") and host is not None:
            return rest == host.strip().lower()
        return False


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"
