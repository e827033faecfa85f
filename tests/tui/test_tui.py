"""Acceptance: the official OpenCode terminal UI attached to `pyopencode serve`, driven in tmux."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.agent.fakes import FakeProvider, Reply
from tests.reference import require_spec
from tests.schema import reference
from tests.tui.conftest import LoggedServer, Tui, api

Attach = Callable[[str], Tui]

# Error toasts show the error's name or message ("NotFoundError: ...", "ImportError: ...").
# Lower-case "error" is left out: the UI's random tips may use the word.
_ERROR_WORDS = ("Error", "Not Found", "NotFound", "404")

# What the 1.18.33 UI asks for at attach besides sessions, config, providers and agents.
ATTACH_ENDPOINTS = [
    ("/api/agent", "/api/agent"),
    ("/api/command", "/api/command"),
    ("/api/integration", "/api/integration"),
    ("/api/location", "/api/location"),
    ("/api/model", "/api/model"),
    ("/api/provider", "/api/provider"),
    ("/api/reference", "/api/reference"),
    ("/api/skill", "/api/skill"),
    ("/command", "/command"),
    ("/experimental/capabilities", "/experimental/capabilities"),
    ("/experimental/console", "/experimental/console"),
    ("/experimental/resource", "/experimental/resource"),
    ("/experimental/workspace", "/experimental/workspace"),
    ("/experimental/workspace/status", "/experimental/workspace/status"),
    ("/formatter", "/formatter"),
    ("/lsp", "/lsp"),
    ("/mcp", "/mcp"),
    ("/project/{projectID}/directories", "/project/global/directories"),
    ("/provider/auth", "/provider/auth"),
    ("/vcs", "/vcs"),
]


def _settled(server: LoggedServer, quiet: float = 1.0, timeout: float = 15.0) -> list[Any]:
    """The request log once no new request has arrived for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    seen = server.requests()
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = server.requests()
        if len(now) != len(seen):
            seen, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
    return seen


def _home(tui: Tui) -> str:
    return tui.wait_for(
        lambda s: "Ask anything" in s and "GPT-4o mini" in s and "tab agents" in s,
        "the home screen with the configured model",
    )


def _list_fetches(server: LoggedServer) -> int:
    requests = server.requests()
    return sum(
        1 for method, path, _ in requests if (method, path.split("?")[0]) == ("GET", "/session")
    )


def _open_session_list(tui: Tui) -> str:
    tui.press("C-x", "l")  # <leader>l, the default `session_list` keybinding
    return tui.wait_text("delete ctrl+d", timeout=15)


def test_attach_endpoints_match_reference(logged_server: LoggedServer) -> None:
    """Every endpoint the UI reads at attach answers 200 in the reference's shape."""
    require_spec()
    spec = reference()
    problems: dict[str, list[str]] = {}
    with api(logged_server) as client:
        project_id = client.get("/project/current").json()["id"]
        urls = [*ATTACH_ENDPOINTS, ("/project/{projectID}/directories", "/project/current")]
        for template, url in urls:
            url = url.replace("/project/current", f"/project/{project_id}/directories")
            response = client.get(url)
            found = spec.response_problems(template, "get", response.status_code, response.json())
            if found:
                problems[url] = found
        vcs = client.get("/vcs").json()
        directories = client.get(f"/project/{project_id}/directories").json()
    assert problems == {}
    assert vcs == {"branch": "main", "default_branch": "main"}
    assert directories == [{"directory": str(logged_server.workdir)}]


def test_vcs_reports_only_what_git_says(logged_server: LoggedServer, tmp_path: Path) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    work = logged_server.workdir
    with api(logged_server) as client:
        assert client.get("/vcs", params={"directory": str(plain)}).json() == {}
        subprocess.run(["git", "checkout", "-q", "-b", "feature/x"], cwd=work, check=True)
        assert client.get("/vcs").json() == {"branch": "feature/x", "default_branch": "main"}
        subprocess.run(["git", "checkout", "-q", "--detach"], cwd=work, check=True)
        assert client.get("/vcs").json() == {"default_branch": "main"}  # detached: no branch


def test_ui_attaches_and_shows_home_screen(logged_server: LoggedServer, attach: Attach) -> None:
    tui = attach(logged_server.url)
    screen = _home(tui)
    requests = _settled(logged_server)
    # The branch comes from GET /vcs; on a loaded machine the UI may draw it a moment later.
    tui.wait_text(f"{logged_server.workdir.name}:main", timeout=20)
    screen = tui.capture("01-home")
    assert "1.18.33" in screen
    assert [w for w in _ERROR_WORDS if w in screen] == []
    asked = {path.split("?")[0] for _, path, _ in requests}
    assert {"/api/agent", "/vcs", "/experimental/console", "/provider/auth"} <= asked
    assert [r for r in requests if r[2] >= 400] == []
    # The status dialog reports the features pyopencode lacks as absent, not as failing.
    tui.type("/status")
    tui.wait_text("/status", timeout=10)
    tui.press("Enter")
    status = tui.wait_for(lambda s: "No MCP Servers" in s and "No Formatters" in s, "status")
    tui.capture("06-status")
    assert [w for w in _ERROR_WORDS if w in status] == []


