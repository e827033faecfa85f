"""`GET /mcp` and run-time control: connected, disabled, failed, a hang, add, (dis)connect."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.agent.conftest import Agent
from tests.mcp_tests.conftest import alive, local, pids, wait_until
from tests.schema import reference


def _problems(path: str, method: str, status: int, body: object) -> list[str]:
    return reference().response_problems(path, method, status, body)


def test_status_of_connected_disabled_failed_and_hanging_servers(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    env = {"MCP_FIXTURE_PIDFILE": str(pidfile)}
    began = time.monotonic()
    agent = start_agent(
        {
            "mcp": {
                "fix": local(environment=env),
                "off": local(enabled=False, environment=env),
                "bad": {"type": "local", "command": [str(tmp_path / "no-such-command")]},
                "hang": local("--hang", timeout=1500, environment=env),
                "broken": {"type": "local"},
            }
        }
    )
    # The HTTP server answered before the hanging server's timeout could have passed.
    assert agent.client.get("/global/health").status_code == 200
    assert time.monotonic() - began < 30
    r = agent.client.get("/mcp")
    assert r.status_code == 200, r.text
    body = r.json()
    assert _problems("/mcp", "get", 200, body) == []
    assert body["fix"] == {"status": "connected"}
    assert body["off"] == {"status": "disabled"}
    assert body["bad"]["status"] == "failed"
    assert "no-such-command" in body["bad"]["error"]
    assert body["hang"] == {"status": "failed", "error": "Operation timed out after 1500ms"}
    assert body["broken"]["status"] == "failed"
    assert "command" in body["broken"]["error"]
    # The hanging server's process was ended when it timed out; the connected one lives on.
    started = pids(pidfile)
    assert len(started) == 2
    wait_until(lambda: sum(alive(p) for p in started) == 1, what="the hung server to be killed")


def test_add_connect_disconnect_at_run_time(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    agent = start_agent({"mcp": {}})
    assert agent.client.get("/mcp").json() == {}
    config = local(environment={"MCP_FIXTURE_PIDFILE": str(pidfile)})
    r = agent.client.post("/mcp", json={"name": "late", "config": config})
    assert r.status_code == 200, r.text
    assert r.json() == {"late": {"status": "connected"}}
    assert _problems("/mcp", "post", 200, r.json()) == []
    assert "late_echo" in agent.client.get("/experimental/tool/ids").json()
    [first] = pids(pidfile)
    assert alive(first)

    r = agent.client.post("/mcp/late/disconnect")
    assert r.status_code == 200 and r.json() is True
    assert agent.client.get("/mcp").json() == {"late": {"status": "disabled"}}
    wait_until(lambda: not alive(first), what="the disconnected server's process to end")
    assert "late_echo" not in agent.client.get("/experimental/tool/ids").json()

    r = agent.client.post("/mcp/late/connect")
    assert r.status_code == 200 and r.json() is True
    assert agent.client.get("/mcp").json() == {"late": {"status": "connected"}}
    assert len(pids(pidfile)) == 2 and alive(pids(pidfile)[1])
    assert "late_echo" in agent.client.get("/experimental/tool/ids").json()

    r = agent.client.post("/mcp", json={"name": "later", "config": {**config, "enabled": False}})
    assert r.json()["later"] == {"status": "disabled"}


def test_unknown_servers_and_bad_input_change_nothing(
    start_agent: Callable[..., Agent],
) -> None:
    agent = start_agent({"mcp": {"fix": local()}})
    before = agent.client.get("/mcp").json()
    for path in ("/mcp/nope/connect", "/mcp/nope/disconnect", "/mcp/nope/auth"):
        r = agent.client.post(path)
        assert r.status_code == 404, path
        assert r.json() == {
            "_tag": "McpServerNotFoundError",
            "name": "nope",
            "message": "MCP server not found: nope",
        }
        assert _problems(path.replace("nope", "{name}"), "post", 404, r.json()) == []
    r = agent.client.delete("/mcp/nope/auth")
    assert r.status_code == 404
    bad_bodies = [
        {"name": "x"},
        {"name": "x", "config": {"type": "local"}},
        {"name": "x", "config": {"type": "local", "command": "echo"}},
        {"name": "x", "config": {"type": "remote"}},
        {"name": "x", "config": {"type": "carrier-pigeon", "url": "x"}},
        {"name": "x", "config": {"type": "local", "command": ["x"], "timeout": 0}},
        {"name": "x", "config": {"type": "local", "command": ["x"], "surprise": 1}},
        {"name": "", "config": {"type": "local", "command": ["x"]}},
        [],
    ]
    for body in bad_bodies:
        r = agent.client.post("/mcp", json=body)
        assert r.status_code == 400, (body, r.text)
        assert _problems("/mcp", "post", 400, r.json()) == [], r.json()
    r = agent.client.post("/mcp", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = agent.client.get("/experimental/tool")  # provider and model are required
    assert r.status_code == 400
    assert _problems("/experimental/tool", "get", 400, r.json()) == []
    ids = agent.client.get("/experimental/tool/ids")
    assert _problems("/experimental/tool/ids", "get", 200, ids.json()) == []
    assert {"bash", "read", "fix_echo", "fix_grow"} <= set(ids.json())
    assert agent.client.get("/mcp").json() == before


def test_oauth_routes_answer_in_upstream_shapes(
    start_agent: Callable[..., Agent],
) -> None:
    agent = start_agent(
        {
            "mcp": {
                "fix": local(),
                "web": {"type": "remote", "url": "http://127.0.0.1:9/mcp", "enabled": False},
            }
        }
    )
    r = agent.client.post("/mcp/fix/auth")
    assert r.status_code == 400
    assert r.json() == {"error": "MCP server fix does not support OAuth"}
    assert _problems("/mcp/{name}/auth", "post", 400, r.json()) == []
    r = agent.client.post("/mcp/fix/auth/authenticate")
    assert r.status_code == 400 and "cannot open a browser" in r.json()["error"]
    assert _problems("/mcp/{name}/auth/authenticate", "post", 400, r.json()) == []
    r = agent.client.post("/mcp/web/auth")  # nothing listens there, so no flow can start
    assert r.status_code == 400 and "could not start" in r.json()["error"]
    r = agent.client.post("/mcp/fix/auth/callback", json={"code": "abc"})
    assert r.status_code == 400
    assert _problems("/mcp/{name}/auth/callback", "post", 400, r.json()) == []
    r = agent.client.delete("/mcp/fix/auth")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert _problems("/mcp/{name}/auth", "delete", 200, r.json()) == []


def test_oauth_flow_through_the_sdk(start_agent: Callable[..., Agent], oauth_mcp: str) -> None:
    agent = start_agent(
        {"mcp": {"locked": {"type": "remote", "url": oauth_mcp, "timeout": 30_000}}}
    )
    assert agent.client.get("/mcp").json() == {"locked": {"status": "needs_auth"}}
    r = agent.client.post("/mcp/locked/auth")
    assert r.status_code == 200, r.text
    assert _problems("/mcp/{name}/auth", "post", 200, r.json()) == []
    started = r.json()
    assert agent.client.get("/mcp").json() == {"locked": {"status": "needs_auth"}}
    # The user's browser: this authorization server approves at once and redirects back.
    visit = httpx.get(started["authorizationUrl"], follow_redirects=False, timeout=30)
    assert visit.status_code in (302, 303, 307), visit.text
    query = parse_qs(urlsplit(visit.headers["location"]).query)
    assert query["state"] == [started["oauthState"]]
    assert visit.headers["location"].startswith("http://127.0.0.1:19876/mcp/oauth/callback")
    r = agent.client.post("/mcp/locked/auth/callback", json={"code": query["code"][0]})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "connected"}
    assert _problems("/mcp/{name}/auth/callback", "post", 200, r.json()) == []
    assert agent.client.get("/mcp").json() == {"locked": {"status": "connected"}}
    assert "locked_echo" in agent.client.get("/experimental/tool/ids").json()
    # Reconnecting reuses the tokens held for it.
    assert agent.client.post("/mcp/locked/connect").json() is True
    assert agent.client.get("/mcp").json() == {"locked": {"status": "connected"}}
    # A second callback has no flow to complete; forgetting the tokens needs a new login.
    r = agent.client.post("/mcp/locked/auth/callback", json={"code": "again"})
    assert r.status_code == 400
    assert agent.client.delete("/mcp/locked/auth").json() == {"success": True}
    assert agent.client.post("/mcp/locked/connect").json() is True
    assert agent.client.get("/mcp").json() == {"locked": {"status": "needs_auth"}}
