"""Terminals over real HTTP and a real WebSocket: output, input, resize, and the process gone."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.schema import reference
from tests.serverproc import RunningServer


def _valid(template: str, method: str, status: int, body: Any) -> None:
    assert reference().response_problems(template, method, status, body) == []


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether no process in group `pid` is left (its leader started the group)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


async def _read_until(ws: Any, needle: str, timeout: float = 10.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} never arrived; got {seen[-500:]!r}")
        frame = await asyncio.wait_for(ws.recv(), left)
        if isinstance(frame, str):
            seen += frame
    return seen


def _ws_url(server: RunningServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the bad-input cases: starting one per case cost seconds each."""
    base = tmp_path_factory.mktemp("pty")
    (base / "work").mkdir()
    server = RunningServer(data_dir=base / "data", cwd=base / "work").start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def no_terminals(shared_server: RunningServer) -> Iterator[RunningServer]:
    """The shared server with no terminal open, as a fresh one has; whatever a test opened is
    removed after it, pass or fail, so the next case starts from nothing too."""
    with httpx.Client(base_url=shared_server.url, timeout=10) as c:
        assert c.get("/pty").json() == []
        yield shared_server
        for terminal in c.get("/pty").json():
            assert c.delete(f"/pty/{terminal['id']}").status_code == 200


