"""Browser-borne attacks over real sockets: DNS rebinding (Host), cross-origin writes, 415."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.hardening.support import start_server, stop_server
from tests.schema import reference
from tests.serverproc import RunningServer

ALLOWED = "app.example.test"
CORS = "https://ui.example.test"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--allowed-host", ALLOWED, "--cors", CORS]
    server = start_server(tmp_path_factory.mktemp("guard"), extra_args=args)
    yield server
    stop_server(server)


def _exchange(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _count(server: RunningServer) -> int:
    return len(httpx.get(f"{server.url}/session", params={"limit": 10000}).json())


def _post_session(host: str, extra: str = "", content_type: str = "application/json") -> bytes:
    body = b'{"title": "drive-by"}'
    return (
        f"POST /session HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def test_a_foreign_host_is_refused_and_changes_nothing(guarded: RunningServer) -> None:
    before = _count(guarded)
    for host in ("attacker.example", "attacker.example:4096", "10.0.0.8", "127.0.0.1.evil.test"):
        status, headers, body = _exchange(guarded, _post_session(host))
        assert status == 403, (host, body)
        error = orjson.loads(body)
        assert error["name"] == "ForbiddenError" and host in error["data"]["message"]
        assert headers["content-type"] == "application/json"
        status, _, body = _exchange(
            guarded, f"GET /session HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        assert status == 403, (host, body)
    assert _count(guarded) == before


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LOCALHOST:80", "[::1]:4096", ALLOWED, f"{ALLOWED}:1"]
)
def test_loopback_and_allowed_hosts_work(guarded: RunningServer, host: str) -> None:
    status, _, body = _exchange(guarded, _post_session(host))
    assert status == 200, body
    assert reference().response_problems("/session", "post", 200, orjson.loads(body)) == []


def test_a_cross_origin_text_plain_post_is_refused(guarded: RunningServer) -> None:
    before = _count(guarded)
    # What a form or fetch() on any page may send without a CORS preflight.
    origin = "Origin: https://evil.example\r\n"
    status, _, body = _exchange(guarded, _post_session("127.0.0.1", origin, "text/plain"))
    assert status == 403 and orjson.loads(body)["name"] == "ForbiddenError"
    # Same origin, or no Origin at all (not a browser): the content type is still wrong.
    for extra in ("", "Origin: http://127.0.0.1\r\n"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            status, headers, body = _exchange(
                guarded, _post_session("127.0.0.1", extra, content_type)
            )
            assert status == 415, body
            assert orjson.loads(body)["name"] == "UnsupportedMediaTypeError"
            assert headers["connection"] == "close"
    assert _count(guarded) == before


def test_origin_rules_for_writes(guarded: RunningServer) -> None:
    before = _count(guarded)
    status, _, body = _exchange(
        guarded, _post_session("127.0.0.1", "Origin: https://evil.example\r\n")
    )
    assert status == 403, body
    assert _count(guarded) == before
    # DELETE without a body is a write too.
    created = httpx.post(f"{guarded.url}/session", json={}).json()["id"]
    status, _, _ = _exchange(
        guarded,
        (
            f"DELETE /session/{created} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Origin: https://evil.example\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    assert status == 403
    assert httpx.get(f"{guarded.url}/session/{created}").status_code == 200
    # Reads are not writes: a foreign Origin on GET is left to CORS (no headers for it).
    r = httpx.get(f"{guarded.url}/session", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # The --cors origin and the server's own origin may write.
    netloc = urlsplit(guarded.url).netloc
    for origin in (CORS, guarded.url):
        status, _, body = _exchange(guarded, _post_session(netloc, f"Origin: {origin}\r\n"))
        assert status == 200, (origin, body)


def test_non_loopback_binding_does_not_check_host(tmp_path: Path) -> None:
    server = start_server(
        tmp_path,
        extra_args=["--hostname", "0.0.0.0", "--insecure-no-auth"],
    )
    try:
        request = b"GET /global/health HTTP/1.1\r\nHost: some.name\r\nConnection: close\r\n\r\n"
        status, _, body = _exchange(server, request)
        assert status == 200, body
    finally:
        stop_server(server)
