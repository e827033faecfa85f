"""`/api/session*` (v2) on PostgreSQL: two server processes share one database; a session made
and prompted through one is read, in v2 shapes, through the other."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.agent.conftest import provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.reference import require_spec
from tests.schema import reference
from tests.serverproc import RunningServer

require_spec()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider("openai").start()
    yield provider
    provider.stop()


def _ok(r: httpx.Response, template: str, method: str, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    if status == 204:
        return {}
    body: dict = r.json()
    assert reference().response_problems(template, method, status, body) == []
    return body


def test_v2_sessions_on_postgres(
    server_factory: Callable[..., RunningServer],
    fresh_pg_url: str,
    fake: FakeProvider,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    config = tmp_path / "opencode.json"
    config.write_bytes(orjson.dumps(provider_config(fake)))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "FAKE_KEY": "sk-fake",
        "OPENCODE_CONFIG": str(config),
    }
    servers = [server_factory(env=env, extra_args=["--database", fresh_pg_url]) for _ in range(2)]
    one, two = (
        httpx.Client(base_url=s.url, params={"directory": str(project)}, timeout=30)
        for s in servers
    )
    # Streamed over about three seconds, so the prompt is still running while it is looked at.
    fake.script = [Reply(text="answer from postgres", chunks=20, chunk_delay=0.15)]
    with one, two:
        made = _ok(one.post("/api/session", json={"agent": "plan"}), "/api/session", "post")
        sid = made["data"]["id"]
        seen = _ok(two.get(f"/api/session/{sid}"), "/api/session/{sessionID}", "get")
        assert seen["data"] == made["data"]

        r = two.post(f"/api/session/{sid}/model", json={"model": {"id": "m1", "providerID": "x"}})
        assert r.status_code == 400 and r.json()["_tag"] == "InvalidRequestError"
        r = two.post(f"/api/session/{sid}/agent", json={"agent": "build"})
        _ok(r, "/api/session/{sessionID}/agent", "post", 204)
        assert one.get(f"/api/session/{sid}").json()["data"]["agent"] == "build"

        r = one.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": "hi"}})
        admitted = _ok(r, "/api/session/{sessionID}/prompt", "post")["data"]
        running = {"data": {sid: {"type": "running"}}}
        deadline = time.monotonic() + 10
        while one.get("/api/session/active").json() != running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _ok(one.get("/api/session/active"), "/api/session/active", "get") == running
        # The other instance knows it is busy but does not run it.
        assert two.get("/api/session/active").json() == {"data": {}}
        while sid not in two.get("/session/status").json() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sid in two.get("/session/status").json()
        _ok(two.post(f"/api/session/{sid}/wait"), "/api/session/{sessionID}/wait", "post", 204)
        assert one.get("/api/session/active").json() == {"data": {}}

        msgs = _ok(
            two.get(f"/api/session/{sid}/message"), "/api/session/{sessionID}/message", "get"
        )
        assert [m["type"] for m in msgs["data"]] == ["assistant", "user"]
        assert msgs["data"][0]["agent"] == "build"
        assert msgs["data"][0]["content"][0]["text"] == "answer from postgres"
        assert msgs["data"][1]["id"] == admitted["id"]
        hist = _ok(
            two.get(f"/api/session/{sid}/history"), "/api/session/{sessionID}/history", "get"
        )
        assert hist["data"] == one.get(f"/api/session/{sid}/history").json()["data"]
        assert hist["data"][-1]["type"] == "session.next.step.ended"
        listed = _ok(two.get("/api/session"), "/api/session", "get")
        assert [s["id"] for s in listed["data"]] == [sid]

        assert two.delete(f"/session/{sid}").json() is True
        r = one.get(f"/api/session/{sid}/history")
        assert _ok(r, "/api/session/{sessionID}/history", "get", 404)["_tag"] == (
            "SessionNotFoundError"
        )
