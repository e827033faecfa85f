"""The `/api/session*` (v2) operations against a real server, every answer checked against the
reference schema, with prompts answered by a scripted local model."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests import jssdk
from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.reference import require_spec
from tests.schema import reference

require_spec()

Json = dict[str, Any]
JSON_TYPE = {"content-type": "application/json"}
BASH: Json = {"id": "call_v2", "name": "bash", "input": {"command": "echo v2 > v2.txt"}}


def check(r: httpx.Response, template: str, method: str, status: int) -> Any:
    """The answer's body, after asserting its status and its shape in the reference."""
    assert r.status_code == status, r.text
    body = r.json() if r.content else None
    if status == 204:
        assert not r.content
        return None
    problems = reference().response_problems(template, method, status, body)
    assert problems == [], (template, body)
    return body


def _sessions(agent: Agent) -> list[Json]:
    r = agent.client.get("/api/session", params={"limit": 1000})
    data: list[Json] = check(r, "/api/session", "get", 200)["data"]
    return data


def test_create_list_get_switch(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    c = agent.client
    made = [check(c.post("/api/session", json={}), "/api/session", "post", 200)["data"]]
    body = {"agent": "plan", "model": {"id": "m1", "providerID": "fake"}}
    made.append(check(c.post("/api/session", json=body), "/api/session", "post", 200)["data"])
    assert made[1]["agent"] == "plan" and made[1]["model"] == body["model"]
    assert made[0]["location"] == {"directory": str(agent.project)}
    # The same session through v1: one store, one truth.
    v1 = c.get(f"/session/{made[1]['id']}").json()
    assert v1["agent"] == "plan" and v1["model"] == {"id": "m1", "providerID": "fake"}

    chosen = {"id": "ses_0123456789abcdefChosenByClient"}
    mine = check(c.post("/api/session", json=chosen), "/api/session", "post", 200)["data"]
    assert mine["id"] == chosen["id"]
    again = check(c.post("/api/session", json=chosen), "/api/session", "post", 400)
    assert again["field"] == "id"
    c.delete(f"/session/{mine['id']}")

    listed = _sessions(agent)
    assert [s["id"] for s in listed] == [made[1]["id"], made[0]["id"]]
    first = check(c.get("/api/session", params={"limit": 1}), "/api/session", "get", 200)
    assert [s["id"] for s in first["data"]] == [made[1]["id"]]
    after = c.get("/api/session", params={"cursor": first["cursor"]["next"]})
    assert [s["id"] for s in check(after, "/api/session", "get", 200)["data"]] == [made[0]["id"]]
    asc = check(c.get("/api/session", params={"order": "asc"}), "/api/session", "get", 200)
    assert [s["id"] for s in asc["data"]] == [made[0]["id"], made[1]["id"]]

    sid = made[0]["id"]
    got = check(c.get(f"/api/session/{sid}"), "/api/session/{sessionID}", "get", 200)["data"]
    assert got == made[0]
    r = c.post(f"/api/session/{sid}/agent", json={"agent": "plan"})
    check(r, "/api/session/{sessionID}/agent", "post", 204)
    r = c.post(f"/api/session/{sid}/model", json={"model": {"id": "m1", "providerID": "fake"}})
    check(r, "/api/session/{sessionID}/model", "post", 204)
    got = c.get(f"/api/session/{sid}").json()["data"]
    assert got["agent"] == "plan" and got["model"] == {"id": "m1", "providerID": "fake"}
    active = check(c.get("/api/session/active"), "/api/session/active", "get", 200)
    assert active == {"data": {}}


def test_bad_input_is_refused_and_changes_nothing(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    c = agent.client
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    before = c.get(f"/api/session/{sid}").json()
    missing = "ses_ffffffffffffNoSuchSession00"
    missing_cases: list[tuple[str, str, Json | None]] = [
        ("get", "/api/session/{sessionID}", None),
        ("get", "/api/session/{sessionID}/message", None),
        ("get", "/api/session/{sessionID}/history", None),
        ("post", "/api/session/{sessionID}/agent", {"agent": "plan"}),
        ("post", "/api/session/{sessionID}/prompt", {"prompt": {"text": "hi"}}),
        ("post", "/api/session/{sessionID}/interrupt", None),
        ("get", "/api/session/{sessionID}/permission", None),
    ]
    for method, path, body in missing_cases:
        r = c.request(method, path.format(sessionID=missing), json=body)
        err = check(r, path, method, 404)
        assert err == {
            "_tag": "SessionNotFoundError",
            "sessionID": missing,
            "message": f"Session not found: {missing}",
        }
    r = c.get(f"/api/session/{sid}/message/msg_nope")
    err = check(r, "/api/session/{sessionID}/message/{messageID}", "get", 404)
    assert err["_tag"] == "MessageNotFoundError" and err["messageID"] == "msg_nope"

    bad: list[tuple[str, str, Json | None, str | None]] = [
        ("get", "/api/session/nope", None, "/api/session/{sessionID}"),
        ("post", "/api/session", {"bogus": 1}, "/api/session"),
        ("post", "/api/session", {"agent": "no-such-agent"}, "/api/session"),
        ("post", "/api/session", {"id": "ses\u0000"}, "/api/session"),
        ("post", "/api/session", {"location": {"directory": "relative"}}, "/api/session"),
        (
            "post",
            "/api/session",
            {"location": {"directory": "/tmp", "workspaceID": "wrk_1"}},
            "/api/session",
        ),
        ("post", f"/api/session/{sid}/agent", {"agent": "no-such-agent"}, None),
        ("post", f"/api/session/{sid}/agent", {}, None),
        ("post", f"/api/session/{sid}/model", {"model": {"id": "x", "providerID": "nope"}}, None),
        ("post", f"/api/session/{sid}/prompt", {"prompt": {}}, None),
        ("post", f"/api/session/{sid}/prompt", {"id": "msg_\u0000", "prompt": {"text": "x"}}, None),
        ("post", f"/api/session/{sid}/prompt", {"prompt": {"text": 1}}, None),
        ("get", f"/api/session/{sid}/history?limit=abc", None, None),
        ("get", "/api/session?order=sideways", None, "/api/session"),
    ]
    for method, path, body, template in bad:
        if template is None:
            template = "/api/session/{sessionID}/" + path.split("/")[4].split("?")[0]
        path, _, query = path.partition("?")
        params = dict(pair.split("=") for pair in query.split("&")) if query else None
        content = orjson.dumps(body) if body is not None else None
        r = c.request(method, path, content=content, params=params, headers=JSON_TYPE)
        err = check(r, template, method, 400)
        assert err["_tag"] == "InvalidRequestError", err
    for template, params in [
        ("/api/session", {"cursor": "garbage"}),
        ("/api/session/{sessionID}/message", {"cursor": "garbage"}),
    ]:
        r = c.get(template.format(sessionID=sid), params=params)
        assert check(r, template, "get", 400) == {
            "_tag": "InvalidCursorError",
            "message": "Invalid cursor",
        }
    r = c.get("/api/session", params=[("limit", "1"), ("limit", "2")])
    assert check(r, "/api/session", "get", 400)["field"] == "limit"
    r = c.post("/api/session", content=b"{not json", headers={"content-type": "application/json"})
    check(r, "/api/session", "post", 400)
    assert [s["id"] for s in _sessions(agent)] == [sid]
    assert c.get(f"/api/session/{sid}").json() == before
    assert c.get(f"/session/{sid}/message").json() == []


def test_compact_summarizes_with_the_sessions_model(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    c = agent.client
    openai_fake.script = [Reply(text="first answer"), Reply(text="The summary so far.")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    _prompt_and_wait(agent, sid, "hello")
    template = "/api/session/{sessionID}/compact"
    done = c.post(f"/api/session/{sid}/compact")
    assert done.status_code == 204, done.text
    rows = c.get(f"/session/{sid}/message").json()
    summaries = [r for r in rows if r["info"].get("summary") is True]
    assert len(summaries) == 1
    assert [p.get("text") for p in summaries[0]["parts"] if p["type"] == "text"] == [
        "The summary so far."
    ]
    missing = c.post("/api/session/ses_0000000000000000000000missing/compact")
    check(missing, template, "post", 404)


def _prompt_and_wait(agent: Agent, sid: str, text: str) -> Json:
    r = agent.client.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": text}})
    admitted: Json = check(r, "/api/session/{sessionID}/prompt", "post", 200)["data"]
    r = agent.client.post(f"/api/session/{sid}/wait", timeout=30)
    check(r, "/api/session/{sessionID}/wait", "post", 204)
    return admitted


def test_prompt_messages_history_and_events(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    c = agent.client
    openai_fake.script = [Reply(text=f"{n} answer") for n in ("first", "second", "third")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    one = _prompt_and_wait(agent, sid, "hello")
    assert one["sessionID"] == sid and one["prompt"] == {"text": "hello"}
    assert one["admittedSeq"] == 1
    two = _prompt_and_wait(agent, sid, "again")
    assert two["admittedSeq"] > one["admittedSeq"]
    # What the model was sent is what the v2 prompt said.
    assert openai_fake.requests[-1]["messages"][-1]["content"] in (
        "again",
        [{"type": "text", "text": "again"}],
    )

    tmpl = "/api/session/{sessionID}/message"
    newest = check(c.get(f"/api/session/{sid}/message"), tmpl, "get", 200)
    kinds = [(m["type"], m.get("text") or m.get("content")) for m in newest["data"]]
    assert kinds == [
        ("assistant", [{"type": "text", "id": kinds[0][1][0]["id"], "text": "second answer"}]),
        ("user", "again"),
        ("assistant", [{"type": "text", "id": kinds[2][1][0]["id"], "text": "first answer"}]),
        ("user", "hello"),
    ]
    assert newest["data"][0]["model"] == {"id": "m1", "providerID": "fake"}
    assert newest["data"][0]["finish"] == "stop"
    page = check(c.get(f"/api/session/{sid}/message", params={"limit": 1}), tmpl, "get", 200)
    nxt = c.get(f"/api/session/{sid}/message", params={"cursor": page["cursor"]["next"]})
    assert [m["id"] for m in check(nxt, tmpl, "get", 200)["data"]] == [
        m["id"] for m in newest["data"][1:]
    ]
    mid = newest["data"][1]["id"]
    r = c.get(f"/api/session/{sid}/message/{mid}")
    tmpl1 = "/api/session/{sessionID}/message/{messageID}"
    assert check(r, tmpl1, "get", 200)["data"] == newest["data"][1]
    ctx = check(
        c.get(f"/api/session/{sid}/context"), "/api/session/{sessionID}/context", "get", 200
    )
    assert ctx["data"] == list(reversed(newest["data"]))

    htmpl = "/api/session/{sessionID}/history"
    hist = check(c.get(f"/api/session/{sid}/history"), htmpl, "get", 200)
    assert hist["hasMore"] is False
    events = hist["data"]
    assert [e["durable"]["seq"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"].removeprefix("session.next.") for e in events]
    turn = ["prompt.admitted", "prompted", "step.started", "text.started", "text.ended"]
    assert types == [*turn, "step.ended", *turn, "step.ended"]
    assert events[1]["data"]["prompt"] == {"text": "hello"}
    assert events[4]["data"]["text"] == "first answer"
    assert events[two["admittedSeq"] - 1]["data"]["messageID"] == two["id"]
    r = c.get(f"/api/session/{sid}/history", params={"limit": 2, "after": 3})
    part = check(r, htmpl, "get", 200)
    assert part["data"] == events[3:5] and part["hasMore"] is True

    # The live log replays after a sequence number, then follows; read a bounded amount.
    seen: list[Json] = []
    with httpx.stream(
        "GET",
        f"{agent.server.url}/api/session/{sid}/event",
        params={"directory": str(agent.project), "after": "6"},
        timeout=10,
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(orjson.loads(line[6:]))
            if len(seen) == len(events) - 6:
                break
    assert seen == events[6:]
    for event in seen:
        problems = reference().problems(event, reference().component("SessionDurableEvent"))
        assert problems == []

    # Following live: a prompt made while subscribed streams its events as they commit.
    live: list[Json] = []
    with httpx.stream(
        "GET",
        f"{agent.server.url}/api/session/{sid}/event",
        params={"directory": str(agent.project), "after": str(len(events))},
        timeout=20,
    ) as stream:
        r = c.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": "third"}})
        check(r, "/api/session/{sessionID}/prompt", "post", 200)
        for line in stream.iter_lines():
            if line.startswith("data: "):
                live.append(orjson.loads(line[6:]))
            if live and live[-1]["type"] == "session.next.step.ended":
                break
    assert [e["type"].removeprefix("session.next.") for e in live] == [*turn, "step.ended"]
    assert [e["durable"]["seq"] for e in live] == list(range(len(events) + 1, len(events) + 7))
    assert live[4]["data"]["text"] == "third answer"
    full = c.get(f"/api/session/{sid}/history").json()["data"]
    assert full == events + live

    # resume: false admits the prompt and runs nothing.
    asked = len(openai_fake.requests)
    body = {"prompt": {"text": "later"}, "resume": False}
    r = c.post(f"/api/session/{sid}/prompt", json=body)
    held = check(r, "/api/session/{sessionID}/prompt", "post", 200)["data"]
    assert held["admittedSeq"] == len(full) + 1
    newest = c.get(f"/api/session/{sid}/message", params={"limit": 1}).json()["data"]
    assert newest == [
        {"id": held["id"], "time": newest[0]["time"], "text": "later", "type": "user"}
    ]
    assert c.get("/api/session/active").json() == {"data": {}}
    assert len(openai_fake.requests) == asked


def test_permissions_through_v2(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "permission": {"bash": "ask"}})
    c = agent.client
    openai_fake.script = [Reply(tool_calls=[BASH]), Reply(text="done")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    ltmpl = "/api/session/{sessionID}/permission"
    assert check(c.get(f"/api/session/{sid}/permission"), ltmpl, "get", 200) == {"data": []}
    with agent.events() as rec:
        r = c.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": "run"}})
        check(r, "/api/session/{sessionID}/prompt", "post", 200)
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        active = check(c.get("/api/session/active"), "/api/session/active", "get", 200)
        assert active == {"data": {sid: {"type": "running"}}}
        pending = check(c.get(f"/api/session/{sid}/permission"), ltmpl, "get", 200)["data"]
        assert pending == [
            {
                "id": asked["id"],
                "sessionID": sid,
                "action": "bash",
                "resources": [BASH["input"]["command"]],
                "save": asked["always"],
                "metadata": asked["metadata"],
                "source": {
                    "type": "tool",
                    "messageID": asked["tool"]["messageID"],
                    "callID": "call_v2",
                },
            }
        ]
        gtmpl = ltmpl + "/{requestID}"
        got = c.get(f"/api/session/{sid}/permission/{asked['id']}")
        assert check(got, gtmpl, "get", 200)["data"] == pending[0]
        r = c.post(f"/api/session/{sid}/permission/per_nope/reply", json={"reply": "once"})
        assert check(r, gtmpl + "/reply", "post", 404)["_tag"] == "PermissionNotFoundError"
        r = c.post(f"/api/session/{sid}/permission/{asked['id']}/reply", json={"reply": "bad"})
        check(r, gtmpl + "/reply", "post", 400)
        assert (agent.project / "v2.txt").exists() is False
        r = c.post(f"/api/session/{sid}/permission/{asked['id']}/reply", json={"reply": "once"})
        check(r, gtmpl + "/reply", "post", 204)
        rec.wait_idle(sid)
    assert (agent.project / "v2.txt").read_text() == "v2\n"
    assert check(c.get(f"/api/session/{sid}/permission"), ltmpl, "get", 200) == {"data": []}
    tools = [
        item
        for m in c.get(f"/api/session/{sid}/context").json()["data"]
        for item in m.get("content", [])
        if item["type"] == "tool"
    ]
    assert [(t["name"], t["state"]["status"]) for t in tools] == [("bash", "completed")]
    r = c.get(f"/api/session/{sid}/history")
    history = check(r, "/api/session/{sessionID}/history", "get", 200)["data"]
    assert [e["type"].removeprefix("session.next.") for e in history] == [
        "prompt.admitted",
        "prompted",
        "step.started",
        "tool.input.started",
        "tool.input.ended",
        "tool.called",
        "tool.success",
        "step.ended",
        "step.started",
        "text.started",
        "text.ended",
        "step.ended",
    ]
    called = history[5]["data"]
    assert called["callID"] == "call_v2" and called["input"] == BASH["input"]
    assert orjson.loads(history[4]["data"]["text"]) == BASH["input"]


def test_interrupt_stops_a_running_prompt(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "permission": {"bash": "ask"}})
    c = agent.client
    openai_fake.script = [Reply(tool_calls=[BASH]), Reply(text="never")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    with agent.events() as rec:
        c.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": "run"}})
        rec.wait_for(lambda e: e["type"] == "permission.asked")
        waited: list[httpx.Response] = []
        waiter = threading.Thread(
            target=lambda: waited.append(c.post(f"/api/session/{sid}/wait", timeout=30))
        )
        waiter.start()
        r = c.post(f"/api/session/{sid}/interrupt")
        check(r, "/api/session/{sessionID}/interrupt", "post", 204)
        waiter.join(30)
        rec.wait_idle(sid)
    assert waited and waited[0].status_code == 204
    assert c.get("/api/session/active").json() == {"data": {}}
    assert not (agent.project / "v2.txt").exists()
    last = c.get(f"/api/session/{sid}/message").json()["data"][0]
    assert last["type"] == "assistant" and last["error"]["type"] == "unknown"


SDK_SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const made = await client.v2.session.create({}, { throwOnError: true });
const sessionID = made.data.data.id;
const admitted = await client.v2.session.prompt(
  { sessionID, prompt: { text: "Say hello" } }, { throwOnError: true });
await client.v2.session.wait({ sessionID }, { throwOnError: true });
const history = await client.v2.session.history({ sessionID }, { throwOnError: true });
const ok = { throwOnError: true };
const messages = await client.v2.session.messages({ sessionID, order: "asc" }, ok);
const permissions = await client.v2.session.permission.list({ sessionID }, ok);
const deleted = await client.session.delete({ sessionID }, { throwOnError: true });
const after = await client.v2.session.get({ sessionID });
console.log(JSON.stringify({
  session: made.data.data, admitted: admitted.data.data, history: history.data,
  messages: messages.data.data, permissions: permissions.data.data, deleted: deleted.data,
  afterStatus: after.response.status, afterError: after.error,
}));
"""


def test_v2_sdk_client(
    js_sdk: Path, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="Hello from the fake model")]
    out = jssdk.run(js_sdk, SDK_SCRIPT, agent.server.url, agent.project)
    sid = out["session"]["id"]
    assert out["admitted"]["sessionID"] == sid
    types = [e["type"] for e in out["history"]["data"]]
    assert types[:2] == ["session.next.prompt.admitted", "session.next.prompted"]
    assert types[-1] == "session.next.step.ended"
    assert [m["type"] for m in out["messages"]] == ["user", "assistant"]
    assert out["messages"][1]["content"][0]["text"] == "Hello from the fake model"
    assert out["permissions"] == []
    assert out["deleted"] is True
    assert out["afterStatus"] == 404
    assert out["afterError"]["_tag"] == "SessionNotFoundError"
    assert agent.client.get(f"/session/{sid}").status_code == 404


def test_client_permission_requests(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    rules = {"bash": {"*": "ask", "ls": "allow"}, "webfetch": "deny"}
    agent = start_agent({**provider_config(openai_fake), "permission": rules})
    c = agent.client
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    tmpl = "/api/session/{sessionID}/permission"
    path = f"/api/session/{sid}/permission"

    def create(body: Json, status: int = 200) -> Json:
        found: Json = check(c.post(path, json=body), tmpl, "post", status)
        return found

    assert create({"action": "bash", "resources": ["ls"]})["data"]["effect"] == "allow"
    assert create({"action": "webfetch", "resources": ["x"]})["data"]["effect"] == "deny"
    assert check(c.get(path), tmpl, "get", 200) == {"data": []}
    source = {"type": "tool", "messageID": "msg_1", "callID": "c1"}
    ask = {"action": "bash", "resources": ["rm -rf x"], "save": ["rm *"], "source": source}
    with agent.events() as rec:
        made = create({**ask, "id": "per_0123456789abcdefClientMade0"})["data"]
        assert made == {"id": "per_0123456789abcdefClientMade0", "effect": "ask"}
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["id"] == made["id"] and asked["patterns"] == ["rm -rf x"]
        again = create({**ask, "id": made["id"]}, 400)
        assert again["_tag"] == "InvalidRequestError"
        listed = check(c.get(path), tmpl, "get", 200)["data"]
        assert listed == [
            {
                "id": made["id"],
                "sessionID": sid,
                "action": "bash",
                "resources": ["rm -rf x"],
                "save": ["rm *"],
                "metadata": {},
                "source": source,
            }
        ]
        got = c.get(f"{path}/{made['id']}")
        assert check(got, tmpl + "/{requestID}", "get", 200)["data"] == listed[0]
        r = c.post(f"{path}/{made['id']}/reply", json={"reply": "always"})
        check(r, tmpl + "/{requestID}/reply", "post", 204)
        replied = rec.wait_for(lambda e: e["type"] == "permission.replied")["properties"]
        assert replied == {"sessionID": sid, "requestID": made["id"], "reply": "always"}
    assert check(c.get(path), tmpl, "get", 200) == {"data": []}
    r = c.post(f"{path}/{made['id']}/reply", json={"reply": "once"})
    check(r, tmpl + "/{requestID}/reply", "post", 404)
    # "always" granted its `save` patterns to the session.
    assert create({"action": "bash", "resources": ["rm -rf y"]})["data"]["effect"] == "allow"

    bad_bodies: list[Json] = [
        {"action": "bash"},
        {"action": "bash", "resources": "ls"},
        {"action": "bash", "resources": ["ls"], "id": "nope"},
        {"action": "bash", "resources": ["ls"], "agent": "no-such-agent"},
        {"action": "bash", "resources": ["ls"], "source": {"type": "other"}},
    ]
    for bad in bad_bodies:
        assert create(bad, 400)["_tag"] == "InvalidRequestError"
    pending = create({"action": "bash", "resources": ["mv a b"]})["data"]
    assert pending["effect"] == "ask"
    assert c.delete(f"/session/{sid}").json() is True
    r = c.get(f"{path}/{pending['id']}")
    assert check(r, tmpl + "/{requestID}", "get", 404)["_tag"] == "SessionNotFoundError"


QUESTION: Json = {
    "question": "Proceed?",
    "header": "Proceed",
    "options": [{"label": "Yes", "description": "go"}, {"label": "No", "description": "stop"}],
}


def test_questions_through_v2(openai_fake: FakeProvider, start_agent: Callable[..., Agent]) -> None:
    agent = start_agent(provider_config(openai_fake))
    c = agent.client
    ask = Reply(tool_calls=[{"id": "q1", "name": "question", "input": {"questions": [QUESTION]}}])
    openai_fake.script = [ask, Reply(text="went ahead"), ask, Reply(text="stopped")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    other = c.post("/api/session", json={}).json()["data"]["id"]
    tmpl = "/api/session/{sessionID}/question"
    path = f"/api/session/{sid}/question"
    assert check(c.get(path), tmpl, "get", 200) == {"data": []}
    for answer, text in (("reply", "went ahead"), ("reject", "stopped")):
        with agent.events() as rec:
            r = c.post(f"/api/session/{sid}/prompt", json={"prompt": {"text": "ask me"}})
            check(r, "/api/session/{sessionID}/prompt", "post", 200)
            asked = rec.wait_for(lambda e: e["type"] == "question.asked")["properties"]
            pending = check(c.get(path), tmpl, "get", 200)["data"]
            assert [(q["id"], q["questions"]) for q in pending] == [(asked["id"], [QUESTION])]
            assert check(c.get(f"/api/session/{other}/question"), tmpl, "get", 200) == {"data": []}
            # Not this session's question, an unknown one, a malformed answer: nothing changes.
            body = {"answers": [["Yes"]]}
            wrong = c.post(f"/api/session/{other}/question/{asked['id']}/reply", json=body)
            err = check(wrong, tmpl + "/{requestID}/reply", "post", 404)
            assert err["_tag"] == "QuestionNotFoundError"
            r = c.post(f"{path}/que_nope/reject")
            check(r, tmpl + "/{requestID}/reject", "post", 404)
            r = c.post(f"{path}/{asked['id']}/reply", json={"answers": "Yes"})
            check(r, tmpl + "/{requestID}/reply", "post", 400)
            assert len(check(c.get(path), tmpl, "get", 200)["data"]) == 1
            if answer == "reply":
                r = c.post(f"{path}/{asked['id']}/reply", json=body)
                check(r, tmpl + "/{requestID}/reply", "post", 204)
            else:
                r = c.post(f"{path}/{asked['id']}/reject")
                check(r, tmpl + "/{requestID}/reject", "post", 204)
            rec.wait_idle(sid)
        assert check(c.get(path), tmpl, "get", 200) == {"data": []}
        newest = c.get(f"/api/session/{sid}/message", params={"limit": 1}).json()["data"][0]
        assert newest["type"] == "assistant"
        if answer == "reply":
            assert newest["content"][0]["text"] == text
    tools = [
        item["state"]
        for m in c.get(f"/api/session/{sid}/context").json()["data"]
        for item in m.get("content", [])
        if item["type"] == "tool"
    ]
    assert [t["status"] for t in tools] == ["completed", "error"]
    assert "Yes" in tools[0]["content"][0]["text"]


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def test_revert_through_v2(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "kept.txt").write_text("kept\n")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    agent = start_agent({**provider_config(openai_fake), "permission": {"edit": "allow"}})
    c = agent.client
    new = project / "new.txt"
    write = {"id": "w1", "name": "write", "input": {"filePath": str(new), "content": "new\n"}}
    openai_fake.script = [Reply(tool_calls=[write]), Reply(text="written")]
    sid = c.post("/api/session", json={}).json()["data"]["id"]
    user = _prompt_and_wait(agent, sid, "write it")["id"]
    assert new.read_text() == "new\n"
    stored = c.get(f"/api/session/{sid}/message").json()["data"]
    tmpl = "/api/session/{sessionID}/revert/"

    r = c.post(f"/api/session/{sid}/revert/stage", json={"messageID": "msg_nope"})
    assert check(r, tmpl + "stage", "post", 404)["_tag"] == "MessageNotFoundError"
    r = c.post(f"/api/session/{sid}/revert/stage", json={"messageID": user, "x": 1})
    check(r, tmpl + "stage", "post", 400)
    assert new.exists() and "revert" not in c.get(f"/api/session/{sid}").json()["data"]

    r = c.post(f"/api/session/{sid}/revert/stage", json={"messageID": user})
    staged = check(r, tmpl + "stage", "post", 200)["data"]
    assert staged["messageID"] == user and staged["snapshot"]
    assert not new.exists() and (project / "kept.txt").read_text() == "kept\n"
    assert c.get(f"/api/session/{sid}").json()["data"]["revert"]["messageID"] == user
    check(c.post(f"/api/session/{sid}/revert/clear"), tmpl + "clear", "post", 204)
    assert new.read_text() == "new\n"
    assert "revert" not in c.get(f"/api/session/{sid}").json()["data"]
    assert c.get(f"/api/session/{sid}/message").json()["data"] == stored

    r = c.post(f"/api/session/{sid}/revert/stage", json={"messageID": user})
    check(r, tmpl + "stage", "post", 200)
    check(c.post(f"/api/session/{sid}/revert/commit"), tmpl + "commit", "post", 204)
    assert not new.exists()
    assert c.get(f"/api/session/{sid}/message").json()["data"] == []
    assert "revert" not in c.get(f"/api/session/{sid}").json()["data"]
    assert c.get(f"/session/{sid}/message").json() == []
