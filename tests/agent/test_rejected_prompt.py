"""A prompt refused with a 4xx changes nothing: not its session, not its messages, no events."""

from __future__ import annotations

from collections.abc import Callable

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply


def test_a_message_id_from_another_session_is_refused_and_changes_nothing(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="first answer")]
    theirs = agent.session()
    answered = agent.prompt(theirs, "hello")
    assert answered.status_code == 200, answered.text
    their_user = next(m for m in agent.messages(theirs).json() if m["info"]["role"] == "user")

    mine = agent.session()
    before = agent.client.get(f"/session/{mine}").json()
    with agent.events() as events:
        refused = agent.prompt(mine, "steal", messageID=their_user["info"]["id"], agent="plan")
        assert refused.status_code == 400, refused.text
        assert "another session" in refused.text
        assert agent.client.get(f"/session/{mine}").json() == before
        assert agent.messages(mine).json() == []
        # The other session's message is untouched too.
        again = next(m for m in agent.messages(theirs).json() if m["info"]["role"] == "user")
        assert again == their_user
        # A normal prompt still works afterwards, so nothing was left half-done.
        openai_fake.script = [Reply(text="second answer")]
        assert agent.prompt(mine, "now properly").status_code == 200
        events.wait_idle(mine)
        texts = [
            e["properties"]["part"].get("text")
            for e in events.of(mine)
            if e["type"] == "message.part.updated"
        ]
        assert "steal" not in texts and "now properly" in texts
        updates = [e for e in events.of(mine) if e["type"] == "session.updated"]
        # The only session change is the accepted prompt's (agent, model remembered).
        assert all(e["properties"]["info"].get("agent") != "plan" for e in updates)
