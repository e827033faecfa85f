"""Compaction through a real server: summarize, automatic compaction on overflow, pruning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.spec import event_problems
from tests.reference import require_spec
from tests.schema import reference

require_spec()

Json = dict[str, Any]
SUMMARY = "## Goal\nKeep the parrot fed.\n## Next steps\nBuy seeds."


def _request_text(body: Json) -> str:
    return orjson.dumps(body).decode()


def _with_limit(fake: FakeProvider, context: int, output: int) -> Json:
    config = provider_config(fake)
    for spec in config["provider"].values():
        for model in spec["models"].values():
            model["limit"] = {"context": context, "output": output}
    return config


def _model_of(agent_config: Json) -> tuple[str, str]:
    provider_id, model_id = agent_config["model"].split("/", 1)
    return provider_id, model_id


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_summarize_replaces_history(
    protocol: str, request: pytest.FixtureRequest, start_agent: Callable[..., Agent]
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{protocol}_fake")
    config = provider_config(fake)
    agent = start_agent(config)
    provider_id, model_id = _model_of(config)
    fake.script = [
        Reply(text="The parrot eats seeds."),
        Reply(text=SUMMARY),
        Reply(text="Seeds, as noted."),
    ]
    sid = agent.session()
    with agent.events() as rec:
        assert agent.prompt(sid, "What does the parrot eat? ORIGINAL-QUESTION").status_code == 200
        r = agent.client.post(
            f"/session/{sid}/summarize",
            json={"providerID": provider_id, "modelID": model_id},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert r.json() is True
        assert (
            reference().response_problems("/session/{sessionID}/summarize", "post", 200, r.json())
            == []
        )
        rec.wait_for(
            lambda e: e["type"] == "session.compacted" and e["properties"]["sessionID"] == sid
        )
        rec.wait_idle(sid)
        events = rec.of(sid)

    # The summarizer was shown the conversation, without tools.
    summary_request = _request_text(fake.requests[1])
    assert "ORIGINAL-QUESTION" in summary_request
    assert "The parrot eats seeds." in summary_request
    assert not fake.requests[1].get("tools")

    rows = agent.messages(sid).json()
    assert [r["info"]["role"] for r in rows] == ["user", "assistant", "user", "assistant"]
    compaction_user, summary = rows[2], rows[3]
    assert [p["type"] for p in compaction_user["parts"]] == ["compaction"]
    assert compaction_user["parts"][0]["auto"] is False
    assert compaction_user["info"]["model"] == {"providerID": provider_id, "modelID": model_id}
    info = summary["info"]
    assert info["summary"] is True
    assert info["agent"] == info["mode"] == "compaction"
    assert info["parentID"] == compaction_user["info"]["id"]
    assert info["finish"] == "stop"
    assert [p["type"] for p in summary["parts"]] == ["step-start", "text", "step-finish"]
    assert summary["parts"][1]["text"] == SUMMARY
    assert reference().response_problems("/session/{sessionID}/message", "get", 200, rows) == []

    # session.compacted comes after the summary is stored, and every event is upstream's shape.
    kinds = [e["type"] for e in events]
    compacted = kinds.index("session.compacted")
    summary_done = max(
        i
        for i, e in enumerate(events)
        if e["type"] == "message.updated"
        and e["properties"]["info"]["id"] == info["id"]
        and e["properties"]["info"].get("finish")
    )
    assert summary_done < compacted
    for event in events:
        assert event_problems(event) == [], event

    # From now on the model sees the summary, not the turns it replaced.
    r = agent.prompt(sid, "And what next? NEW-QUESTION")
    assert r.status_code == 200, r.text
    after = _request_text(fake.requests[2])
    assert "ORIGINAL-QUESTION" not in after
    assert "The parrot eats seeds." not in after
    assert "Buy seeds." in after
    assert "What did we do so far?" in after
    assert "NEW-QUESTION" in after


def test_summarize_rejects_bad_input(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    sid = agent.session()
    cases = [
        {"providerID": "fake"},
        {"providerID": "fake", "modelID": "m1", "extra": 1},
        {"providerID": "fake", "modelID": 5},
        {"providerID": "nope", "modelID": "m1"},
    ]
    for body in cases:
        r = agent.client.post(f"/session/{sid}/summarize", json=body)
        assert r.status_code == 400, (body, r.text)
        assert (
            reference().response_problems("/session/{sessionID}/summarize", "post", 400, r.json())
            == []
        ), r.json()
    missing = agent.client.post(
        "/session/ses_00000000000000000000000000/summarize",
        json={"providerID": "fake", "modelID": "m1"},
    )
    assert missing.status_code == 404
    assert missing.json()["name"] == "NotFoundError"
    assert agent.messages(sid).json() == []
    assert openai_fake.requests == []


def test_automatic_compaction_on_overflow(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    # Each fake answer uses 120 tokens; 200 - 100 of output leaves room for 100: overflow.
    agent = start_agent(_with_limit(openai_fake, context=200, output=100))
    (agent.project / "a.txt").write_text("alpha\n")
    openai_fake.script = [
        Reply(
            text="Reading it.",
            tool_calls=[{"id": "call_1", "name": "read", "input": {"filePath": "a.txt"}}],
        ),
        Reply(text=SUMMARY),
        Reply(text="Done after compaction."),
    ]
    sid = agent.session()
    with agent.events() as rec:
        r = agent.prompt(sid, "Read a.txt please ORIGINAL-QUESTION")
        assert r.status_code == 200, r.text
        rec.wait_idle(sid)
        events = rec.of(sid)
    assert r.json()["parts"][1]["text"] == "Done after compaction."

    rows = agent.messages(sid).json()
    roles = [(r["info"]["role"], [p["type"] for p in r["parts"]]) for r in rows]
    assert roles == [
        ("user", ["text"]),
        ("assistant", ["step-start", "text", "tool", "step-finish"]),
        ("user", ["compaction"]),
        ("assistant", ["step-start", "text", "step-finish"]),
        ("user", ["text"]),
        ("assistant", ["step-start", "text", "step-finish"]),
    ]
    part = rows[2]["parts"][0]
    assert part["auto"] is True and part["overflow"] is True
    assert rows[3]["info"]["summary"] is True
    assert rows[4]["parts"][0]["synthetic"] is True
    assert rows[5]["info"]["parentID"] == rows[4]["info"]["id"]
    assert reference().response_problems("/session/{sessionID}/message", "get", 200, rows) == []
    assert "session.compacted" in [e["type"] for e in events]

    # The step after compaction no longer carries the first turn, only the summary.
    last = _request_text(openai_fake.requests[2])
    assert "ORIGINAL-QUESTION" not in last
    assert "alpha" not in last
    assert "Buy seeds." in last


@pytest.mark.parametrize("notes", [2, 8])
def test_an_answer_that_overflowed_compacts_before_the_next_prompts_first_step(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent], notes: int
) -> None:
    """The check before a turn's first step finds the last finished answer in the stored
    history (a turn of its own, earlier), among the newest messages or, with more messages
    after it than the check reads first, further back."""
    agent = start_agent(_with_limit(openai_fake, context=200, output=100))
    openai_fake.script = [
        Reply(text="First answer."),
        Reply(text=SUMMARY),
        Reply(text="Second answer, after compaction."),
    ]
    sid = agent.session()
    first = agent.prompt(sid, "FIRST-QUESTION")
    assert first.status_code == 200, first.text
    # Messages stored without a reply do not hide the answer before them.
    for n in range(notes):
        quiet = agent.client.post(
            f"/session/{sid}/message",
            json={"noReply": True, "parts": [{"type": "text", "text": f"note {n}"}]},
        )
        assert quiet.status_code == 200, quiet.text
    second = agent.prompt(sid, "SECOND-QUESTION")
    assert second.status_code == 200, second.text
    assert second.json()["parts"][-2]["text"] == "Second answer, after compaction."
    rows = agent.messages(sid).json()
    kinds = [[p["type"] for p in r["parts"]] for r in rows]
    assert ["compaction"] in kinds, kinds
    assert any(r["info"].get("summary") is True for r in rows)
    last = _request_text(openai_fake.requests[2])
    assert "FIRST-QUESTION" not in last and "Buy seeds." in last


def test_no_automatic_compaction_when_disabled(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    config = _with_limit(openai_fake, context=200, output=100)
    config["compaction"] = {"auto": False}
    agent = start_agent(config)
    openai_fake.script = [Reply(text="one"), Reply(text="two")]
    sid = agent.session()
    assert agent.prompt(sid, "first").status_code == 200
    assert agent.prompt(sid, "second").status_code == 200
    rows = agent.messages(sid).json()
    assert all(p["type"] != "compaction" for r in rows for p in r["parts"])
    assert "first" in _request_text(openai_fake.requests[1])


def _big_call(n: int) -> Json:
    # About 11,000 tokens of output each, by upstream's four-characters-a-token estimate.
    command = f"python3 -c \"print('{n}' * 45000)\""
    return {"id": f"call_{n}", "name": "bash", "input": {"command": command}}


def test_prune_clears_old_tool_outputs(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [
        Reply(tool_calls=[_big_call(n) for n in range(1, 7)]),
        Reply(text="printed"),
        Reply(text="second"),
        Reply(text="third"),
        Reply(text="fourth"),
    ]
    sid = agent.session()
    for text in ("print a lot", "two", "three"):
        assert agent.prompt(sid, text).status_code == 200

    tools = [p for r in agent.messages(sid).json() for p in r["parts"] if p["type"] == "tool"]
    assert [p["state"]["status"] for p in tools] == ["completed"] * 6
    compacted = [p["callID"] for p in tools if p["state"]["time"].get("compacted")]
    # Counted from the newest: the output that takes the total past 40,000 tokens and all
    # older ones are pruned (they free over 20,000), as upstream counts.
    assert compacted == ["call_1", "call_2", "call_3"]
    assert all(len(p["state"]["output"]) > 40_000 for p in tools)  # stored output is kept

    assert agent.prompt(sid, "four").status_code == 200
    last = openai_fake.requests[-1]
    outputs = {m.get("tool_call_id"): m["content"] for m in last["messages"] if m["role"] == "tool"}
    cleared = "[Old tool result content cleared]"
    assert outputs["call_1"] == outputs["call_2"] == outputs["call_3"] == cleared
    assert outputs["call_4"].startswith("4444")


def test_summarize_auto_goes_on(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="first"), Reply(text=SUMMARY), Reply(text="went on")]
    sid = agent.session()
    assert agent.prompt(sid, "ORIGINAL-QUESTION").status_code == 200
    r = agent.client.post(
        f"/session/{sid}/summarize",
        json={"providerID": "fake", "modelID": "m1", "auto": True},
        timeout=60,
    )
    assert r.status_code == 200 and r.json() is True, r.text
    rows = agent.messages(sid).json()
    assert rows[2]["parts"][0] == {**rows[2]["parts"][0], "type": "compaction", "auto": True}
    assert rows[4]["parts"][0]["synthetic"] is True
    assert rows[5]["info"]["agent"] == "build"
    assert [p["text"] for p in rows[5]["parts"] if p["type"] == "text"] == ["went on"]
    last = _request_text(openai_fake.requests[2])
    assert "ORIGINAL-QUESTION" not in last and "Buy seeds." in last