def test_terminal_lifecycle(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    shells = c.get("/pty/shells")
    assert shells.status_code == 200
    _valid("/pty/shells", "get", 200, shells.json())

    created = c.post("/pty", json={"command": "/bin/sh", "title": "t1"})
    assert created.status_code == 200, created.text
    info = created.json()
    _valid("/pty", "post", 200, info)
    assert info["status"] == "running" and info["cwd"] == str(server.cwd)
    pid, pty_id = info["pid"], info["id"]
    os.killpg(pid, 0)  # the group exists

    listed = c.get("/pty").json()
    _valid("/pty", "get", 200, listed)
    assert [t["id"] for t in listed] == [pty_id]

    async def session() -> str:
        async with websockets.connect(_ws_url(server, f"/pty/{pty_id}/connect")) as ws:
            await ws.send("echo $((6*7))-$PWD\n")
            out = await _read_until(ws, f"42-{server.cwd}")
            await ws.send("stty size\n")
            return out + await _read_until(ws, "24 80")

    asyncio.run(session())

    resized = c.put(f"/pty/{pty_id}", json={"size": {"rows": 33, "cols": 101}, "title": "t2"})
    assert resized.status_code == 200
    _valid("/pty/{ptyID}", "put", 200, resized.json())
    assert resized.json()["title"] == "t2"

    async def after_resize() -> tuple[str, int]:
        # The replay from cursor 0 brings the earlier output back to a new viewer.
        async with websockets.connect(_ws_url(server, f"/pty/{pty_id}/connect?cursor=0")) as ws:
            replay = await _read_until(ws, "42-")
            meta = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(meta, bytes) and meta[:1] == b"\x00"
            cursor = orjson.loads(meta[1:])["cursor"]
            await ws.send("stty size\n")
            await _read_until(ws, "33 101")
            return replay, cursor

    replay, cursor = asyncio.run(after_resize())
    assert cursor >= len(replay)

    removed = c.delete(f"/pty/{pty_id}")
    assert removed.status_code == 200 and removed.json() is True
    assert _gone(pid), "the terminal's process group outlived its removal"
    missing = c.get(f"/pty/{pty_id}")
    assert missing.status_code == 404
    _valid("/pty/{ptyID}", "get", 404, missing.json())
    assert c.get("/pty").json() == []


def test_child_processes_die_with_the_terminal(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    info = c.post("/pty", json={"command": "/bin/sh", "args": ["-c", "sleep 300 & sleep 300"]})
    pid = info.json()["pid"]
    time.sleep(0.3)
    os.killpg(pid, 0)
    assert c.delete(f"/pty/{info.json()['id']}").status_code == 200
    assert _gone(pid)


def test_server_stop_kills_terminals(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    pids = [c.post("/pty", json={"command": "/bin/sh"}).json()["pid"] for _ in range(2)]
    server.stop()
    assert all(_gone(pid) for pid in pids)


def test_instance_dispose_kills_its_terminals(server: RunningServer, tmp_path: Any) -> None:
    other = tmp_path / "other"
    other.mkdir()
    c = httpx.Client(base_url=server.url, timeout=10)
    mine = c.post("/pty", params={"directory": str(other)}, json={}).json()
    kept = c.post("/pty", json={"command": "/bin/sh"}).json()
    disposed = c.post("/instance/dispose", params={"directory": str(other)})
    assert disposed.status_code == 200 and disposed.json() is True
    assert _gone(mine["pid"])
    assert [t["id"] for t in c.get("/pty").json()] == [kept["id"]]


def test_exit_is_reported(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    info = c.post("/pty", json={"command": "/bin/sh", "args": ["-c", "exit 3"]}).json()
    deadline = time.monotonic() + 10
    got = info
    while got["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        got = c.get(f"/pty/{info['id']}").json()
    assert got["status"] == "exited" and got["exitCode"] == 3
    _valid("/pty/{ptyID}", "get", 200, got)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/pty", {"cwd": "does/not/exist"}, 400),
        ("post", "/pty", {"command": "/no/such/program"}, 400),
        ("post", "/pty", {"title": 5}, 400),
        ("post", "/pty", {"unknown": 1}, 400),
        ("put", "/pty/{id}", {"size": {"rows": 0, "cols": 3}}, 400),
        ("get", "/pty/nope", None, 400),
        ("get", "/pty/ptynope", None, 404),
        ("delete", "/pty/ptynope", None, 404),
        ("post", "/pty/ptynope/connect-token", None, 404),
        ("get", "/api/pty/ptynope", None, 404),
        ("post", "/api/pty", {"args": "x"}, 400),
    ],
)
def test_bad_input_changes_nothing(
    no_terminals: RunningServer, method: str, path: str, body: Any, status: int
) -> None:
    c = httpx.Client(base_url=no_terminals.url, timeout=10)
    existing = c.post("/pty", json={"command": "/bin/sh", "title": "keep"}).json()
    path = path.replace("{id}", existing["id"])
    r = c.request(method, path, json=body)
    assert r.status_code == status, r.text
    template = path.replace(existing["id"], "{ptyID}")
    for name in ("nope", "ptynope"):
        template = template.replace(f"/{name}", "/{ptyID}")
    _valid(template, method, status, r.json())
    assert c.get("/pty").json() == [existing]


def test_v2_routes_and_ticket(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(env={"OPENCODE_SERVER_PASSWORD": "pw"})
    auth = ("opencode", "pw")
    c = httpx.Client(base_url=server.url, timeout=10, auth=auth)
    created = c.post("/api/pty", json={"command": "/bin/sh"})
    assert created.status_code == 200, created.text
    _valid("/api/pty", "post", 200, created.json())
    pty_id = created.json()["data"]["id"]
    _valid("/api/pty", "get", 200, c.get("/api/pty").json())
    _valid("/api/pty/{ptyID}", "get", 200, c.get(f"/api/pty/{pty_id}").json())
    token = c.post(f"/api/pty/{pty_id}/connect-token")
    _valid("/api/pty/{ptyID}/connect-token", "post", 200, token.json())
    ticket = token.json()["data"]["ticket"]
    url = _ws_url(server, f"/api/pty/{pty_id}/connect")

    async def attempts() -> None:
        # Neither credentials nor a ticket: refused.
        with pytest.raises(InvalidStatus):
            async with websockets.connect(url) as ws:
                await ws.recv()
        # A ticket works once.
        async with websockets.connect(f"{url}?ticket={ticket}") as ws:
            await ws.send("echo ticket-$((1+1))\n")
            await _read_until(ws, "ticket-2")
        with pytest.raises(InvalidStatus):
            async with websockets.connect(f"{url}?ticket={ticket}") as ws:
                await ws.recv()
        # Basic credentials work too.
        header = "Basic " + base64.b64encode(b"opencode:pw").decode()
        async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
            await ws.send("echo creds-$((2+2))\n")
            await _read_until(ws, "creds-4")

    asyncio.run(attempts())
    assert httpx.post(f"{server.url}/api/pty/{pty_id}/connect-token").status_code == 401
    updated = c.put(f"/api/pty/{pty_id}", json={"title": "renamed"})
    _valid("/api/pty/{ptyID}", "put", 200, updated.json())
    pid = created.json()["data"]["pid"]
    assert c.delete(f"/api/pty/{pty_id}").status_code == 204
    assert _gone(pid)


def test_output_buffer_is_bounded_in_bytes(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    script = "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo produced-all; sleep 60"
    info = c.post("/pty", json={"command": "/bin/sh", "args": ["-c", script]}).json()
    url = _ws_url(server, f"/pty/{info['id']}/connect")

    async def replay() -> tuple[str, int]:
        async with websockets.connect(url) as ws:
            await _read_until(ws, "produced-all", timeout=30)
        async with websockets.connect(url + "?cursor=0", max_size=None) as ws:
            kept = ""
            while True:
                frame = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(frame, bytes):
                    return kept, orjson.loads(frame[1:])["cursor"]
                kept += frame

    kept, cursor = asyncio.run(replay())
    assert cursor > 3_000_000
    assert 0 < len(kept.encode()) <= 1024 * 1024 + 65536
    assert kept.rstrip().endswith("produced-all")
    pid = info["pid"]
    assert httpx.post(f"{server.url}/global/dispose").json() is True
    assert _gone(pid)
    assert c.get("/pty").json() == []
