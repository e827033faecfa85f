"""`POST /session/{id}/shell` through a real server: stored as upstream stores a user command."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.spec import event_problems
from tests.reference import require_spec
from tests.schema import reference

require_spec()

PATH = "/session/{sessionID}/shell"


def test_shell_stores_the_output(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    sid = agent.session()
    command = "echo hi; echo err >&2; pwd > where.txt"
    with agent.events() as rec:
        r = agent.client.post(f"/session/{sid}/shell", json={"agent": "build", "command": command})
        assert r.status_code == 200, r.text
        rec.wait_idle(sid)
        events = rec.of(sid)
    body = r.json()
    assert reference().response_problems(PATH, "post", 200, body) == []
    info, (part,) = body["info"], body["parts"]
    assert info["role"] == "assistant" and info["agent"] == "build"
    assert info["time"]["completed"] >= info["time"]["created"]
    assert part["type"] == "tool" and part["tool"] == "bash"
    assert part["state"]["status"] == "completed"
    assert part["state"]["input"] == {"command": command}
    assert part["state"]["output"] == "hi\nerr\n"
    assert part["state"]["metadata"]["output"] == "hi\nerr\n"
    # It ran in the project directory.
    assert (agent.project / "where.txt").read_text().strip() == str(agent.project)

    rows = agent.messages(sid).json()
    assert [r["info"]["role"] for r in rows] == ["user", "assistant"]
    (text,) = rows[0]["parts"]
    assert text["synthetic"] is True
    assert text["text"] == "The following tool was executed by the user"
    assert rows[1]["info"]["parentID"] == rows[0]["info"]["id"]
    assert rows[1]["parts"] == body["parts"]
    # No model was asked.
    assert openai_fake.requests == []

    kinds = [e["type"] for e in events]
    assert kinds.index("session.status") < kinds.index("message.updated")
    statuses = [
        e["properties"]["state"]["status"]
        for e in (
            {"properties": e["properties"]["part"]}
            for e in events
            if e["type"] == "message.part.updated" and e["properties"]["part"]["type"] == "tool"
        )
    ]
    assert statuses == ["running", "completed"]
    assert kinds[-1] == "session.idle"
    for event in events:
        assert event_problems(event) == [], event


def test_shell_follows_bash_permissions(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    config = provider_config(openai_fake)
    config["permission"] = {"bash": {"*": "allow", "touch *": "deny"}}
    agent = start_agent(config)
    sid = agent.session()
    r = agent.client.post(
        f"/session/{sid}/shell", json={"agent": "build", "command": "touch forbidden.txt"}
    )
    assert r.status_code == 200, r.text
    state = r.json()["parts"][0]["state"]
    assert state["status"] == "error"
    assert not (agent.project / "forbidden.txt").exists()
    stored = agent.messages(sid).json()[1]["parts"][0]["state"]
    assert stored["status"] == "error"


def test_shell_on_a_busy_session_is_refused(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="x" * 40, chunks=20, chunk_delay=0.1)]
    sid = agent.session()
    with agent.events() as rec:
        body = {"parts": [{"type": "text", "text": "slow"}]}
        assert agent.client.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
        rec.wait_for(
            lambda e: (
                e["type"] == "message.part.updated"
                and e["properties"]["sessionID"] == sid
                and e["properties"]["part"]["type"] == "step-start"
            )
        )
        r = agent.client.post(
            f"/session/{sid}/shell", json={"agent": "build", "command": "touch busy.txt"}
        )
        assert r.status_code == 409, r.text
        assert reference().response_problems(PATH, "post", 409, r.json()) == []
        assert r.json()["sessionID"] == sid
        rec.wait_idle(sid)
    assert not (agent.project / "busy.txt").exists()
    rows = agent.messages(sid).json()
    assert all(p["type"] != "tool" for row in rows for p in row["parts"])


def test_shell_rejects_bad_input(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    sid = agent.session()
    cases = [
        {"command": "touch bad.txt"},
        {"agent": "build"},
        {"agent": "build", "command": 3},
        {"agent": "build", "command": "touch bad.txt", "extra": True},
        {"agent": "nobody", "command": "touch bad.txt"},
        {"agent": "build", "command": "touch bad.txt", "model": {"providerID": "x"}},
        {"agent": "build", "command": "touch bad.txt", "messageID": "nope"},
    ]
    for body in cases:
        r = agent.client.post(f"/session/{sid}/shell", json=body)
        assert r.status_code == 400, (body, r.text)
        assert reference().response_problems(PATH, "post", 400, r.json()) == [], r.json()
    missing = agent.client.post(
        "/session/ses_00000000000000000000000000/shell",
        json={"agent": "build", "command": "touch bad.txt"},
    )
    assert missing.status_code == 404
    assert reference().response_problems(PATH, "post", 404, missing.json()) == []
    time.sleep(0.2)
    assert not (agent.project / "bad.txt").exists()
    assert agent.messages(sid).json() == []


def test_abort_stops_the_command(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    sid = agent.session()
    command = "sleep 30; touch late.txt"
    done: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: done.append(
            agent.client.post(f"/session/{sid}/shell", json={"agent": "build", "command": command})
        )
    )
    with agent.events() as rec:
        thread.start()
        rec.wait_for(
            lambda e: (
                e["type"] == "message.part.updated"
                and e["properties"]["sessionID"] == sid
                and e["properties"]["part"]["type"] == "tool"
            )
        )
        assert agent.client.post(f"/session/{sid}/abort").status_code == 200
        thread.join(15)
        rec.wait_idle(sid)
    (r,) = done
    assert r.status_code == 200, r.text
    assert reference().response_problems(PATH, "post", 200, r.json()) == []
    assert r.json()["info"]["error"]["name"] == "MessageAbortedError"
    stored = agent.messages(sid).json()[1]["parts"][0]["state"]
    assert stored["status"] == "error"
    assert stored["error"] == "Tool execution aborted"
    assert not (agent.project / "late.txt").exists()