def test_session_list_follows_the_api(logged_server: LoggedServer, attach: Attach) -> None:
    """Sessions made through the API are listed; one deleted through the API leaves the list."""
    tui = attach(logged_server.url)
    _home(tui)
    with api(logged_server) as client:
        first = client.post("/session", json={"title": "alpha-one"}).json()
        client.post("/session", json={"title": "beta-two"}).raise_for_status()
        _open_session_list(tui)
        tui.wait_for(lambda s: "alpha-one" in s and "beta-two" in s, "both sessions listed")
        tui.capture("02-session-list")
        fetches = _list_fetches(logged_server)
        assert fetches >= 1  # the list dialog loaded it when it opened
        assert client.delete(f"/session/{first['id']}").json() is True
        screen = tui.wait_for(
            lambda s: "alpha-one" not in s and "beta-two" in s, "alpha-one to leave the list"
        )
    tui.capture("03-session-list-after-api-delete")
    assert "Sessions" in screen  # still the open list, not a reload of the home screen
    # The list was not fetched again: the UI learnt of the delete from the event stream.
    assert _list_fetches(logged_server) == fetches


def test_delete_from_ui_removes_it_from_the_store(
    logged_server: LoggedServer, attach: Attach
) -> None:
    tui = attach(logged_server.url)
    _home(tui)
    with api(logged_server) as client:
        keep = client.post("/session", json={"title": "keep-me"}).json()
        time.sleep(0.01)  # a later timestamp, so the UI's newest-first order is certain
        doomed = client.post("/session", json={"title": "delete-me"}).json()
        _open_session_list(tui)
        # The newest session is listed first and selected.
        tui.wait_for(
            lambda s: -1 < s.find("delete-me") < s.find("keep-me"), "delete-me listed on top"
        )
        tui.press("C-d")
        tui.wait_text("Press ctrl+d again to confirm")
        tui.capture("04-session-delete-confirm")
        tui.press("C-d")
        tui.wait_for(lambda s: "delete-me" not in s and "keep-me" in s, "delete-me to go")
        tui.capture("05-session-list-after-ui-delete")
        deadline = time.monotonic() + 10
        while client.get(f"/session/{doomed['id']}").status_code != 404:
            assert time.monotonic() < deadline, "the UI's delete never reached the store"
            time.sleep(0.1)
        gone = client.get(f"/session/{doomed['id']}")
        assert gone.json()["name"] == "NotFoundError"
        assert client.get(f"/session/{keep['id']}").status_code == 200
    deletes = [p for m, p, s in logged_server.requests() if m == "DELETE" and s == 200]
    assert deletes == [f"/session/{doomed['id']}"]


ANSWER = "Pong from the scripted fake model"
FINAL = "The bash tool said tui-bash-ok"
# The footer of a finished turn shows its duration: "Build · Fake Model · 2.9s".
_TURN_DONE = re.compile(r"Fake Model · \d")
BASH: dict[str, Any] = {
    "id": "call_tui_bash",
    "name": "bash",
    "input": {"command": "echo tui-bash-ok", "description": "Print a marker"},
}


def _send(tui: Tui, text: str) -> None:
    tui.type(text)
    tui.wait_text(text, timeout=10)
    tui.press("Enter")


def test_prompt_from_ui(
    agent_server: LoggedServer, fake_model: FakeProvider, attach: Attach
) -> None:
    """A prompt typed in the UI streams its answer; a `bash` call asks, is allowed, and runs."""
    fake_model.script = [
        Reply(text=ANSWER, chunks=4, chunk_delay=0.3),  # ~2.4 s: long enough to see it grow
        Reply(tool_calls=[BASH]),
        Reply(text=FINAL),
    ]
    tui = attach(agent_server.url)
    tui.wait_for(lambda s: "Ask anything" in s and "Fake Model" in s, "home with the fake model")
    _send(tui, "say pong")
    # Streamed: the first pieces are on screen before the last one has been sent.
    tui.wait_for(lambda s: "Pong from" in s and ANSWER not in s, "a partial answer")
    tui.wait_text(ANSWER)
    tui.wait_for(lambda s: _TURN_DONE.search(s) is not None, "the turn's duration", timeout=15)
    tui.capture("07-prompt-answer")
    _send(tui, "run the marker command")
    tui.wait_for(lambda s: "Permission required" in s and "Allow once" in s, "the permission ask")
    tui.capture("08-permission-asked")
    with api(agent_server) as client:
        (asked,) = client.get("/permission").json()
        assert asked["permission"] == "bash" and asked["patterns"] == ["echo tui-bash-ok"]
        tui.press("Enter")  # "Allow once" is the selected choice
        screen = tui.wait_text(FINAL)
        tui.capture("09-tool-allowed-and-answered")
        assert client.get("/permission").json() == []
        (session,) = client.get("/session").json()
        messages = client.get(f"/session/{session['id']}/message").json()
        assert client.get(f"/session/{session['id']}/diff").json() == []  # the UI asks for it
    tools = [p for m in messages for p in m["parts"] if p["type"] == "tool"]
    assert [(t["tool"], t["callID"], t["state"]["status"]) for t in tools] == [
        ("bash", BASH["id"], "completed")
    ]
    assert tools[0]["state"]["output"].strip() == "tui-bash-ok"
    assert "Permission required" not in screen
    assert [w for w in _ERROR_WORDS if w in screen] == []
    # The model saw both prompts and the tool's output; the UI answered the ask itself.
    sent = [str(m.get("content")) for r in fake_model.requests for m in r["messages"]]
    assert any("say pong" in c for c in sent) and any("tui-bash-ok" in c for c in sent)
    requests = [(m, p.split("?")[0], status) for m, p, status in agent_server.requests()]
    assert ("POST", f"/permission/{asked['id']}/reply", 200) in requests
    assert [r for r in requests if r[2] >= 400] == []
