"""Helpers for the agent-parity tests: a project with a scratch HOME, a server, and requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.agent.conftest import EventRecorder
from tests.agent.fakes import FakeProvider
from tests.serverproc import RunningServer

Json = dict[str, Any]


@dataclass
class Project:
    server: RunningServer
    home: Path
    project: Path
    client: httpx.Client

    def events(self) -> EventRecorder:
        return EventRecorder(self.server.url, str(self.project))

    def session(self) -> str:
        r = self.client.post("/session", json={})
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def parts(self, session_id: str) -> list[Json]:
        r = self.client.get(f"/session/{session_id}/message")
        assert r.status_code == 200, r.text
        return [p for m in r.json() for p in m["parts"]]

    def tool_parts(self, session_id: str) -> list[Json]:
        return [p for p in self.parts(session_id) if p["type"] == "tool"]


def layout(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    (home / ".config" / "opencode").mkdir(parents=True, exist_ok=True)
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return home, project


def start(
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    config: Json | None,
    extra_args: list[str] | None = None,
) -> Project:
    home, project = layout(tmp_path)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "FAKE_KEY": "sk-fake"}
    if config is not None:
        path = tmp_path / "opencode.json"
        path.write_bytes(orjson.dumps(config))
        env["OPENCODE_CONFIG"] = str(path)
    server = server_factory(env=env, extra_args=extra_args)
    client = httpx.Client(base_url=server.url, params={"directory": str(project)}, timeout=30)
    return Project(server, home, project, client)


def system_of(request: Json) -> str:
    """The system prompt of a recorded OpenAI or Anthropic request."""
    if "system" in request:
        system = request["system"]
        return system if isinstance(system, str) else "".join(b["text"] for b in system)
    return "\n".join(
        m["content"] if isinstance(m["content"], str) else str(m["content"])
        for m in request["messages"]
        if m["role"] == "system"
    )


def tool_names(request: Json) -> list[str]:
    return sorted(t["function"]["name"] if "function" in t else t["name"] for t in request["tools"])


def wait_until(predicate: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition never held")


def with_model(fake: FakeProvider, model_id: str) -> Json:
    """An OpenAI-protocol provider whose one model is `model_id`."""
    spec = {
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": fake.url + "/v1", "apiKey": "{env:FAKE_KEY}"},
        "models": {model_id: {}},
    }
    return {"provider": {"fake": spec}, "model": f"fake/{model_id}"}
