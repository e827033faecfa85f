"""The new tools and permission defaults, run by a scripted model through a real server."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.agent.conftest import provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.parity import Project, start, with_model
from tests.agent.spec import event_problems
from tests.schema import reference
from tests.serverproc import RunningServer

Json = dict[str, Any]

PAGE = """<!doctype html><html><head><title>Docs</title><style>p{color:red}</style>
<script>var secret = 1;</script></head><body><h1>Install guide</h1>
<p>Run <code>make install</code> then <a href="/next">continue</a>.</p>
<ul><li>first</li><li>second</li></ul></body></html>"""


@pytest.fixture
def web() -> Iterator[str]:
    async def page(_request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def big(_request: Request) -> Response:
        return Response(b"x" * (6 * 1024 * 1024), media_type="text/plain")

    async def missing(_request: Request) -> Response:
        return Response("gone", status_code=404)

    app = Starlette(routes=[Route("/page", page), Route("/big", big), Route("/missing", missing)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


def _call(call_id: str, tool: str, **args: Any) -> Json:
    return {"id": call_id, "name": tool, "input": args}


def _prompt(p: Project, sid: str, text: str, **extra: Any) -> httpx.Response:
    body = {"parts": [{"type": "text", "text": text}], **extra}
    return p.client.post(f"/session/{sid}/message", json=body, timeout=60)


def _in_background(p: Project, sid: str, text: str) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(_prompt(p, sid, text)))
    thread.start()
    return thread, out


def _tool_result(request: Json, call_id: str) -> str:
    """What the model was sent back for a tool call (OpenAI protocol)."""
    for m in request["messages"]:
        if m["role"] == "tool" and m.get("tool_call_id") == call_id:
            return str(m["content"])
    raise AssertionError(f"no tool result for {call_id}")


def test_apply_patch_changes_several_files(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, with_model(openai_fake, "gpt-5-test"))
    (p.project / "src").mkdir()
    (p.project / "src" / "app.py").write_text(
        "import os\n\n\ndef greet():\n    print('Hi')\n    return 1\n"
    )
    (p.project / "old.txt").write_text("obsolete\n")
    (p.project / "notes.md").write_text("# Notes\nalpha\nbeta\ngamma\n")
    patch = "\n".join(
        [
            "*** Begin Patch",
            "*** Add File: docs/hello.txt",
            "+Hello world",
            "+second line",
            "*** Update File: src/app.py",
            "*** Move to: src/main.py",
            "@@ def greet():",
            "-    print('Hi')",
            "+    print('Hello, world!')",
            "     return 1",
            "*** Update File: notes.md",
            " alpha",
            "-beta",
            "+BETA",
            " gamma",
            "*** Delete File: old.txt",
            "*** End Patch",
        ]
    )
    openai_fake.script = [
        Reply(tool_calls=[_call("c1", "apply_patch", patchText=patch)]),
        Reply(text="patched"),
    ]
    sid = p.session()
    with p.events() as events:
        r = _prompt(p, sid, "patch it")
        assert r.status_code == 200, r.text
        events.wait_for(lambda e: e["type"] == "session.idle")
    # Each file the patch touched is announced, the moved file under both names.
    edited = {e["properties"]["file"] for e in events.events if e["type"] == "file.edited"}
    root = p.project.resolve()
    assert edited == {
        str(root / name)
        for name in ("docs/hello.txt", "src/app.py", "src/main.py", "notes.md", "old.txt")
    }
    assert (p.project / "docs" / "hello.txt").read_text() == "Hello world\nsecond line\n"
    assert not (p.project / "src" / "app.py").exists()
    assert (p.project / "src" / "main.py").read_text() == (
        "import os\n\n\ndef greet():\n    print('Hello, world!')\n    return 1\n"
    )
    assert (p.project / "notes.md").read_text() == "# Notes\nalpha\nBETA\ngamma\n"
    assert not (p.project / "old.txt").exists()
    [part] = p.tool_parts(sid)
    assert part["tool"] == "apply_patch" and part["state"]["status"] == "completed"
    assert "A docs/hello.txt" in part["state"]["output"]
    assert "M src/main.py" in part["state"]["output"] and "D old.txt" in part["state"]["output"]

    # A patch whose context does not match changes nothing at all.
    before = (p.project / "notes.md").read_text()
    bad = "*** Begin Patch\n*** Add File: new.txt\n+x\n*** Update File: notes.md\n-nope\n+x\n"
    openai_fake.script = [
        Reply(tool_calls=[_call("c2", "apply_patch", patchText=bad + "*** End Patch")]),
        Reply(text="failed"),
    ]
    r = _prompt(p, sid, "again")
    assert r.status_code == 200, r.text
    failed = next(t for t in p.tool_parts(sid) if t["callID"] == "c2")
    assert failed["state"]["status"] == "error"
    assert "Failed to find expected lines" in failed["state"]["error"]
    assert not (p.project / "new.txt").exists()
    assert (p.project / "notes.md").read_text() == before


def test_webfetch_against_a_local_server(
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    openai_fake: FakeProvider,
    web: str,
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    openai_fake.script = [
        Reply(
            tool_calls=[
                _call("md", "webfetch", url=f"{web}/page"),
                _call("txt", "webfetch", url=f"{web}/page", format="text"),
                _call("big", "webfetch", url=f"{web}/big"),
                _call("404", "webfetch", url=f"{web}/missing"),
                _call("bad", "webfetch", url="file:///etc/passwd"),
            ]
        ),
        Reply(text="read it"),
    ]
    sid = p.session()
    r = _prompt(p, sid, "fetch")
    assert r.status_code == 200, r.text
    parts = {t["callID"]: t["state"] for t in p.tool_parts(sid)}
    md = parts["md"]["output"]
    assert "# Install guide" in md and "`make install`" in md and "[continue](/next)" in md
    assert "secret" not in md and "color:red" not in md
    assert "* first" in md or "- first" in md
    txt = parts["txt"]["output"]
    assert "Install guide" in txt and "#" not in txt and "secret" not in txt
    assert parts["big"]["status"] == "error" and "too large" in parts["big"]["error"]
    assert parts["404"]["status"] == "error" and "404" in parts["404"]["error"]
    assert parts["bad"]["status"] == "error" and "http" in parts["bad"]["error"]
    assert "# Install guide" in _tool_result(openai_fake.requests[1], "md")


def test_question_answered_then_rejected(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    questions = [
        {
            "question": "Which database?",
            "header": "Database",
            "options": [
                {"label": "SQLite (Recommended)", "description": "embedded"},
                {"label": "PostgreSQL", "description": "server"},
            ],
        }
    ]
    spec = reference()
    openai_fake.script = [
        Reply(tool_calls=[_call("q1", "question", questions=questions)]),
        Reply(text="going with it"),
        Reply(tool_calls=[_call("q2", "question", questions=questions)]),
        Reply(text="never reached"),
    ]
    sid = p.session()
    with p.events() as rec:
        thread, out = _in_background(p, sid, "ask me")
        asked = rec.wait_for(lambda e: e["type"] == "question.asked")["properties"]
        assert asked["sessionID"] == sid and asked["questions"] == questions
        assert asked["tool"]["callID"] == "q1"
        pending = p.client.get("/question")
        assert spec.response_problems("/question", "get", 200, pending.json()) == []
        assert [q["id"] for q in pending.json()] == [asked["id"]]
        # Bad replies change nothing.
        assert (
            p.client.post(f"/question/{asked['id']}/reply", json={"answers": "x"}).status_code
            == 400
        )
        assert p.client.post(f"/question/{asked['id']}/reply", json={}).status_code == 400
        missing = p.client.post("/question/que_nope/reply", json={"answers": [["x"]]})
        assert missing.status_code == 404
        assert (
            spec.response_problems("/question/{requestID}/reply", "post", 404, missing.json()) == []
        )
        assert p.client.post("/question/nope/reject").status_code == 400
        assert len(p.client.get("/question").json()) == 1
        r = p.client.post(f"/question/{asked['id']}/reply", json={"answers": [["PostgreSQL"]]})
        assert r.status_code == 200 and r.json() is True
        thread.join(30)
        rec.wait_idle(sid)
        assert out[0].status_code == 200
        assert p.client.get("/question").json() == []
        state = next(t for t in p.tool_parts(sid) if t["callID"] == "q1")["state"]
        assert state["status"] == "completed" and "PostgreSQL" in state["output"]
        assert state["metadata"]["answers"] == [["PostgreSQL"]]
        assert "PostgreSQL" in _tool_result(openai_fake.requests[1], "q1")

        thread, out = _in_background(p, sid, "ask again")
        asked2 = rec.wait_for(
            lambda e: e["type"] == "question.asked" and e["properties"]["id"] != asked["id"]
        )["properties"]
        r = p.client.post(f"/question/{asked2['id']}/reject")
        assert r.status_code == 200 and r.json() is True
        assert p.client.post(f"/question/{asked2['id']}/reject").status_code == 404
        thread.join(30)
        rec.wait_idle(sid)
        events = [e for e in rec.of(sid) if e["type"].startswith("question.")]
    assert [e["type"] for e in events] == [
        "question.asked",
        "question.replied",
        "question.asked",
        "question.rejected",
    ]
    assert events[1]["properties"] == {
        "sessionID": sid,
        "requestID": asked["id"],
        "answers": [["PostgreSQL"]],
    }
    assert events[3]["properties"] == {"sessionID": sid, "requestID": asked2["id"]}
    assert [x for e in events for x in event_problems(e)] == []
    state = next(t for t in p.tool_parts(sid) if t["callID"] == "q2")["state"]
    assert state["status"] == "error" and "dismissed" in state["error"]
    assert len(openai_fake.requests) == 3  # the rejection stopped the prompt


def test_skill_tool_loads_a_skill(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    skill = p.home / ".config" / "opencode" / "skills" / "release" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text("---\nname: release\ndescription: Cut a release\n---\nTag it, push it.\n")
    openai_fake.script = [
        Reply(tool_calls=[_call("s1", "skill", name="release"), _call("s2", "skill", name="x")]),
        Reply(text="done"),
    ]
    sid = p.session()
    r = _prompt(p, sid, "release")
    assert r.status_code == 200, r.text
    states = {t["callID"]: t["state"] for t in p.tool_parts(sid)}
    assert "Tag it, push it." in states["s1"]["output"]
    assert f"Base directory for this skill: {skill.parent}" in states["s1"]["output"]
    assert states["s2"]["status"] == "error" and "release" in states["s2"]["error"]


def test_doom_loop_asks(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    same = _call("g", "glob", pattern="*.txt")
    openai_fake.script = [
        Reply(tool_calls=[{**same, "id": "g1"}]),
        Reply(tool_calls=[{**same, "id": "g2"}]),
        Reply(tool_calls=[{**same, "id": "g3"}]),
        Reply(text="never"),
    ]
    sid = p.session()
    with p.events() as rec:
        thread, out = _in_background(p, sid, "loop")
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["permission"] == "doom_loop" and asked["patterns"] == ["glob"]
        assert asked["tool"]["callID"] == "g3"
        assert asked["metadata"]["input"] == {"pattern": "*.txt"}
        r = p.client.post(f"/permission/{asked['id']}/reply", json={"reply": "reject"})
        assert r.status_code == 200
        thread.join(30)
        rec.wait_idle(sid)
    assert out[0].status_code == 200
    states = {t["callID"]: t["state"]["status"] for t in p.tool_parts(sid)}
    assert states == {"g1": "completed", "g2": "completed", "g3": "error"}
    assert len(openai_fake.requests) == 3


def test_outside_paths_and_env_files_ask_and_deny_stops(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("OUTSIDE-SECRET")
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    (p.project / ".env").write_text("TOKEN=ENV-SECRET")
    openai_fake.script = [
        Reply(tool_calls=[_call("r1", "read", filePath=str(outside))]),
        Reply(tool_calls=[_call("r2", "read", filePath=".env")]),
        Reply(text="read env"),
    ]
    sid = p.session()
    with p.events() as rec:
        thread, _ = _in_background(p, sid, "read outside")
        asked = rec.wait_for(lambda e: e["type"] == "permission.asked")["properties"]
        assert asked["permission"] == "external_directory"
        assert asked["patterns"] == [f"{tmp_path.resolve()}/*"]
        p.client.post(f"/permission/{asked['id']}/reply", json={"reply": "reject"})
        thread.join(30)
        rec.wait_idle(sid)
        thread, _ = _in_background(p, sid, "read env")
        env = rec.wait_for(
            lambda e: e["type"] == "permission.asked" and e["properties"]["id"] != asked["id"]
        )["properties"]
        assert env["permission"] == "read" and env["patterns"][0].endswith("/.env")
        p.client.post(f"/permission/{env['id']}/reply", json={"reply": "once"})
        thread.join(30)
        rec.wait_idle(sid)
    states = {t["callID"]: t["state"] for t in p.tool_parts(sid)}
    assert states["r1"]["status"] == "error" and "OUTSIDE-SECRET" not in str(states["r1"])
    assert states["r2"]["status"] == "completed" and "ENV-SECRET" in states["r2"]["output"]

    # With a deny rule nothing is asked: the call fails at once and the file stays unread.
    denied = start(
        server_factory,
        tmp_path / "second",
        {**provider_config(openai_fake), "permission": {"external_directory": "deny"}},
    )
    openai_fake.requests.clear()
    openai_fake.script = [
        Reply(tool_calls=[_call("w1", "write", filePath=str(tmp_path / "x.txt"), content="x")]),
        Reply(text="ok"),
    ]
    sid = denied.session()
    r = _prompt(denied, sid, "write outside")
    assert r.status_code == 200, r.text
    [part] = denied.tool_parts(sid)
    assert part["state"]["status"] == "error" and "denied" in part["state"]["error"]
    assert not (tmp_path / "x.txt").exists()
    assert denied.client.get("/permission").json() == []


def test_plan_agent_denies_edits(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    openai_fake.script = [
        Reply(tool_calls=[_call("e1", "write", filePath="a.txt", content="x")]),
        Reply(text="ok"),
    ]
    sid = p.session()
    r = _prompt(p, sid, "write", agent="plan")
    assert r.status_code == 200, r.text
    [part] = p.tool_parts(sid)
    assert part["state"]["status"] == "error" and "denied" in part["state"]["error"]
    assert not (p.project / "a.txt").exists()


def test_attached_text_file_reaches_the_model(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    notes = p.project / "notes.txt"
    notes.write_text("NOTES-MARKER line one\nline two\n")
    (p.project / "pkg").mkdir()
    (p.project / "pkg" / "mod.py").write_text("")
    openai_fake.script = [Reply(text="seen")]
    sid = p.session()
    parts = [
        {"type": "text", "text": "look"},
        {"type": "file", "mime": "text/plain", "url": notes.as_uri(), "filename": "notes.txt"},
        {
            "type": "file",
            "mime": "application/x-directory",
            "url": (p.project / "pkg").as_uri(),
            "filename": "pkg",
        },
        {
            "type": "file",
            "mime": "image/png",
            "url": "data:image/png;base64,iVBORw0KGgo=",
            "filename": "shot.png",
        },
    ]
    r = p.client.post(f"/session/{sid}/message", json={"parts": parts}, timeout=60)
    assert r.status_code == 200, r.text
    user = next(m for m in openai_fake.requests[0]["messages"] if m["role"] == "user")
    content = str(user["content"])
    assert "00001| NOTES-MARKER line one" in content and "00002| line two" in content
    assert f'"filePath":"{notes}"' in content
    assert "mod.py" in content
    assert "does not support image input" in content and "shot.png" in content


def test_task_resumes_a_subagent_session(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    task = {"description": "count files", "prompt": "Count them", "subagent_type": "explore"}
    openai_fake.script = [
        Reply(tool_calls=[_call("t1", "task", **task)]),
        Reply(text="FIRST-ANSWER: 3 files"),
        Reply(text="ok"),
    ]
    sid = p.session()
    assert _prompt(p, sid, "count").status_code == 200
    first = next(t for t in p.tool_parts(sid) if t["callID"] == "t1")["state"]
    child = first["metadata"]["sessionId"]
    assert f"task_id: {child}" in first["output"] and "FIRST-ANSWER" in first["output"]

    again = {**task, "prompt": "And now?", "task_id": child}
    openai_fake.script = [
        Reply(
            tool_calls=[
                _call("t2", "task", **again),
                _call("t3", "task", **{**again, "task_id": sid}),
            ]
        ),
        Reply(text="SECOND-ANSWER"),
        Reply(text="done"),
    ]
    assert _prompt(p, sid, "again").status_code == 200
    states = {t["callID"]: t["state"] for t in p.tool_parts(sid)}
    assert states["t2"]["metadata"]["sessionId"] == child
    assert "SECOND-ANSWER" in states["t2"]["output"]
    assert states["t3"]["status"] == "error" and "No task" in states["t3"]["error"]
    children = p.client.get(f"/session/{sid}/children").json()
    assert [c["id"] for c in children] == [child]
    resumed = openai_fake.requests[4]  # the child's second turn sees its first one
    contents = [str(m["content"]) for m in resumed["messages"]]
    assert any("FIRST-ANSWER" in c for c in contents) and any("And now?" in c for c in contents)
    users = [
        m for m in p.client.get(f"/session/{child}/message").json() if m["info"]["role"] == "user"
    ]
    assert len(users) == 2


PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_images_go_to_models_that_take_them(
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    openai_fake: FakeProvider,
    anthropic_fake: FakeProvider,
) -> None:
    openai_cfg = with_model(openai_fake, "vision")
    openai_cfg["provider"]["fake"]["models"]["vision"] = {
        "modalities": {"input": ["text", "image"]}
    }
    anth_cfg = provider_config(anthropic_fake)
    anth_cfg["provider"]["anth"]["models"]["claude-test"]["attachment"] = True
    shot = tmp_path / "shot.png"
    shot.write_bytes(base64.b64decode(PNG))
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "file", "mime": "image/png", "url": shot.as_uri(), "filename": "shot.png"},
    ]
    for fake, cfg, where in ((openai_fake, openai_cfg, "a"), (anthropic_fake, anth_cfg, "b")):
        p = start(server_factory, tmp_path / where, cfg)
        fake.script = [Reply(text="a pixel")]
        sid = p.session()
        r = p.client.post(f"/session/{sid}/message", json={"parts": parts}, timeout=60)
        assert r.status_code == 200, r.text
        [request] = fake.requests
        user = next(m for m in request["messages"] if m["role"] == "user")["content"]
        if fake.protocol == "openai":
            assert user[0] == {"type": "text", "text": "what is this"}
            assert user[1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
        else:
            assert user[1] == {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
            }


def test_abort_withdraws_a_pending_question(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    question = {"question": "Go?", "header": "Go", "options": [{"label": "Yes", "description": ""}]}
    openai_fake.script = [
        Reply(tool_calls=[_call("q", "question", questions=[question])]),
        Reply(text="never"),
    ]
    sid = p.session()
    with p.events() as rec:
        thread, out = _in_background(p, sid, "ask")
        asked = rec.wait_for(lambda e: e["type"] == "question.asked")["properties"]
        assert p.client.post(f"/session/{sid}/abort").status_code == 200
        withdrawn = rec.wait_for(lambda e: e["type"] == "question.rejected")["properties"]
        assert withdrawn == {"sessionID": sid, "requestID": asked["id"]}
        thread.join(30)
    assert out[0].status_code == 200
    assert p.client.get("/question").json() == []
    r = p.client.post(f"/question/{asked['id']}/reply", json={"answers": [["Yes"]]})
    assert r.status_code == 404
    assert len(openai_fake.requests) == 1
