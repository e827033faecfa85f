"""Fixtures for agent tests: fake providers, a configured server, and an /event recorder."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.agent.fakes import FakeProvider
from tests.serverproc import RunningServer

Json = dict[str, Any]


@pytest.fixture
def openai_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


@pytest.fixture
def anthropic_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider("anthropic").start()
    yield fake
    fake.stop()


def provider_config(fake: FakeProvider) -> Json:
    if fake.protocol == "openai":
        spec = {
            "npm": "@ai-sdk/openai-compatible",
            "options": {"baseURL": fake.url + "/v1", "apiKey": "{env:FAKE_KEY}"},
            "models": {"m1": {"cost": {"input": 1, "output": 2}}},
        }
        return {"provider": {"fake": spec}, "model": "fake/m1"}
    spec = {
        "npm": "@ai-sdk/anthropic",
        "options": {"baseURL": fake.url, "apiKey": "{env:FAKE_KEY}"},
        "models": {"claude-test": {"cost": {"input": 3, "output": 15}}},
    }
    return {"provider": {"anth": spec}, "model": "anth/claude-test"}


@dataclass
class Agent:
    """A running pyopencode server with a project directory and a client bound to it."""

    server: RunningServer
    project: Path
    client: httpx.Client

    def session(self) -> str:
        r = self.client.post("/session", json={})
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def prompt(self, session_id: str, text: str, **extra: Any) -> httpx.Response:
        body = {"parts": [{"type": "text", "text": text}], **extra}
        return self.client.post(f"/session/{session_id}/message", json=body, timeout=60)

    def messages(self, session_id: str) -> httpx.Response:
        return self.client.get(f"/session/{session_id}/message")

    def events(self) -> EventRecorder:
        return EventRecorder(self.server.url, str(self.project))


@pytest.fixture
def start_agent(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> Iterator[Callable[..., Agent]]:
    clients: list[httpx.Client] = []

    def start(config: Json | None) -> Agent:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        project = tmp_path / "project"
        project.mkdir(exist_ok=True)
        env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "FAKE_KEY": "sk-fake"}
        if config is not None:
            path = tmp_path / "opencode.json"
            path.write_bytes(orjson.dumps(config))
            env["OPENCODE_CONFIG"] = str(path)
        server = server_factory(env=env)
        client = httpx.Client(base_url=server.url, params={"directory": str(project)}, timeout=30)
        clients.append(client)
        return Agent(server, project, client)

    yield start
    for c in clients:
        c.close()


class EventRecorder:
    """Subscribes to /event in a thread and keeps every event; use as a context manager."""

    def __init__(self, url: str, directory: str) -> None:
        self.url = url
        self.directory = directory
        self.events: list[Json] = []
        self._connected = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EventRecorder:
        self._thread.start()
        assert self._connected.wait(10), "never connected to /event"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop = True

    def _run(self) -> None:
        # The server goes away at the end of each test.
        with contextlib.suppress(httpx.HTTPError):
            self._read()

    def _read(self) -> None:
        with httpx.stream(
            "GET", f"{self.url}/event", params={"directory": self.directory}, timeout=None
        ) as r:
            for line in r.iter_lines():
                if self._stop:
                    return
                if line.startswith("data: "):
                    event = orjson.loads(line[6:])
                    if event["type"] == "server.connected":
                        self._connected.set()
                    self.events.append(event)

    def of(self, session_id: str) -> list[Json]:
        return [
            e for e in self.events if (e.get("properties") or {}).get("sessionID") == session_id
        ]

    def wait_for(self, predicate: Callable[[Json], bool], timeout: float = 20) -> Json:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = max(seen, 0)
            time.sleep(0.02)
        raise AssertionError(f"event never arrived; saw {[e['type'] for e in self.events]}")

    def wait_idle(self, session_id: str, timeout: float = 20) -> None:
        self.wait_for(
            lambda e: e["type"] == "session.idle" and e["properties"]["sessionID"] == session_id,
            timeout,
        )
