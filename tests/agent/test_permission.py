"""Permissions: `ask` waits for a reply; once lets the tool run, reject stops the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.spec import event_problems, response_problems
from tests.reference import require_spec

require_spec()

BASH: dict[str, Any] = {
    "id": "call_b",
    "name": "bash",
    "input": {"command": "echo asked > out.txt && echo ok"},
}


def _run(agent: Agent, fake: FakeProvider, reply: str) -> tuple[httpx.Response, list[dict]]:
    fake.script = [Reply(tool_calls=[BASH]), Reply(text="all done")]
    sid = agent.session()
    out: list[httpx.Response] = []
    with agent.events() as rec:
        thread = threading.Thread(target=lambda: out.append(agent.prompt(sid, "run it")))
        thread.start()
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["sessionID"] == sid and asked["permission"] == "bash"
        assert asked["patterns"] == [BASH["input"]["command"]]
        assert asked["tool"]["callID"] == "call_b"
        pending = agent.client.get("/permission").json()
        assert response_problems("/permission", "get", pending) == []
        assert [p["id"] for p in pending] == [asked["id"]]
        r = agent.client.post(f"/permission/{asked['id']}/reply", json={"reply": reply})
        assert r.status_code == 200 and r.json() is True
        thread.join(20)
        rec.wait_idle(sid)
        events = rec.of(sid)
    assert agent.client.get("/permission").json() == []
    assert [p for e in events for p in event_problems(e)] == []
    replied = [e["properties"] for e in events if e["type"] == "permission.replied"]
    assert replied == [{"sessionID": sid, "requestID": asked["id"], "reply": reply}]
    return out[0], events


def test_ask_then_once_runs_the_tool(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "permission": {"bash": "ask"}})
    r, _ = _run(agent, openai_fake, "once")
    assert r.status_code == 200
    assert [p["text"] for p in r.json()["parts"] if p["type"] == "text"] == ["all done"]
    assert (agent.project / "out.txt").read_text() == "asked\n"
    tool = next(
        p
        for m in agent.messages(r.json()["info"]["sessionID"]).json()
        for p in m["parts"]
        if p["type"] == "tool"
    )
    assert tool["state"]["status"] == "completed" and tool["state"]["output"].strip() == "ok"
    assert tool["state"]["metadata"]["exit"] == 0


def test_reject_errors_the_tool_and_stops(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "permission": {"bash": "ask"}})
    r, _ = _run(agent, openai_fake, "reject")
    assert r.status_code == 200
    assert not (agent.project / "out.txt").exists()
    assert len(openai_fake.requests) == 1  # the loop stopped: the model was not called again
    tool = next(p for p in r.json()["parts"] if p["type"] == "tool")
    assert tool["state"]["status"] == "error" and "rejected" in tool["state"]["error"]


def test_unknown_permission_request_is_404(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    r = agent.client.post("/permission/per_nothing/reply", json={"reply": "once"})
    assert r.status_code == 404 and r.json()["_tag"] == "PermissionNotFoundError"
    listed = agent.client.get("/agent").json()
    assert response_problems("/agent", "get", listed) == []
    agents = {a["name"]: a for a in listed}
    assert {"build", "plan"} <= set(agents)
    assert {"permission": "edit", "pattern": "*", "action": "deny"} in agents["plan"]["permission"]
    providers = agent.client.get("/provider").json()
    assert response_problems("/provider", "get", providers) == []
    both = agent.client.get("/config/providers").json()
    assert response_problems("/config/providers", "get", both) == []
    config = agent.client.get("/config").json()
    assert response_problems("/config", "get", config) == []
    assert providers["connected"] == ["fake"] and providers["default"] == {"fake": "m1"}
    assert "apiKey" not in str(agent.client.get("/config").json())
