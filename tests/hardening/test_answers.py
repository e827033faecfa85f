"""Failing clearly: bad numbers and directories get 400, a 5xx is whole, one server per data dir."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.hardening.support import start_server, stop_server
from tests.schema import reference
from tests.serverproc import RunningServer


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("answers"))
    yield server
    stop_server(server)


@pytest.mark.parametrize(
    "start", ["inf", "-inf", "nan", "1e19", "9223372036854775807", "1e309", "-1"]
)
def test_session_list_start_out_of_range_is_400(plain: RunningServer, start: str) -> None:
    r = httpx.get(f"{plain.url}/session", params={"start": start})
    assert r.status_code == 400, r.text
    assert r.json()["name"] == "BadRequest"
    assert reference().response_problems("/session", "get", 400, r.json()) == []


def test_session_list_start_in_range_is_fine(plain: RunningServer) -> None:
    for start in ("0", "1700000000000", str(2**53 - 1)):
        r = httpx.get(f"{plain.url}/session", params={"start": start})
        assert r.status_code == 200, r.text


def test_head_health(plain: RunningServer) -> None:
    r = httpx.head(f"{plain.url}/global/health")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == "application/json"


def test_directory_must_be_an_existing_directory(plain: RunningServer, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with httpx.Client(base_url=plain.url, timeout=10) as client:
        before = len(client.get("/session", params={"limit": 10000}).json())
        for directory in ("/tmp/x\x00y", str(a_file), str(tmp_path / "missing")):
            r = client.post("/session", params={"directory": directory}, json={})
            assert r.status_code == 400, (directory, r.text)
            assert r.json()["_tag"] == "InvalidRequestError" and "directory" in r.json()["message"]
            header = {"x-opencode-directory": directory.replace("\x00", "%00")}
            r = client.post("/session", headers=header, json={})
            assert r.status_code == 400, (directory, r.text)
            r = client.get("/session", params={"directory": directory})
            assert r.status_code == 400, (directory, r.text)
        assert len(client.get("/session", params={"limit": 10000}).json()) == before
        assert client.post("/session", params={"directory": str(tmp_path)}, json={}).is_success


def test_repeated_query_parameters_get_400(plain: RunningServer, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    with httpx.Client(base_url=plain.url, timeout=10) as client:
        before = len(client.get("/session", params={"limit": 10000}).json())
        for method, url, template in [
            ("GET", "/session?limit=1&limit=3", "/session"),
            ("GET", "/session?limit=3&start=0&limit=1", "/session"),
            ("POST", f"/session?directory={one}&directory={two}", "/session"),
            ("POST", f"/session?directory={two}&%64irectory={one}", "/session"),
            ("GET", f"/agent?directory={one}&directory={one}", "/agent"),
        ]:
            r = client.request(method, url, json={} if method == "POST" else None)
            assert r.status_code == 400, (url, r.text)
            body = r.json()
            # In the shape the reference declares for that operation's 400 (upstream itself
            # answers `{name: "BadRequest"}` everywhere, even where its spec says otherwise).
            problems = reference().response_problems(template, method.lower(), 400, body)
            assert problems == [], (url, body, problems)
            assert "expected one value" in r.text
        error = client.get("/session?limit=1&limit=3").json()
        assert reference().response_problems("/session", "get", 400, error) == []
        assert len(client.get("/session", params={"limit": 10000}).json()) == before
        # Parameters no operation declares are ignored, repeated or not (as upstream).
        assert client.get("/session?foo=1&foo=2&limit=1").status_code == 200


def _response(sock: socket.socket, buffer: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """One whole response read from a keep-alive socket, and what followed it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length], rest[length:]


def test_a_5xx_is_whole_and_the_connection_stays_usable(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory()
    parts = urlsplit(server.url)
    host = parts.netloc
    created = httpx.post(f"{server.url}/session", json={}).json()["id"]
    # Another process holds the write lock past the store's busy timeout.
    blocker = sqlite3.connect(server.db_path, timeout=1, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
            requests = [
                b"POST /session HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                f"DELETE /session/{created} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
            ]
            for request in requests:
                sock.sendall(request)
                status, headers, body, rest = _response(sock, b"")
                assert status >= 500, body
                # A whole answer in upstream's shape, not a dropped connection.
                error = orjson.loads(body)
                assert set(error) in ({"name", "data"}, {"_tag", "message"}), error
                if headers.get("connection") == "close":
                    assert sock.recv(1) == b""
                    break
                # Kept open: the next request on it must work.
                sock.sendall(f"GET /global/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                status, _, _, _ = _response(sock, rest)
                assert status == 200
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert httpx.get(f"{server.url}/session/{created}").status_code == 200


def _serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pyopencode", "serve", "--port", "0"]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        check=False,
    )


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--heartbeat", "0"),
        ("--heartbeat", "nan"),
        ("--sse-queue", "0"),
        ("--sse-queue-bytes", "-1"),
        ("--max-body-bytes", "-5"),
        ("--request-timeout", "0"),
        ("--event-buffer", "-1"),
    ],
)
def test_bad_serve_options_are_refused_at_start(tmp_path: Path, flag: str, value: str) -> None:
    done = _serve(tmp_path / "data", flag, value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert flag in done.stderr and "listening" not in done.stdout


def test_a_second_server_on_one_data_dir_refuses(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    first = server_factory(data_dir=tmp_path / "shared")
    assert first.proc is not None
    lock = (tmp_path / "shared" / "pyopencode.lock").read_text()
    assert f"pid {first.proc.pid}" in lock and first.url in lock
    done = _serve(tmp_path / "shared")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"pid {first.proc.pid}" in done.stderr and first.url in done.stderr
    assert "--database postgresql://" in done.stderr
    assert "listening" not in done.stdout
    # The first is untouched.
    assert httpx.get(f"{first.url}/global/health").status_code == 200
    # Once it is gone (even by kill -9), its lock is stale and the next server takes over.
    first.kill9()
    second = server_factory(data_dir=tmp_path / "shared")
    assert second.proc is not None
    assert f"pid {second.proc.pid}" in (tmp_path / "shared" / "pyopencode.lock").read_text()


def test_a_stale_lock_file_is_taken_over(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data = tmp_path / "stale"
    data.mkdir()
    (data / "pyopencode.lock").write_text("pid 999999 listening on http://127.0.0.1:1\n")
    server = server_factory(data_dir=data)
    assert httpx.get(f"{server.url}/global/health").status_code == 200
