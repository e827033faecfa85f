"""Titles, compaction and shell on PostgreSQL: two server processes share one database, and
what they store is read back from the database itself."""

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


@dataclass
class Pair:
    a: httpx.Client
    b: httpx.Client
    url: str
    server_url: str
    project: Path
    fake: FakeProvider


@pytest.fixture
def openai_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


@pytest.fixture
def pair(
    server_factory: Callable[..., RunningServer],
    fresh_pg_url: str,
    openai_fake: FakeProvider,
    tmp_path: Path,
) -> Iterator[Pair]:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    config = tmp_path / "opencode.json"
    config.write_bytes(orjson.dumps(provider_config(openai_fake)))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "FAKE_KEY": "sk-fake",
        "OPENCODE_CONFIG": str(config),
    }
    servers = [server_factory(extra_args=["--database", fresh_pg_url], env=env) for _ in range(2)]
    a, b = (
        httpx.Client(base_url=s.url, params={"directory": str(project)}, timeout=60)
        for s in servers
    )
    try:
        yield Pair(a, b, fresh_pg_url, servers[0].url, project, openai_fake)
    finally:
        a.close()
        b.close()


def _parts(url: str, sid: str) -> list[Json]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT data FROM part WHERE session_id=%s ORDER BY id", (sid,))
        return [orjson.loads(r[0]) for r in rows.fetchall()]


def _title(url: str, sid: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT title FROM session WHERE id=%s", (sid,)).fetchone()
    assert row is not None
    return str(row[0])


def _prompt(client: httpx.Client, sid: str, text: str) -> httpx.Response:
    body = {"parts": [{"type": "text", "text": text}]}
    return client.post(f"/session/{sid}/message", json=body)


def test_pg_title(pair: Pair) -> None:
    pair.fake.title = "Parrot diet"
    pair.fake.script = [Reply(text="Seeds.")]
    sid = pair.a.post("/session", json={}).json()["id"]
    assert _prompt(pair.a, sid, "What does the parrot eat?").status_code == 200
    deadline = time.monotonic() + 10
    while _title(pair.url, sid) != "Parrot diet" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _title(pair.url, sid) == "Parrot diet"
    assert pair.b.get(f"/session/{sid}").json()["title"] == "Parrot diet"


def test_pg_summarize(pair: Pair) -> None:
    pair.fake.script = [Reply(text="OLD-ANSWER"), Reply(text="THE-SUMMARY"), Reply(text="new")]
    sid = pair.a.post("/session", json={}).json()["id"]
    assert _prompt(pair.a, sid, "OLD-QUESTION").status_code == 200
    r = pair.b.post(f"/session/{sid}/summarize", json={"providerID": "fake", "modelID": "m1"})
    assert r.status_code == 200, r.text
    kinds = [p["type"] for p in _parts(pair.url, sid)]
    assert "compaction" in kinds
    summary = [m for m in pair.a.get(f"/session/{sid}/message").json() if m["info"].get("summary")]
    assert [p.get("text") for p in summary[0]["parts"] if p["type"] == "text"] == ["THE-SUMMARY"]
    assert _prompt(pair.a, sid, "NEXT").status_code == 200
    last = orjson.dumps(pair.fake.requests[-1]).decode()
    assert "OLD-QUESTION" not in last and "OLD-ANSWER" not in last
    assert "THE-SUMMARY" in last


def test_pg_shell_busy_across_instances(pair: Pair) -> None:
    pair.fake.script = [Reply(text="x" * 40, chunks=20, chunk_delay=0.1)]
    sid = pair.a.post("/session", json={}).json()["id"]
    with EventRecorder(pair.server_url, str(pair.project)) as rec:
        body = {"parts": [{"type": "text", "text": "slow"}]}
        assert pair.a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
        deadline = time.monotonic() + 10
        while sid not in pair.b.get("/session/status").json() and time.monotonic() < deadline:
            time.sleep(0.02)
        # Running on A: B refuses the command and stores nothing.
        shell = {"agent": "build", "command": "echo hi > out.txt"}
        r = pair.b.post(f"/session/{sid}/shell", json=shell)
        assert r.status_code == 409, r.text
        assert r.json()["_tag"] == "SessionBusyError"
        rec.wait_idle(sid)
    assert not (pair.project / "out.txt").exists()
    deadline = time.monotonic() + 10
    while sid in pair.b.get("/session/status").json() and time.monotonic() < deadline:
        time.sleep(0.02)
    r = pair.b.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo stored"})
    assert r.status_code == 200, r.text
    tools = [p for p in _parts(pair.url, sid) if p["type"] == "tool"]
    assert [(t["tool"], t["state"]["status"], t["state"]["output"]) for t in tools] == [
        ("bash", "completed", "stored\n")
    ]
