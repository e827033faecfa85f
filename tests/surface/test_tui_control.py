"""`/tui/*` over real HTTP: each route publishes the event the OpenCode UI acts on."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.schema import reference
from tests.serverproc import RunningServer
from tests.surface.events import EventLog

PUBLISHES = [
    ("/tui/append-prompt", {"text": "hello"}, "tui.prompt.append", {"text": "hello"}),
    ("/tui/open-help", None, "tui.command.execute", {"command": "help.show"}),
    ("/tui/open-sessions", None, "tui.command.execute", {"command": "session.list"}),
    ("/tui/open-themes", None, "tui.command.execute", {"command": "theme.switch"}),
    ("/tui/open-models", None, "tui.command.execute", {"command": "model.list"}),
    ("/tui/submit-prompt", None, "tui.command.execute", {"command": "prompt.submit"}),
    ("/tui/clear-prompt", None, "tui.command.execute", {"command": "prompt.clear"}),
    (
        "/tui/execute-command",
        {"command": "session_new"},
        "tui.command.execute",
        {"command": "session.new"},
    ),
    (
        "/tui/execute-command",
        {"command": "agent.cycle"},
        "tui.command.execute",
        {"command": "agent.cycle"},
    ),
    (
        "/tui/show-toast",
        {"message": "m", "variant": "info"},
        "tui.toast.show",
        {"message": "m", "variant": "info", "duration": 5000},
    ),
    (
        "/tui/publish",
        {
            "type": "tui.toast.show",
            "properties": {"title": "t", "message": "m", "variant": "error"},
        },
        "tui.toast.show",
        {"title": "t", "message": "m", "variant": "error", "duration": 5000},
    ),
    (
        "/tui/publish",
        {"type": "tui.prompt.append", "properties": {"text": "pub"}},
        "tui.prompt.append",
        {"text": "pub"},
    ),
]


def test_routes_publish_their_events(server: RunningServer) -> None:
    log = EventLog(server.url)
    c = httpx.Client(base_url=server.url, timeout=10)
    expected: list[tuple[str, dict[str, Any]]] = []
    for path, body, kind, properties in PUBLISHES:
        r = c.post(path, json=body)
        assert r.status_code == 200, (path, r.text)
        assert r.json() is True
        assert reference().response_problems(path, "post", 200, r.json()) == []
        expected.append((kind, properties))
    session = c.post("/session", json={}).json()
    assert c.post("/tui/select-session", json={"sessionID": session["id"]}).json() is True
    expected.append(("tui.session.select", {"sessionID": session["id"]}))
    log.wait("tui.session.select")
    got = [(e["type"], e["properties"]) for e in log.events if e["type"].startswith("tui.")]
    assert got == expected
    for event in log.events:
        if event["type"].startswith("tui."):
            schema = reference().component("Event")
            assert reference().problems(event, schema) == [], event
    log.close()


BAD = [
    ("/tui/append-prompt", {}, 400),
    ("/tui/append-prompt", {"text": 1}, 400),
    ("/tui/show-toast", {"message": "m", "variant": "loud"}, 400),
    ("/tui/show-toast", {"message": "m", "variant": "info", "duration": 0}, 400),
    ("/tui/publish", {"type": "session.deleted", "properties": {}}, 400),
    ("/tui/publish", {"type": "tui.prompt.append", "properties": {}}, 400),
    ("/tui/select-session", {"sessionID": "nope"}, 400),
    ("/tui/select-session", {"sessionID": "ses_missing"}, 404),
    ("/tui/execute-command", {"command": "x", "extra": 1}, 400),
]


def test_bad_input_publishes_nothing(server: RunningServer) -> None:
    log = EventLog(server.url)
    c = httpx.Client(base_url=server.url, timeout=10)
    for path, body, status in BAD:
        r = c.post(path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert reference().response_problems(path, "post", status, r.json()) == [], (path, body)
    # A marker sent afterwards arrives; nothing from the refused request came before it.
    c.post("/tui/append-prompt", json={"text": "marker"})
    log.wait("tui.prompt.append")
    tui_events = [e for e in log.events if e["type"].startswith("tui.")]
    assert [e["properties"] for e in tui_events] == [{"text": "marker"}]
    log.close()


def test_control_queue(server: RunningServer) -> None:
    c = httpx.Client(base_url=server.url, timeout=10)
    r = c.post("/tui/control/response", json={"answer": 1})
    assert r.status_code == 200 and r.json() is True
    # Nothing is queued for the UI: `next` long-polls, and gives up only when the client does.
    outcome: list[BaseException] = []

    def poll() -> None:
        try:
            httpx.get(f"{server.url}/tui/control/next", timeout=1.0)
        except httpx.ReadTimeout as exc:
            outcome.append(exc)

    worker = threading.Thread(target=poll)
    worker.start()
    worker.join(10)
    assert len(outcome) == 1
