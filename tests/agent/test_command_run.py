"""`session.command` and `session.init` through a real server: the expanded template is what
reaches the model, and a refused command stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.schema import reference


def _sent_text(fake: FakeProvider) -> str:
    """Everything the last request put before the model, as one string."""
    return json.dumps(fake.requests[-1]["messages"])


def test_a_command_runs_its_expanded_template(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    commands = agent.project / ".opencode" / "command"
    commands.mkdir(parents=True)
    (commands / "greet.md").write_text(
        "---\ndescription: greet someone\n---\n"
        "Greet $1, then $2 (all: $ARGUMENTS). Shell says !`echo from-the-shell`. See @notes.txt\n"
    )
    (agent.project / "notes.txt").write_text("the notes file body\n")
    session = agent.session()
    openai_fake.script = [Reply(text="Hello!")]
    ran = agent.client.post(
        f"/session/{session}/command",
        json={"command": "greet", "arguments": "Ada Grace Hopper"},
        timeout=60,
    )
    assert ran.status_code == 200, ran.text
    problems = reference().response_problems(
        "/session/{sessionID}/command", "post", 200, ran.json()
    )
    assert problems == []
    assert ran.json()["info"]["role"] == "assistant"
    sent = _sent_text(openai_fake)
    assert "Greet Ada, then Grace Hopper (all: Ada Grace Hopper)" in sent
    assert "Shell says from-the-shell" in sent
    assert "the notes file body" in sent
    user = agent.messages(session).json()[0]
    assert user["info"]["role"] == "user"
    assert any(p["type"] == "file" and p["filename"] == "notes.txt" for p in user["parts"])


def test_an_unknown_command_is_refused_and_stores_nothing(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    session = agent.session()
    before = agent.client.get(f"/session/{session}").json()
    for body in ({"command": "nope", "arguments": ""}, {"command": "init"}, {"arguments": "x"}):
        refused = agent.client.post(f"/session/{session}/command", json=body)
        assert refused.status_code == 400, (body, refused.text)
    assert agent.messages(session).json() == []
    assert agent.client.get(f"/session/{session}").json() == before
    assert openai_fake.requests == []
    missing = agent.client.post(
        "/session/ses_0000000000000000000000missing/command",
        json={"command": "init", "arguments": ""},
    )
    assert missing.status_code == 404


def test_init_runs_the_agents_md_command_with_the_given_model(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    session = agent.session()
    openai_fake.script = [Reply(text="I wrote AGENTS.md")]
    body = {"providerID": "fake", "modelID": "m1", "messageID": "msg_00000000000001initprompt"}
    done = agent.client.post(f"/session/{session}/init", json=body, timeout=60)
    assert (done.status_code, done.json()) == (200, True), done.text
    assert "AGENTS.md" in _sent_text(openai_fake)
    user = agent.messages(session).json()[0]["info"]
    assert user["id"] == body["messageID"]
    assert user["model"] == {"providerID": "fake", "modelID": "m1"}
