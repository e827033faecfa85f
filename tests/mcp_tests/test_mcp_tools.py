"""MCP tools in the agent loop: offered as `{server}_{tool}`, called, stored, asked, aborted."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.mcp_tests.conftest import alive, local, pids, wait_until
from tests.schema import reference

Json = dict[str, Any]


def _call(call_id: str, name: str, **args: Any) -> Reply:
    return Reply(tool_calls=[{"id": call_id, "name": name, "input": args}])


def _tool_parts(agent: Agent, sid: str) -> list[Json]:
    r = agent.messages(sid)
    assert r.status_code == 200
    problems = reference().response_problems("/session/{sessionID}/message", "get", 200, r.json())
    assert problems == []
    return [p for m in r.json() for p in m["parts"] if p["type"] == "tool"]


def _offered(request: Json) -> dict[str, Json]:
    return {t["function"]["name"]: t["function"] for t in request.get("tools") or []}


def _tool_messages(request: Json) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_model_calls_mcp_tools_and_results_are_stored(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "mcp": {"fix": local()}})
    openai_fake.script = [
        _call("c1", "fix_echo", text="hi"),
        Reply(text="echoed"),
        _call("c2", "fix_explode", reason="bad"),
        Reply(text="it failed"),
        _call("c3", "fix_picture"),
        Reply(text="a picture"),
    ]
    sid = agent.session()
    for text in ("echo", "explode", "picture"):
        r = agent.prompt(sid, text)
        assert r.status_code == 200, r.text
    echo, explode, picture = _tool_parts(agent, sid)

    offered = _offered(openai_fake.requests[0])
    assert {"fix_echo", "fix_explode", "fix_picture", "bash"} <= set(offered)
    assert offered["fix_echo"]["description"] == "Echo the text back, upper-cased."
    assert offered["fix_echo"]["parameters"]["properties"]["text"]["type"] == "string"

    assert echo["tool"] == "fix_echo" and echo["callID"] == "c1"
    assert echo["state"]["status"] == "completed"
    assert echo["state"]["input"] == {"text": "hi"}
    assert echo["state"]["output"] == "ECHO: HI"
    assert _tool_messages(openai_fake.requests[1]) == ["ECHO: HI"]

    assert explode["state"]["status"] == "error"
    assert explode["state"]["error"] == "Error executing tool explode: exploded: bad"
    assert _tool_messages(openai_fake.requests[3])[-1].endswith("exploded: bad")

    assert picture["state"]["status"] == "completed"
    assert picture["state"]["output"] == "a tiny picture"
    [image] = picture["state"]["attachments"]
    assert image["type"] == "file" and image["mime"] == "image/png"
    assert image["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert image["sessionID"] == sid and image["messageID"] == picture["messageID"]


def test_tool_list_changes_are_picked_up(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "mcp": {"fix": local()}})
    openai_fake.script = [
        _call("c1", "fix_grow"),
        Reply(text="grown"),
        _call("c2", "fix_extra"),
        Reply(text="called the new tool"),
    ]
    ids = agent.client.get("/experimental/tool/ids").json()
    assert "fix_echo" in ids and "fix_extra" not in ids
    sid = agent.session()
    with agent.events() as rec:
        assert agent.prompt(sid, "grow").status_code == 200
        changed = rec.wait_for(lambda e: e["type"] == "mcp.tools.changed")
    assert changed["properties"] == {"server": "fix"}
    assert reference().problems(changed, reference().component("Event")) == []
    wait_until(
        lambda: "fix_extra" in agent.client.get("/experimental/tool/ids").json(),
        what="the new tool to be listed",
    )
    listed = agent.client.get("/experimental/tool", params={"provider": "fake", "model": "m1"})
    assert reference().response_problems("/experimental/tool", "get", 200, listed.json()) == []
    extra = next(t for t in listed.json() if t["id"] == "fix_extra")
    assert extra["description"] == "Added late."
    assert agent.prompt(sid, "use it").status_code == 200
    assert "fix_extra" in _offered(openai_fake.requests[2])
    assert _tool_parts(agent, sid)[-1]["state"]["output"] == "extra tool answered"


def test_permission_deny_and_ask_on_an_mcp_tool(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    fix = local(environment={"MCP_FIXTURE_MARKER": str(marker)})
    permission = {"fix_slow": "deny", "fix_echo": "ask"}
    tools = {"fix_p*": False}
    agent = start_agent(
        {
            **provider_config(openai_fake),
            "mcp": {"fix": fix},
            "permission": permission,
            "tools": tools,
        }
    )
    openai_fake.script = [_call("c1", "fix_slow", seconds=0), Reply(text="denied")]
    sid = agent.session()
    assert agent.prompt(sid, "slow").status_code == 200
    offered = _offered(openai_fake.requests[0])
    assert "fix_echo" in offered and "fix_picture" not in offered  # hidden by pattern
    [denied] = _tool_parts(agent, sid)
    assert denied["state"]["status"] == "error"
    assert not marker.exists()  # the server was never asked to run it

    openai_fake.script = [_call("c2", "fix_echo", text="ok?"), Reply(text="asked")]
    out: list[httpx.Response] = []
    with agent.events() as rec:
        thread = threading.Thread(target=lambda: out.append(agent.prompt(sid, "echo")))
        thread.start()
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["permission"] == "fix_echo" and asked["patterns"] == ["*"]
        assert asked["tool"]["callID"] == "c2"
        assert _tool_parts(agent, sid)[-1]["state"]["status"] == "running"
        r = agent.client.post(f"/permission/{asked['id']}/reply", json={"reply": "once"})
        assert r.status_code == 200
        thread.join(30)
    assert out and out[0].status_code == 200
    assert _tool_parts(agent, sid)[-1]["state"]["output"] == "ECHO: OK?"


def test_abort_mid_call_cancels_the_call(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    fix = local(environment={"MCP_FIXTURE_MARKER": str(marker)})
    agent = start_agent({**provider_config(openai_fake), "mcp": {"fix": fix}})
    openai_fake.script = [_call("c1", "fix_slow", seconds=120), Reply(text="never")]
    sid = agent.session()
    out: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: out.append(agent.prompt(sid, "sleep")))
    thread.start()
    wait_until(lambda: marker.exists() and marker.read_text() == "started", what="the call")
    assert agent.client.post(f"/session/{sid}/abort").status_code == 200
    thread.join(30)
    assert out and out[0].status_code == 200
    assert out[0].json()["info"]["error"]["name"] == "MessageAbortedError"
    [part] = _tool_parts(agent, sid)
    assert part["state"] == {**part["state"], "status": "error", "error": "Tool execution aborted"}
    # The SDK told the server: its handler was cancelled rather than left to run on.
    wait_until(lambda: marker.read_text() == "cancelled", what="the server-side cancel")
    assert len(openai_fake.requests) == 1


def test_remote_servers_streamable_http_and_sse_fallback(
    openai_fake: FakeProvider,
    start_agent: Callable[..., Agent],
    http_mcp: str,
    sse_mcp: str,
    denying_mcp: str,
) -> None:
    servers = {
        "locked": {"type": "remote", "url": denying_mcp, "timeout": 30_000},
        "web": {"type": "remote", "url": http_mcp, "headers": {"x-test": "1"}},
        "old": {"type": "remote", "url": sse_mcp, "timeout": 60_000},
        "gone": {"type": "remote", "url": "http://127.0.0.1:9/mcp", "timeout": 10_000},
    }
    agent = start_agent({**provider_config(openai_fake), "mcp": servers})
    status = agent.client.get("/mcp").json()
    assert status["web"] == {"status": "connected"}
    assert status["old"] == {"status": "connected"}
    assert status["gone"]["status"] == "failed" and status["gone"]["error"]
    assert status["locked"] == {"status": "needs_auth"}
    assert reference().response_problems("/mcp", "get", 200, status) == []
    openai_fake.script = [
        Reply(
            tool_calls=[
                {"id": "c1", "name": "web_echo", "input": {"text": "far"}},
                {"id": "c2", "name": "old_echo", "input": {"text": "older"}},
            ]
        ),
        Reply(text="done"),
    ]
    sid = agent.session()
    assert agent.prompt(sid, "remote").status_code == 200
    outputs = [p["state"]["output"] for p in _tool_parts(agent, sid)]
    assert outputs == ["ECHO: FAR", "ECHO: OLDER"]


def test_no_mcp_child_process_outlives_the_server(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    env = {"MCP_FIXTURE_PIDFILE": str(pidfile)}
    agent = start_agent({"mcp": {"a": local(environment=env), "b": local(environment=env)}})
    assert agent.client.get("/mcp").json() == {
        "a": {"status": "connected"},
        "b": {"status": "connected"},
    }
    started = pids(pidfile)
    assert len(started) == 2 and all(alive(p) for p in started)
    assert agent.server.stop(signal.SIGTERM) == 0
    wait_until(lambda: not any(alive(p) for p in started), what="every MCP child to end")


def test_disposing_the_instance_ends_its_mcp_processes(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    agent = start_agent({"mcp": {"fix": local(environment={"MCP_FIXTURE_PIDFILE": str(pidfile)})}})
    assert agent.client.get("/mcp").json() == {"fix": {"status": "connected"}}
    [first] = pids(pidfile)
    r = agent.client.post("/instance/dispose")
    assert r.status_code == 200 and r.json() is True
    wait_until(lambda: not alive(first), what="the disposed instance's MCP process to end")
    # The next use of the directory starts its servers afresh.
    assert agent.client.get("/mcp").json() == {"fix": {"status": "connected"}}
    assert len(pids(pidfile)) == 2 and alive(pids(pidfile)[1])


def test_a_server_that_dies_mid_call_fails_the_call_not_the_server(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "mcp": {"fix": local()}})
    openai_fake.script = [_call("c1", "fix_die"), Reply(text="it died")]
    sid = agent.session()
    r = agent.prompt(sid, "die")
    assert r.status_code == 200, r.text
    [part] = _tool_parts(agent, sid)
    assert part["state"]["status"] == "error" and "Connection closed" in part["state"]["error"]
    assert agent.client.get("/mcp").json() == {
        "fix": {"status": "failed", "error": "Connection closed"}
    }
    assert "fix_echo" not in agent.client.get("/experimental/tool/ids").json()
    assert agent.client.post("/mcp/fix/connect").json() is True
    assert agent.client.get("/mcp").json() == {"fix": {"status": "connected"}}
