"""Titles through a real server: asked beside the first answer, stored with session.updated."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import TITLE_MARKER, FakeProvider, Reply
from tests.agent.spec import event_problems
from tests.reference import require_spec

require_spec()

Json = dict[str, Any]


def _title_event(sid: str) -> Callable[[Json], bool]:
    return lambda e: (
        e["type"] == "session.updated"
        and e["properties"]["sessionID"] == sid
        and not e["properties"]["info"]["title"].startswith("New session - ")
    )


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_first_prompt_gets_a_title(
    protocol: str, request: pytest.FixtureRequest, start_agent: Callable[..., Agent]
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{protocol}_fake")
    fake.title = '"Feeding the parrot"\nextra line'
    agent = start_agent(provider_config(fake))
    fake.script = [Reply(text="Seeds."), Reply(text="Water.")]
    sid = agent.session()
    with agent.events() as rec:
        assert agent.prompt(sid, "What does the parrot eat?").status_code == 200
        event = rec.wait_for(_title_event(sid))
        assert event_problems(event) == []
    assert event["properties"]["info"]["title"] == "Feeding the parrot"
    assert agent.client.get(f"/session/{sid}").json()["title"] == "Feeding the parrot"
    assert len(fake.title_requests) == 1
    body = orjson.dumps(fake.title_requests[0]).decode()
    assert TITLE_MARKER in body
    assert "What does the parrot eat?" in body
    assert not fake.title_requests[0].get("tools")

    # Only the first prompt is titled.
    assert agent.prompt(sid, "And to drink?").status_code == 200
    time.sleep(0.5)
    assert len(fake.title_requests) == 1
    assert agent.client.get(f"/session/{sid}").json()["title"] == "Feeding the parrot"


def test_small_model_titles(openai_fake: FakeProvider, start_agent: Callable[..., Agent]) -> None:
    config = provider_config(openai_fake)
    config["provider"]["fake"]["models"]["tiny"] = {}
    config["small_model"] = "fake/tiny"
    agent = start_agent(config)
    openai_fake.script = [Reply(text="ok")]
    sid = agent.session()
    with agent.events() as rec:
        assert agent.prompt(sid, "hello").status_code == 200
        rec.wait_for(_title_event(sid))
    assert openai_fake.title_requests[0]["model"] == "tiny"
    assert openai_fake.requests[0]["model"] == "m1"


def test_failed_title_keeps_default(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    openai_fake.title_status = 500
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="answer")]
    sid = agent.session()
    before = agent.client.get(f"/session/{sid}").json()["title"]
    r = agent.prompt(sid, "hello")
    assert r.status_code == 200
    assert r.json()["parts"][1]["text"] == "answer"
    deadline = time.monotonic() + 10
    while not openai_fake.title_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert openai_fake.title_requests
    assert agent.client.get(f"/session/{sid}").json()["title"] == before


def test_renamed_session_keeps_its_title(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="answer")]
    sid = agent.session()
    assert agent.client.patch(f"/session/{sid}", json={"title": "Mine"}).status_code == 200
    assert agent.prompt(sid, "hello").status_code == 200
    time.sleep(0.5)
    assert openai_fake.title_requests == []
    assert agent.client.get(f"/session/{sid}").json()["title"] == "Mine"
