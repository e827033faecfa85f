"""End to end: a prompt makes the model write a file, read it back and answer."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.spec import event_problems, response_problems
from tests.reference import require_spec

require_spec()


def _script(fake: FakeProvider, path: str) -> None:
    fake.script = [
        Reply(
            text="I will write it.",
            tool_calls=[
                {
                    "id": "call_w",
                    "name": "write",
                    "input": {"filePath": path, "content": "hello agent\n"},
                }
            ],
        ),
        Reply(tool_calls=[{"id": "call_r", "name": "read", "input": {"filePath": path}}]),
        Reply(text="The file says hello agent.", reasoning="It worked."),
    ]


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_write_read_answer(
    protocol: str,
    request: pytest.FixtureRequest,
    start_agent: Callable[..., Agent],
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{protocol}_fake")
    agent = start_agent(provider_config(fake))
    _script(fake, "notes/hello.txt")
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "Write hello agent to notes/hello.txt and read it back")
        assert r.status_code == 200, r.text
        rec.wait_idle(sid)
    result = r.json()
    assert response_problems("/session/{sessionID}/message", "post", result) == []
    assert result["info"]["role"] == "assistant"
    assert result["info"]["finish"] == "stop"
    assert "error" not in result["info"]
    texts = [p["text"] for p in result["parts"] if p["type"] == "text"]
    assert texts == ["The file says hello agent."]
    assert [p["type"] for p in result["parts"]] == [
        "step-start",
        "reasoning",
        "text",
        "step-finish",
    ]

    # The file on disk.
    assert (agent.project / "notes" / "hello.txt").read_text() == "hello agent\n"

    # The stored conversation: user, then three assistant steps.
    stored = agent.messages(sid).json()
    assert response_problems("/session/{sessionID}/message", "get", stored) == []
    roles = [m["info"]["role"] for m in stored]
    assert roles == ["user", "assistant", "assistant", "assistant"]
    tools = [p for m in stored for p in m["parts"] if p["type"] == "tool"]
    assert [(t["tool"], t["state"]["status"]) for t in tools] == [
        ("write", "completed"),
        ("read", "completed"),
    ]
    assert "hello agent" in tools[1]["state"]["output"]
    first = stored[1]
    assert first["info"]["finish"] == "tool-calls"
    assert first["info"]["tokens"]["input"] == 100
    assert first["info"]["cost"] > 0
    assert stored[1]["info"]["parentID"] == stored[0]["info"]["id"]

    # The session keeps running totals and remembers the agent and model.
    session = agent.client.get(f"/session/{sid}").json()
    assert session["tokens"]["input"] == 300 and session["tokens"]["output"] == 60
    assert session["cost"] == pytest.approx(sum(m["info"]["cost"] for m in stored[1:]))
    assert session["agent"] == "build" and session["model"]["providerID"] in ("fake", "anth")

    # The model got the tool results back.
    assert len(fake.requests) == 3
    assert "hello agent" in str(fake.requests[2]["messages"])
    last = fake.requests[2]["messages"][-1]
    if protocol == "anthropic":
        roles = [m["role"] for m in fake.requests[2]["messages"]]
        assert all(a != b for a, b in itertools.pairwise(roles))  # roles alternate
        assert last["content"][0]["type"] == "tool_result"
        assert last["content"][0]["tool_use_id"] == "call_r"
        assert fake.requests[0]["system"].startswith("You are opencode")
    else:
        assert last["role"] == "tool" and last["tool_call_id"] == "call_r"
        assert fake.requests[0]["messages"][0]["role"] == "system"

    # Events: busy first, deltas for the text, tool parts through their states, idle last.
    events = rec.of(sid)
    assert [p for e in events for p in event_problems(e)] == []
    types = [e["type"] for e in events]
    assert types[:2] == ["session.updated", "message.updated"]  # model chosen, user message
    assert {"type": "busy"} in [e["properties"].get("status") for e in events]
    assert types[-2:] == ["session.status", "session.idle"]
    deltas = [e["properties"]["delta"] for e in events if e["type"] == "message.part.delta"]
    assert "".join(deltas).endswith("The file says hello agent.")
    states = [
        (e["properties"]["part"]["tool"], e["properties"]["part"]["state"]["status"])
        for e in events
        if e["type"] == "message.part.updated" and e["properties"]["part"]["type"] == "tool"
    ]
    for name in ("write", "read"):
        mine = [s for n, s in states if n == name]
        assert mine[0] == "pending" and mine[-1] == "completed" and "running" in mine
    # The final text part was stored whole once its segment ended.
    final_text = [
        e["properties"]["part"]
        for e in events
        if e["type"] == "message.part.updated" and e["properties"]["part"]["type"] == "text"
    ][-1]
    assert final_text["text"] == "The file says hello agent." and "end" in final_text["time"]
    # Each text (or reasoning) part is announced before its first delta, and no later
    # announcement (the store's, say) takes its text back to less than the deltas made it.
    shown: dict[str, str] = {}
    for e in events:
        props = e["properties"]
        if e["type"] == "message.part.updated" and props["part"]["type"] in ("text", "reasoning"):
            part = props["part"]
            assert part["text"].startswith(shown.get(part["id"], "")), "text went backwards"
            shown[part["id"]] = part["text"]
        elif e["type"] == "message.part.delta":
            assert props["partID"] in shown, "a delta for a part no client knows of yet"
            shown[props["partID"]] += props["delta"]


def test_task_runs_a_subagent_in_a_child_session(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    task = {"description": "count files", "prompt": "How many files are there?"}
    todos = [{"content": "delegate", "status": "completed", "priority": "low"}]
    openai_fake.script = [
        Reply(
            tool_calls=[
                {"id": "call_todo", "name": "todowrite", "input": {"todos": todos}},
                {"id": "call_task", "name": "task", "input": task},
            ]
        ),
        Reply(text="There are none."),  # the sub-agent, in its child session
        Reply(text="The sub-agent says there are none."),
    ]
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "delegate it")
        assert r.status_code == 200, r.text
        rec.wait_idle(sid)
    children = agent.client.get(f"/session/{sid}/children").json()
    assert len(children) == 1 and children[0]["parentID"] == sid
    child_messages = agent.messages(children[0]["id"]).json()
    assert [m["info"]["role"] for m in child_messages] == ["user", "assistant"]
    assert child_messages[0]["parts"][0]["text"] == "How many files are there?"
    tools = {
        p["tool"]: p["state"]
        for m in agent.messages(sid).json()
        for p in m["parts"]
        if p["type"] == "tool"
    }
    assert tools["task"]["status"] == "completed"
    assert "There are none." in tools["task"]["output"]
    assert tools["task"]["metadata"]["sessionId"] == children[0]["id"]
    assert agent.client.get(f"/session/{sid}/todo").json() == todos
    assert any(e["type"] == "todo.updated" for e in rec.of(sid))
    # The sub-agent is not offered `task` (no recursion) and its history is its own.
    child_request = openai_fake.requests[1]
    assert "task" not in [t["function"]["name"] for t in child_request["tools"]]
    assert "delegate it" not in str(child_request["messages"])
