"""On PostgreSQL: each server process holds its own MCP connections; tool parts are shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tests.agent.conftest import provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.mcp_tests.conftest import local
from tests.pg.conftest import fresh_pg_url  # noqa: F401
from tests.serverproc import RunningServer


def test_mcp_prompt_on_postgres_and_per_instance_status(
    server_factory: Callable[..., RunningServer],
    fresh_pg_url: str,  # noqa: F811
    openai_fake: FakeProvider,
    tmp_path: Path,
) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    config = tmp_path / "opencode.json"
    config.write_bytes(orjson.dumps({**provider_config(openai_fake), "mcp": {"fix": local()}}))
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
    with a, b:
        assert a.get("/mcp").json() == {"fix": {"status": "connected"}}
        assert b.get("/mcp").json() == {"fix": {"status": "connected"}}
        openai_fake.script = [
            Reply(tool_calls=[{"id": "c1", "name": "fix_echo", "input": {"text": "pg"}}]),
            Reply(text="done"),
        ]
        sid = a.post("/session", json={}).json()["id"]
        r = a.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "go"}]})
        assert r.status_code == 200, r.text
        parts = [p for m in b.get(f"/session/{sid}/message").json() for p in m["parts"]]
        [tool] = [p for p in parts if p["type"] == "tool"]
        assert tool["tool"] == "fix_echo" and tool["state"]["output"] == "ECHO: PG"
        # Disconnecting is this instance's business: the other keeps its own connection.
        assert a.post("/mcp/fix/disconnect").json() is True
        assert a.get("/mcp").json() == {"fix": {"status": "disabled"}}
        assert b.get("/mcp").json() == {"fix": {"status": "connected"}}
