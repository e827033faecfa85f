"""Cross-instance agent control: a prompt running on one instance is seen, aborted and stopped
through the others, three real server processes sharing one PostgreSQL database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from tests.agent.conftest import EventRecorder, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.serverproc import RunningServer

Json = dict[str, Any]

# About ten seconds of streaming, so the loop is busy long after every check below.
SLOW = Reply(text="x" * 80, chunks=40, chunk_delay=0.25)


@dataclass
class Cluster:
    servers: list[RunningServer]
    clients: list[httpx.Client]
    project: Path
    fake: FakeProvider
    url: str


@pytest.fixture
def slow_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


@pytest.fixture
def cluster(
    server_factory: Callable[..., RunningServer],
    fresh_pg_url: str,
    slow_fake: FakeProvider,
    tmp_path: Path,
) -> Iterator[Cluster]:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    config = tmp_path / "opencode.json"
    config.write_bytes(orjson.dumps(provider_config(slow_fake)))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "FAKE_KEY": "sk-fake",
        "OPENCODE_CONFIG": str(config),
    }
    servers = [server_factory(extra_args=["--database", fresh_pg_url], env=env) for _ in range(3)]
    clients = [
        httpx.Client(base_url=s.url, params={"directory": str(project)}, timeout=30)
        for s in servers
    ]
    try:
        yield Cluster(servers, clients, project, slow_fake, fresh_pg_url)
    finally:
        for client in clients:
            client.close()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{what} within {timeout}s")


def _status(client: httpx.Client) -> Json:
    response = client.get("/session/status")
    assert response.status_code == 200, response.text
    status: Json = response.json()
    return status


def _start(cluster: Cluster) -> str:
    """Create a session on A and start a slow prompt there; returns the session id."""
    a = cluster.clients[0]
    cluster.fake.script = [SLOW, Reply(text="unused"), Reply(text="unused")]
    created = a.post("/session", json={})
    assert created.status_code == 200, created.text
    sid = str(created.json()["id"])
    body = {"parts": [{"type": "text", "text": "go slowly"}]}
    response = a.post(f"/session/{sid}/prompt_async", json=body)
    assert response.status_code == 204, response.text
    return sid


def _rows(url: str, sid: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        messages = conn.execute("SELECT count(*) FROM message WHERE session_id=%s", (sid,))
        m = messages.fetchone()
        parts = conn.execute("SELECT count(*) FROM part WHERE session_id=%s", (sid,))
        p = parts.fetchone()
    assert m is not None and p is not None
    return int(m[0]), int(p[0])


def test_busy_everywhere_and_abort_through_another_instance(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    sid = _start(cluster)
    for client in (b, c):
        took = _wait(lambda cl=client: sid in _status(cl), 1.0, "busy never showed")  # type: ignore[misc]
        assert took < 1.0
    assert _status(b)[sid] == {"type": "busy"}
    _wait(lambda: bool(cluster.fake.requests), 10, "the model was never asked")
    time.sleep(0.5)  # well into the slow stream
    assert sid in _status(a) and sid in _status(c)

    started = time.monotonic()
    response = b.post(f"/session/{sid}/abort")
    assert response.status_code == 200 and response.json() is True
    # The abort answers once the owner reported idle, so B already knows.
    assert time.monotonic() - started < 5
    assert sid not in _status(b)

    def aborted() -> bool:
        messages = c.get(f"/session/{sid}/message").json()
        assistant = [m for m in messages if m["info"]["role"] == "assistant"]
        return (
            bool(assistant)
            and (assistant[-1]["info"].get("error") or {}).get("name") == "MessageAbortedError"
        )

    _wait(aborted, 3, "the assistant message was never marked aborted")
    assert time.monotonic() - started < 5  # long before the ten-second stream would end
    for client in (a, b, c):
        _wait(lambda cl=client: sid not in _status(cl), 2, "status stayed busy")  # type: ignore[misc]
    assert len(cluster.fake.requests) == 1


def test_abort_through_the_owner_clears_status_everywhere(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    sid = _start(cluster)
    _wait(lambda: sid in _status(c), 1.0, "busy never showed on C")
    _wait(lambda: bool(cluster.fake.requests), 10, "the model was never asked")
    response = a.post(f"/session/{sid}/abort")
    assert response.status_code == 200 and response.json() is True
    assert sid not in _status(a)
    for client in (b, c):
        _wait(lambda cl=client: sid not in _status(cl), 2, "status stayed busy")  # type: ignore[misc]
    messages = b.get(f"/session/{sid}/message").json()
    assert messages[-1]["info"]["error"]["name"] == "MessageAbortedError"


def test_delete_through_another_instance_stops_the_loop(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    with EventRecorder(cluster.servers[2].url, str(cluster.project)) as recorder:
        sid = _start(cluster)
        _wait(lambda: sid in _status(c), 1.0, "busy never showed on C")
        _wait(lambda: bool(cluster.fake.requests), 10, "the model was never asked")
        _wait(lambda: _rows(cluster.url, sid)[1] > 0, 5, "the loop never stored a part")
        time.sleep(0.5)

        response = b.delete(f"/session/{sid}")
        assert response.status_code == 200, response.text
        recorder.wait_for(
            lambda e: e["type"] == "session.deleted" and e["properties"]["sessionID"] == sid, 5
        )
        for client in (a, b, c):
            _wait(lambda cl=client: sid not in _status(cl), 2, "status stayed busy")  # type: ignore[misc]
        # Long enough for several more chunks, had A's loop gone on.
        time.sleep(2.0)
        assert _rows(cluster.url, sid) == (0, 0)
        events = recorder.of(sid)
        types = [e["type"] for e in events]
        assert types.count("session.deleted") == 1
        after = types[types.index("session.deleted") + 1 :]
        assert after == [], after
        assert "session.status" in types  # busy came from A through PostgreSQL
    assert a.get(f"/session/{sid}").status_code == 404
    assert len(cluster.fake.requests) == 1
    for client in (a, b, c):
        assert sid not in _status(client)


@pytest.mark.slow
def test_heartbeat_keeps_status_and_a_dead_owner_expires(cluster: Cluster) -> None:
    """A prompt longer than the status lifetime stays busy; its owner's death clears it."""
    a, b, c = cluster.clients
    long = Reply(text="x" * 120, chunks=120, chunk_delay=0.5)  # about a minute of streaming
    cluster.fake.script = [long]
    created = a.post("/session", json={})
    sid = str(created.json()["id"])
    body = {"parts": [{"type": "text", "text": "go very slowly"}]}
    assert a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
    _wait(lambda: sid in _status(b), 1.0, "busy never showed on B")
    time.sleep(25)  # past STATUS_TTL_SECONDS: only the owner's heartbeat keeps it
    assert sid in _status(b) and sid in _status(c)
    cluster.servers[0].kill9()
    took = _wait(lambda: sid not in _status(b), 35, "a dead owner's status never expired")
    assert sid not in _status(c)
    assert took > 1  # expired, not reported idle by an owner that is gone
