"""Limits: long URLs get 414, big bodies 413, slow bodies and slow headers 408; logs stay clean."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.hardening.support import AUTH, AUTH_ENV, PASSWORD, start_server, stop_server
from tests.serverproc import RunningServer

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--request-timeout", str(TIMEOUT), "--max-body-bytes", "100000", "--access-log"]
    server = start_server(tmp_path_factory.mktemp("limits"), extra_args=args, env=AUTH_ENV)
    yield server
    stop_server(server)


def _raw(server: RunningServer) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10)


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def _count(client: httpx.Client) -> int:
    return len(client.get("/session", params={"limit": 10000}).json())


def test_long_path_and_query_get_414(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url, auth=AUTH, timeout=10) as client:
        r = client.get("/session/" + "a" * 5000)
        assert r.status_code == 414 and r.json()["name"] == "URITooLongError"
        r = client.get("/session", params={"search": "x" * 9000})
        assert r.status_code == 414 and r.json()["data"]["message"]
        assert client.get("/session", params={"search": "x" * 100}).status_code == 200


def test_chunked_oversized_body_gets_413_and_writes_nothing(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url, auth=AUTH, timeout=10) as client:
        before = _count(client)

        def body() -> Iterator[bytes]:
            yield b'{"title": "'
            for _ in range(20):
                yield b"x" * 10000
            yield b'"}'

        r = client.post("/session", content=body(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["name"] == "PayloadTooLargeError"
        assert _count(client) == before


def test_slow_body_gets_408_and_writes_nothing(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url, auth=AUTH, timeout=10) as client:
        before = _count(client)
    sock = _raw(limited)
    auth = httpx.BasicAuth(*AUTH)._auth_header
    head = (
        "POST /session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth}\r\nContent-Length: 50\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"title": "slo')
    started = time.monotonic()
    answer = _read_all(sock, TIMEOUT * 4)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"RequestTimeoutError" in answer
    assert time.monotonic() - started < TIMEOUT * 3
    sock.close()
    with httpx.Client(base_url=limited.url, auth=AUTH, timeout=10) as client:
        assert _count(client) == before


def test_slowloris_headers_are_cut_off(limited: RunningServer) -> None:
    sock = _raw(limited)
    started = time.monotonic()
    sock.sendall(b"GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    closed = False
    # One header byte every half second, forever: the server must give up on its own.
    while time.monotonic() - started < TIMEOUT * 4:
        try:
            sock.sendall(b"X")
        except OSError:
            closed = True
            break
        sock.settimeout(0.5)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        closed = True
        break
    assert closed, "server kept a slowloris connection open"
    assert time.monotonic() - started < TIMEOUT * 3
    sock.close()
    # A connection that never sends anything is closed too.
    idle = _raw(limited)
    assert _read_all(idle, TIMEOUT * 4).startswith(b"HTTP/1.1 408")
    idle.close()


def test_a_body_in_the_same_read_as_the_headers_is_not_a_header(limited: RunningServer) -> None:
    sock = _raw(limited)
    body = b'{"title": "' + b"x" * 90000 + b'"}'
    auth = httpx.BasicAuth(*AUTH)._auth_header
    head = (
        "POST /session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    assert _read_all(sock, 10).startswith(b"HTTP/1.1 200")
    sock.close()


def test_huge_headers_are_refused(limited: RunningServer) -> None:
    sock = _raw(limited)
    sock.sendall(b"GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    # Every header is sent: the server must drain what it refuses, not reset the connection.
    for _ in range(100):
        sock.sendall(b"X-Filler: " + b"y" * 1000 + b"\r\n")
    answer = _read_all(sock, 5)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"connection: close" in head.lower()
    assert orjson.loads(body) == {
        "name": "HeadersTooLargeError",
        "data": {"message": "Request headers are larger than 65536 bytes"},
    }


def test_headers_over_the_cap_are_refused_however_the_reads_fall(
    limited: RunningServer,
) -> None:
    """The bytes of the read a request starts in count toward its cap: headers that came in
    one large read, then a few more, are refused (they used to be counted from the second
    read on, and the request waited out the header deadline with a 408)."""
    for first in (40_000, 63_000):
        sock = _raw(limited)
        line = b"GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        filler = b"X-Filler: " + b"y" * 1000 + b"\r\n"
        sock.sendall(line + filler * (first // len(filler)))
        time.sleep(0.3)  # the server reads all of that before the rest comes
        for _ in range((70_000 - first) // len(filler)):
            sock.sendall(filler)
        answer = _read_all(sock, 5)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 431"), (first, answer[:120])


def test_keep_alive_requests_each_get_their_own_header_cap(limited: RunningServer) -> None:
    """Headers are counted per request: many requests on one connection, each well under
    the cap, add up to more than it and are all answered."""
    sock = _raw(limited)
    auth = httpx.BasicAuth(*AUTH)._auth_header
    filler = b"X-Filler: " + b"y" * 1000 + b"\r\n"
    request = (
        b"GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
        + auth.encode()
        + b"\r\n"
        + filler * 20
        + b"\r\n"
    )
    sock.settimeout(10)
    for _ in range(5):  # 5 x 20 KB of headers on one connection
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head[:120]
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = head.partition(b"\r\n\r\n")[2]
        while len(body) < length:
            body += sock.recv(65536)
    sock.close()


def test_idle_connection_gets_a_408_body(limited: RunningServer) -> None:
    sock = _raw(limited)
    answer = _read_all(sock, TIMEOUT * 4)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert orjson.loads(body)["name"] == "RequestTimeoutError"
    assert orjson.loads(body)["data"]["message"]


def test_access_log_has_the_request_but_no_secrets(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    env = {**os.environ, **AUTH_ENV}
    command = [sys.executable, "-m", "pyopencode", "serve", "--port", "0", "--access-log"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*command, "--data-dir", str(tmp_path / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while not (match := re.search(r"listening on (http://\S+)", log_path.read_text())):
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
        url = match.group(1)
        with httpx.Client(base_url=url, auth=AUTH, timeout=10) as client:
            query = {"password": "hunter2", "token": "tok123", "limit": 3}
            assert client.get("/session", params=query).status_code == 200
        assert httpx.get(f"{url}/session", auth=("opencode", "wrong-guess")).status_code == 401
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    text = log_path.read_text()
    line = next(x for x in text.splitlines() if "GET /session?" in x)
    expected = r"GET /session\?password=REDACTED&token=REDACTED&limit=3 200 [\d.]+ms 127"
    assert re.search(expected, line)
    assert re.search(r"GET /session 401 [\d.]+ms 127\.0\.0\.1:\d+", text)
    for secret in ("hunter2", "tok123", PASSWORD, "wrong-guess", "Basic ", "b3Blbm"):
        assert secret not in text
