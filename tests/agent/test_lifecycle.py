"""Concurrency: queued prompts, abort, and deleting a session while its loop runs."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply

SLOW = Reply(text="x" * 60, chunks=30, chunk_delay=0.1)  # about three seconds of streaming


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    out: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_second_prompt_is_queued_and_runs_after_the_first(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [
        Reply(text="first answer", chunks=5, chunk_delay=0.1),
        Reply(text="second answer"),
    ]
    sid = agent.session()
    with agent.events() as rec:
        t1, r1 = _in_thread(lambda: agent.prompt(sid, "one"))
        rec.wait_for(lambda e: e["type"] == "message.part.delta")
        t2, r2 = _in_thread(lambda: agent.prompt(sid, "two"))
        t1.join(30)
        t2.join(30)
        assert agent.client.get("/session/status").json() == {}
    assert r1[0].status_code == 200 and r2[0].status_code == 200
    a1, a2 = r1[0].json(), r2[0].json()
    assert [p["text"] for p in a1["parts"] if p["type"] == "text"] == ["first answer"]
    assert [p["text"] for p in a2["parts"] if p["type"] == "text"] == ["second answer"]
    stored = agent.messages(sid).json()
    users = [m["info"] for m in stored if m["info"]["role"] == "user"]
    assert [u["id"] for u in users] == [a1["info"]["parentID"], a2["info"]["parentID"]]
    assert a2["info"]["time"]["created"] >= a1["info"]["time"]["completed"]
    # The first model call saw only the first prompt; the second saw both, in order.
    assert "two" not in str(openai_fake.requests[0]["messages"])
    second = [m.get("content") for m in openai_fake.requests[1]["messages"]]
    assert second[-3:] == ["one", "first answer", "two"]


def test_abort_marks_the_message_and_returns_promptly(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [SLOW]
    sid = agent.session()
    with agent.events() as rec:
        thread, out = _in_thread(lambda: agent.prompt(sid, "go"))
        rec.wait_for(lambda e: e["type"] == "message.part.delta")
        started = time.monotonic()
        r = agent.client.post(f"/session/{sid}/abort")
        assert r.status_code == 200 and r.json() is True
        thread.join(10)
        assert time.monotonic() - started < 2.5
        rec.wait_idle(sid)
    result = out[0].json()
    assert result["info"]["error"]["name"] == "MessageAbortedError"
    text = next(p for p in result["parts"] if p["type"] == "text")
    assert 0 < len(text["text"]) < 60 and "end" in text["time"]
    stored = agent.messages(sid).json()
    assert stored[-1]["info"]["error"]["name"] == "MessageAbortedError"
    assert agent.client.get("/session/status").json() == {}


def test_delete_during_loop_stops_it_and_writes_nothing_afterwards(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [SLOW]
    sid = agent.session()
    with agent.events() as rec:
        thread, out = _in_thread(lambda: agent.prompt(sid, "go"))
        rec.wait_for(lambda e: e["type"] == "message.part.delta")
        assert agent.client.delete(f"/session/{sid}").status_code == 200
        thread.join(10)
        time.sleep(1.5)  # longer than the rest of the stream would have taken to show up
    assert out[0].status_code == 404
    assert agent.client.get(f"/session/{sid}").status_code == 404
    assert agent.messages(sid).status_code == 404
    mine = rec.of(sid)
    types = [e["type"] for e in mine]
    assert "session.deleted" in types
    assert types[-1] == "session.deleted", types[types.index("session.deleted") :]
    assert agent.client.get("/session/status").json() == {}
    # The server is still fine.
    assert agent.client.get("/global/health").status_code == 200


def test_prompt_async_and_abort_of_queued_prompts(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [SLOW, Reply(text="never asked for")]
    sid = agent.session()
    body = {"parts": [{"type": "text", "text": "go"}]}
    with agent.events() as rec:
        first = agent.client.post(f"/session/{sid}/prompt_async", json=body)
        assert first.status_code == 204 and first.content == b""
        rec.wait_for(lambda e: e["type"] == "message.part.delta")
        second = agent.client.post(f"/session/{sid}/prompt_async", json=body)
        assert second.status_code == 204
        assert agent.client.get("/session/status").json() == {sid: {"type": "busy"}}
        assert agent.client.post(f"/session/{sid}/abort").json() is True
        rec.wait_idle(sid)
    stored = agent.messages(sid).json()
    users = [m["info"]["id"] for m in stored if m["info"]["role"] == "user"]
    replies = [m["info"] for m in stored if m["info"]["role"] == "assistant"]
    assert len(users) == 2  # no user message lost
    assert [r["parentID"] for r in replies] == users
    assert {r["error"]["name"] for r in replies} == {"MessageAbortedError"}
    assert len(openai_fake.requests) == 1  # the queued prompt never reached the model
    assert agent.client.get("/session/status").json() == {}


def test_stopping_the_server_aborts_running_prompts_cleanly(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [SLOW]
    sid = agent.session()
    with agent.events() as rec:
        thread, out = _in_thread(lambda: agent.prompt(sid, "go"))
        rec.wait_for(lambda e: e["type"] == "message.part.delta")
        started = time.monotonic()
        assert agent.server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
        thread.join(5)
    assert out[0].status_code == 200
    assert out[0].json()["info"]["error"]["name"] == "MessageAbortedError"
    agent.server.restart()
    client = httpx.Client(base_url=agent.server.url, params={"directory": str(agent.project)})
    with client:
        stored = client.get(f"/session/{sid}/message").json()
    assert stored[-1]["info"]["error"]["name"] == "MessageAbortedError"


def test_a_stopped_server_closes_its_model_connections(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    """The provider clients' pools are closed at shutdown, not left for the loop to report."""
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="hello")]
    sid = agent.session()
    assert agent.prompt(sid, "hi").status_code == 200
    assert agent.server.stop() == 0
    time.sleep(0.2)  # the drain thread takes the last lines
    logged = "".join(agent.server.output)
    assert "Unclosed" not in logged, logged[-2000:]
