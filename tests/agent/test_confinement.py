"""Every tool stays in the project: `..`, absolute paths, symlinks and glob patterns, per agent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply

Json = dict[str, Any]
SECRET = "TOPSECRET-7f3a"


def _layout(agent: Agent) -> Path:
    """A secret outside the project, and symlinks inside the project that point at it."""
    outside = agent.project.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    (agent.project / "inside.txt").write_text("harmless\n")
    (agent.project / "link_dir").symlink_to(outside, target_is_directory=True)
    (agent.project / "link_file").symlink_to(outside / "secret.txt")
    return outside


def _escapes(outside: Path) -> list[Json]:
    """Tool calls that each reach outside the project; every one must be refused."""
    calls: list[tuple[str, Json]] = [
        ("read", {"filePath": "../outside/secret.txt"}),
        ("read", {"filePath": str(outside / "secret.txt")}),
        ("read", {"filePath": "link_file"}),
        ("read", {"filePath": "link_dir/secret.txt"}),
        ("list", {"path": "../outside"}),
        ("list", {"path": "link_dir"}),
        ("glob", {"pattern": "../outside/*"}),
        ("glob", {"pattern": "../../../../../../" + str(outside).lstrip("/") + "/*"}),
        ("glob", {"pattern": str(outside) + "/*.txt"}),
        ("glob", {"pattern": "link_dir/*"}),
        ("glob", {"pattern": "*/../../outside/*"}),
        ("glob", {"pattern": "*", "path": "link_dir"}),
        ("grep", {"pattern": "TOPSECRET", "include": "link_dir/*"}),
        ("grep", {"pattern": "TOPSECRET", "include": "link_dir/secret.txt"}),
        ("grep", {"pattern": "TOPSECRET", "path": "../outside"}),
        ("grep", {"pattern": "TOPSECRET", "path": "link_dir"}),
        ("grep", {"pattern": "TOPSECRET", "include": str(outside) + "/*"}),
        ("write", {"filePath": "../outside/planted.txt", "content": "x"}),
        ("write", {"filePath": "link_dir/planted.txt", "content": "x"}),
        ("edit", {"filePath": "link_file", "oldString": "TOPSECRET", "newString": "gone"}),
        ("bash", {"command": "cat secret.txt", "workdir": "link_dir"}),
        ("bash", {"command": "cat secret.txt", "workdir": "../outside"}),
    ]
    return [{"id": f"call_{i}", "name": n, "input": a} for i, (n, a) in enumerate(calls)]


# Searches of the project itself: symlinks out of it are not followed.
INSIDE: list[Json] = [
    {"id": "in_glob", "name": "glob", "input": {"pattern": "**/*"}},
    {"id": "in_grep", "name": "grep", "input": {"pattern": "TOPSECRET|harmless"}},
]


def _tool_parts(agent: Agent, session_id: str) -> dict[str, Json]:
    messages = agent.messages(session_id).json()
    return {p["callID"]: p for m in messages for p in m["parts"] if p["type"] == "tool"}


@pytest.mark.parametrize("agent_name", ["build", "plan"])
def test_no_tool_reaches_outside_the_project(
    agent_name: str, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    # Denied outright, so an unconfined tool shows as a leak rather than a hang on a question.
    config = {**provider_config(openai_fake), "permission": {"external_directory": "deny"}}
    agent = start_agent(config)
    outside = _layout(agent)
    escapes = _escapes(outside)
    openai_fake.script = [Reply(tool_calls=escapes + INSIDE), Reply(text="done")]
    sid = agent.session()
    r = agent.prompt(sid, "try to escape", agent=agent_name)
    assert r.status_code == 200, r.text
    parts = _tool_parts(agent, sid)
    assert set(parts) == {c["id"] for c in escapes + INSIDE}
    for call in escapes:
        state = parts[call["id"]]["state"]
        assert state["status"] == "error", (call, state)
        assert SECRET not in str(state), (call, state)
    for call in INSIDE:
        state = parts[call["id"]]["state"]
        assert state["status"] == "completed", (call, state)
        assert SECRET not in state["output"] and "secret.txt" not in state["output"], state
        assert "inside.txt" in state["output"]
    # Nothing was written or changed outside, through any path.
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == f"{SECRET}\n"
    # The secret never went back to the model either.
    assert SECRET not in str(openai_fake.requests[-1])


def test_an_escape_asks_for_external_directory_and_a_rejection_leaks_nothing(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))  # the default: external_directory asks
    outside = _layout(agent)
    call = {"id": "call_g", "name": "glob", "input": {"pattern": "../outside/*"}}
    openai_fake.script = [Reply(tool_calls=[call]), Reply(text="done")]
    sid = agent.session()
    out: list[Any] = []
    with agent.events() as rec:
        thread = threading.Thread(target=lambda: out.append(agent.prompt(sid, "glob it")))
        thread.start()
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["permission"] == "external_directory"
        assert asked["patterns"] == [f"{outside}/*"]
        r = agent.client.post(f"/permission/{asked['id']}/reply", json={"reply": "reject"})
        assert r.status_code == 200
        thread.join(20)
    assert out[0].status_code == 200
    state = _tool_parts(agent, sid)["call_g"]["state"]
    assert state["status"] == "error" and "secret" not in str(state)


def test_tool_arguments_are_held_to_their_schema(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    (agent.project / "f.txt").write_text("one\ntwo\n")
    calls = [
        {"id": "bad_timeout", "name": "bash", "input": {"command": "touch ran", "timeout": -1}},
        {"id": "bad_limit", "name": "read", "input": {"filePath": "f.txt", "limit": -5}},
        {"id": "bad_type", "name": "read", "input": {"filePath": 7}},
        {"id": "missing", "name": "write", "input": {"filePath": "w.txt"}},
        {"id": "good", "name": "read", "input": {"filePath": "f.txt", "limit": 1}},
    ]
    openai_fake.script = [Reply(tool_calls=calls), Reply(text="done")]
    sid = agent.session()
    r = agent.prompt(sid, "bad arguments")
    assert r.status_code == 200, r.text
    parts = _tool_parts(agent, sid)
    for call_id, field in [
        ("bad_timeout", "timeout"),
        ("bad_limit", "limit"),
        ("bad_type", "filePath"),
        ("missing", "content"),
    ]:
        state = parts[call_id]["state"]
        assert state["status"] == "error", state
        assert "invalid arguments" in state["error"] and field in state["error"], state
    assert not (agent.project / "ran").exists() and not (agent.project / "w.txt").exists()
    good = parts["good"]["state"]
    assert good["status"] == "completed" and "one" in good["output"] and "two" not in good["output"]
