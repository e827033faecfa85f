"""Provider failures: retry on 429, auth errors, dropped streams, and no provider at all."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.spec import event_problems
from tests.reference import require_spec

require_spec()


def test_429_is_retried_and_shown_as_retry_status(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    config = provider_config(openai_fake)
    # Request options ride along; provider-level settings such as timeout do not.
    config["provider"]["fake"]["options"]["timeout"] = 5000
    config["provider"]["fake"]["models"]["m1"]["options"] = {"reasoningEffort": "low"}
    config["agent"] = {"build": {"temperature": 0.25}}
    agent = start_agent(config)
    openai_fake.script = [Reply(status=429, headers={"retry-after": "0.2"}), Reply(text="ok now")]
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "hi")
        rec.wait_idle(sid)
    assert r.status_code == 200
    assert "error" not in r.json()["info"]
    assert [p["text"] for p in r.json()["parts"] if p["type"] == "text"] == ["ok now"]
    assert [p for e in rec.of(sid) for p in event_problems(e)] == []
    statuses = [e["properties"]["status"] for e in rec.of(sid) if e["type"] == "session.status"]
    kinds = [s["type"] for s in statuses]
    assert kinds == ["busy", "retry", "busy", "idle"]
    retry = statuses[1]
    assert retry["attempt"] == 1 and "rate" in retry["message"] and retry["next"] > 0
    assert len(openai_fake.requests) == 2
    sent = openai_fake.requests[1]
    assert sent["temperature"] == 0.25 and sent["reasoning_effort"] == "low"
    assert "timeout" not in sent


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_401_becomes_provider_auth_error(
    protocol: str, request: pytest.FixtureRequest, start_agent: Callable[..., Agent]
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{protocol}_fake")
    agent = start_agent(provider_config(fake))
    fake.script = [Reply(status=401)]
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "hi")
        rec.wait_idle(sid)
    assert r.status_code == 200
    error = r.json()["info"]["error"]
    assert error["name"] == "ProviderAuthError"
    assert error["data"]["providerID"] == ("fake" if protocol == "openai" else "anth")
    assert [p for e in rec.of(sid) for p in event_problems(e)] == []
    errors = [e for e in rec.of(sid) if e["type"] == "session.error"]
    assert [e["properties"]["error"]["name"] for e in errors] == ["ProviderAuthError"]
    assert len(fake.requests) == 1  # never retried
    assert (
        fake.headers[0]
        .get("authorization", fake.headers[0].get("x-api-key", ""))
        .endswith("sk-fake")
    )


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_dropped_stream_is_recorded_as_error(
    protocol: str, request: pytest.FixtureRequest, start_agent: Callable[..., Agent]
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{protocol}_fake")
    agent = start_agent(provider_config(fake))
    fake.script = [Reply(text="partial answer that never ends", drop=True)]
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "hi")
        rec.wait_idle(sid)
    assert r.status_code == 200
    info = r.json()["info"]
    assert info["error"]["name"] == "UnknownError"
    assert "stream" in info["error"]["data"]["message"]
    stored = agent.messages(sid).json()[-1]
    assert stored["info"]["error"] == info["error"]
    # What arrived before the drop is kept, closed off.
    text = [p for p in stored["parts"] if p["type"] == "text"]
    assert text and text[0]["text"].startswith("partial") and "end" in text[0]["time"]
    assert any(e["type"] == "session.error" for e in rec.of(sid))
    assert agent.client.get("/global/health").status_code == 200


def test_no_provider_gives_a_clear_400(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent(None)
    sid = agent.session()
    r = agent.prompt(sid, "hi")
    assert r.status_code == 400
    assert "provider" in r.text and "opencode.json" in r.text
    assert agent.messages(sid).json() == []
    stored = agent.prompt(sid, "just store it", noReply=True)
    assert stored.status_code == 200 and stored.json()["info"]["role"] == "user"
    assert agent.client.get("/config/providers").json() == {"providers": [], "default": {}}
