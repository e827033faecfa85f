"""A scripted model writes then edits two files; session diff, revert, unrevert, and the
next prompt removing reverted messages, through a real server, on both store engines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import jssdk
from tests.agent.conftest import Agent, EventRecorder, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.pg.conftest import pg_url  # noqa: F401
from tests.schema import reference
from tests.serverproc import RunningServer
from tests.workspace.conftest import sh

Json = dict[str, Any]
ORIGINAL_A = b"alpha original\n\x00\xff raw bytes kept\n"
ORIGINAL_B = b"beta original\r\nwith CRLF\r\n"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider("openai").start()
    yield provider
    provider.stop()


@pytest.fixture
def agent(
    engine: str,
    request: pytest.FixtureRequest,
    server_factory: Callable[..., RunningServer],
    fake: FakeProvider,
    tmp_path: Path,
) -> Iterator[Agent]:
    project = tmp_path / "project"
    project.mkdir()
    sh(project, "git", "init", "-q")
    (project / "a.txt").write_bytes(ORIGINAL_A)
    (project / "b.txt").write_bytes(ORIGINAL_B)
    sh(project, "git", "add", "-A")
    sh(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    home = tmp_path / "home"
    home.mkdir()
    config = {**provider_config(fake), "permission": {"edit": "allow", "bash": "allow"}}
    (tmp_path / "opencode.json").write_text(__import__("json").dumps(config))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "FAKE_KEY": "sk-fake",
        "OPENCODE_CONFIG": str(tmp_path / "opencode.json"),
    }
    args: list[str] = []
    if engine == "postgres":
        args = ["--database", request.getfixturevalue("pg_url")]
    server = server_factory(env=env, extra_args=args)
    with httpx.Client(base_url=server.url, params={"directory": str(project)}, timeout=60) as c:
        yield Agent(server, project, c)


def script_edits(fake: FakeProvider, project: Path) -> None:
    """Step 1 writes a.txt and creates new.txt; step 2 edits both; then a closing answer."""
    a, new = str(project / "a.txt"), str(project / "new.txt")
    fake.script = [
        Reply(
            tool_calls=[
                {"id": "c1", "name": "write", "input": {"filePath": a, "content": "alpha v1\n"}},
                {"id": "c2", "name": "write", "input": {"filePath": new, "content": "new v1\n"}},
            ]
        ),
        Reply(
            tool_calls=[
                {
                    "id": "c3",
                    "name": "edit",
                    "input": {"filePath": a, "oldString": "v1", "newString": "v2"},
                },
                {
                    "id": "c4",
                    "name": "edit",
                    "input": {"filePath": new, "oldString": "v1", "newString": "v2"},
                },
            ]
        ),
        Reply(text="done"),
    ]


def messages(agent: Agent, sid: str) -> list[Json]:
    response = agent.messages(sid)
    assert response.status_code == 200
    rows: list[Json] = response.json()
    return rows


def test_diff_revert_unrevert_and_next_prompt(agent: Agent, fake: FakeProvider) -> None:
    project = agent.project
    sid = agent.session()
    script_edits(fake, project)
    with EventRecorder(agent.server.url, str(project)) as events:
        assert agent.prompt(sid, "edit things").status_code == 200
        announced = events.wait_for(lambda e: e["type"] == "session.diff")
        edited_events = [e for e in events.events if e["type"] == "file.edited"]
    assert {e["properties"]["file"] for e in edited_events} == {
        str(project / "a.txt"),
        str(project / "new.txt"),
    }
    assert announced["properties"]["sessionID"] == sid
    assert reference().problems(announced, reference().component("EventSessionDiff")) == []
    edited = {"a.txt": b"alpha v2\n", "new.txt": b"new v2\n"}
    assert (project / "a.txt").read_bytes() == edited["a.txt"]
    assert (project / "new.txt").read_bytes() == edited["new.txt"]

    rows = messages(agent, sid)
    user_id = rows[0]["info"]["id"]
    parts = [p for row in rows for p in row["parts"]]
    starts = [p for p in parts if p["type"] == "step-start"]
    assert starts and all(len(p["snapshot"]) == 40 for p in starts)
    patches = [p for p in parts if p["type"] == "patch"]
    assert [sorted(Path(f).name for f in p["files"]) for p in patches] == [
        ["a.txt", "new.txt"],
        ["a.txt", "new.txt"],
    ]
    for part in patches + starts:
        schema = reference().component(part["type"].title().replace("-", "") + "Part")
        assert reference().problems(part, schema) == []

    summary = rows[0]["info"]["summary"]["diffs"]
    assert [d["file"] for d in summary] == ["a.txt", "new.txt"]
    assert reference().problems(rows[0]["info"], reference().component("UserMessage")) == []
    diff = agent.client.get(f"/session/{sid}/diff")
    assert diff.status_code == 200
    body = diff.json()
    assert reference().response_problems("/session/{sessionID}/diff", "get", 200, body) == []
    assert {d["file"]: d["status"] for d in body} == {"a.txt": "modified", "new.txt": "added"}
    assert body == summary == announced["properties"]["diff"]
    patch = {d["file"]: d["patch"] for d in body}
    assert "Binary files a/a.txt and b/a.txt differ" in patch["a.txt"]
    assert "+new v2" in patch["new.txt"]
    by_message = agent.client.get(f"/session/{sid}/diff", params={"messageID": user_id})
    assert by_message.json() == body
    assert agent.client.get(f"/session/{sid}/diff", params={"messageID": "msg_x"}).json() == []

    with EventRecorder(agent.server.url, str(project)) as events:
        reverted = agent.client.post(f"/session/{sid}/revert", json={"messageID": user_id})
        assert reverted.status_code == 200, reverted.text
        info = reverted.json()
        assert reference().response_problems("/session/{sessionID}/revert", "post", 200, info) == []
        assert info["revert"]["messageID"] == user_id and len(info["revert"]["snapshot"]) == 40
        assert "-new v2" in info["revert"]["diff"]
        events.wait_for(
            lambda e: (
                e["type"] == "session.updated"
                and (e["properties"].get("info") or {}).get("revert", {}).get("messageID")
                == user_id
            )
        )
    assert (project / "a.txt").read_bytes() == ORIGINAL_A
    assert (project / "b.txt").read_bytes() == ORIGINAL_B
    assert not (project / "new.txt").exists()
    assert agent.client.get(f"/session/{sid}").json()["revert"]["messageID"] == user_id
    assert len(messages(agent, sid)) == len(rows), "reverted messages stay until the next prompt"

    unreverted = agent.client.post(f"/session/{sid}/unrevert")
    assert unreverted.status_code == 200 and "revert" not in unreverted.json()
    for name, data in edited.items():
        assert (project / name).read_bytes() == data

    assert agent.client.post(f"/session/{sid}/revert", json={"messageID": user_id}).is_success
    assert (project / "a.txt").read_bytes() == ORIGINAL_A
    fake.script = [Reply(text="fresh start")]
    assert agent.prompt(sid, "again").status_code == 200
    after = messages(agent, sid)
    assert [r["info"]["role"] for r in after] == ["user", "assistant"]
    assert after[0]["parts"][0]["text"] == "again"
    assert "revert" not in agent.client.get(f"/session/{sid}").json()
    assert (project / "a.txt").read_bytes() == ORIGINAL_A
    assert not (project / "new.txt").exists()


def test_revert_refusals_change_nothing(agent: Agent, fake: FakeProvider) -> None:
    project = agent.project
    sid = agent.session()
    script_edits(fake, project)
    assert agent.prompt(sid, "edit things").status_code == 200
    before = {n: (project / n).read_bytes() for n in ("a.txt", "new.txt")}
    for body in ({}, {"messageID": "nope"}, {"messageID": "msg_x", "extra": 1}):
        response = agent.client.post(f"/session/{sid}/revert", json=body)
        assert response.status_code == 400, response.text
    missing = agent.client.post(f"/session/{sid}/revert", json={"messageID": "msg_missing"})
    assert missing.status_code == 404 and missing.json()["name"] == "NotFoundError"
    gone = agent.client.post("/session/ses_missing/revert", json={"messageID": "msg_x"})
    assert gone.status_code == 404
    assert agent.client.post("/session/ses_missing/unrevert").status_code == 404
    assert {n: (project / n).read_bytes() for n in before} == before
    assert "revert" not in agent.client.get(f"/session/{sid}").json()


def test_revert_while_busy_is_refused(agent: Agent, fake: FakeProvider) -> None:
    sid = agent.session()
    fake.script = [Reply(text="slow answer " * 20, chunks=40, chunk_delay=0.1)]
    done = threading.Event()

    def run() -> None:
        agent.prompt(sid, "take your time")
        done.set()

    with EventRecorder(agent.server.url, str(agent.project)) as events:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        events.wait_for(
            lambda e: e["type"] == "session.status" and e["properties"]["status"]["type"] == "busy"
        )
        user_id = messages(agent, sid)[0]["info"]["id"]
        response = agent.client.post(f"/session/{sid}/revert", json={"messageID": user_id})
        assert response.status_code == 409
        assert response.json()["_tag"] == "SessionBusyError"
        assert agent.client.post(f"/session/{sid}/unrevert").status_code == 409
    thread.join(30)
    assert done.is_set()
    assert "revert" not in agent.client.get(f"/session/{sid}").json()


SDK_REVERT = """
import { createOpencodeClient } from "@opencode-ai/sdk";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const opts = { throwOnError: true };
const id = process.env.SID;
const diff = await client.session.diff({ path: { id }, ...opts });
const reverted = await client.session.revert({
  path: { id }, body: { messageID: process.env.MID }, ...opts,
});
const unreverted = await client.session.unrevert({ path: { id }, ...opts });
const out = { diff: diff.data, reverted: reverted.data, unreverted: unreverted.data };
console.log(JSON.stringify(out));
"""


# The SDK calls the same routes on either engine; the engine tests above cover both.
@pytest.mark.parametrize("engine", ["sqlite"])
def test_js_sdk_session_diff_revert_unrevert(
    js_sdk: Path, agent: Agent, fake: FakeProvider, engine: str
) -> None:
    sid = agent.session()
    script_edits(fake, agent.project)
    assert agent.prompt(sid, "edit things").status_code == 200
    mid = messages(agent, sid)[0]["info"]["id"]
    out = jssdk.run(js_sdk, SDK_REVERT, agent.server.url, agent.project, SID=sid, MID=mid)
    assert [d["file"] for d in out["diff"]] == ["a.txt", "new.txt"]
    assert out["reverted"]["revert"]["messageID"] == mid
    assert "revert" not in out["unreverted"]
    assert (agent.project / "new.txt").read_bytes() == b"new v2\n"


def test_file_edited_names_what_the_tools_edited_not_the_whole_patch(
    agent: Agent, fake: FakeProvider
) -> None:
    """The step's patch holds every file that changed in the work tree (a shell command's
    output, another session's writes), but `file.edited` is the editing tools' own
    announcement, as upstream's: one per file written, edited or patched."""
    project = agent.project
    sid = agent.session()
    written, edited_file = project / "written.txt", project / "b.txt"
    fake.script = [
        Reply(
            tool_calls=[
                {
                    "id": "c1",
                    "name": "bash",
                    "input": {"command": "printf x > by-shell.txt", "description": "make a file"},
                },
                {
                    "id": "c2",
                    "name": "write",
                    "input": {"filePath": str(written), "content": "w\n"},
                },
                {
                    "id": "c3",
                    "name": "edit",
                    "input": {"filePath": str(edited_file), "oldString": "beta", "newString": "B"},
                },
            ]
        ),
        Reply(text="done"),
    ]
    with EventRecorder(agent.server.url, str(project)) as events:
        assert agent.prompt(sid, "make files").status_code == 200
        events.wait_for(lambda e: e["type"] == "session.diff")
        edited = [e["properties"]["file"] for e in events.events if e["type"] == "file.edited"]
    assert (project / "by-shell.txt").read_bytes() == b"x"
    assert edited_file.read_bytes().startswith(b"B original")
    assert sorted(edited) == sorted([str(written), str(edited_file)])
    patches = [p for row in messages(agent, sid) for p in row["parts"] if p["type"] == "patch"]
    assert len(patches) == 1
    assert set(patches[0]["files"]) == {
        str(project / "by-shell.txt"),
        str(written),
        str(edited_file),
    }
