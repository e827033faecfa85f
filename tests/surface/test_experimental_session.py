"""`/experimental/session` (every project's sessions) and `.../background` on a real server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests import jssdk
from tests.schema import reference
from tests.serverproc import RunningServer

LIST = "/experimental/session"
BACKGROUND = "/experimental/session/{sessionID}/background"

SCRIPT = r"""
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL });
const out = {};
const page = await client.experimental.session.list({ limit: 2, roots: true });
out.page = page.data;
out.next = page.response.headers.get("x-next-cursor");
out.all = (await client.experimental.session.list({ archived: true })).data;
const bg = await client.experimental.session.background({ sessionID: process.env.SID });
out.background = bg.data;
console.log(JSON.stringify(out));
"""


def _valid(template: str, method: str, status: int, body: Any) -> None:
    assert reference().response_problems(template, method, status, body) == [], body


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    body = r.json()
    _valid(LIST, "get", 200, body)
    return [s["id"] for s in body]


def exercise(server: RunningServer, root: Path) -> list[str]:
    """Sessions in two projects, a child, an archived one: every filter; the ids, newest first."""
    dirs = [root / "one", root / "two"]
    for d in dirs:
        d.mkdir()
    # A git repository with a commit is a project of its own; the other is the global one.
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(dirs[1])]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "root"], check=True)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        made: list[dict[str, Any]] = []
        for i, title in enumerate(["alpha", "beta", "gamma", "delta"]):
            r = c.post("/session", params={"directory": str(dirs[i % 2])}, json={"title": title})
            assert r.status_code == 200, r.text
            made.append(r.json())
            time.sleep(0.01)  # distinct time.updated, so the order is the creation order
        child = c.post(
            "/session",
            params={"directory": str(dirs[0])},
            json={"title": "child", "parentID": made[0]["id"]},
        ).json()
        newest = [child["id"]] + [m["id"] for m in reversed(made)]
        assert _ids(c.get(LIST)) == newest
        listed = c.get(LIST).json()
        projects = {s["id"]: s["project"] for s in listed}
        assert projects[made[0]["id"]]["id"] == made[0]["projectID"] == "global"
        assert projects[made[1]["id"]] == {"id": made[1]["projectID"], "worktree": str(dirs[1])}
        assert made[1]["projectID"] != "global"
        assert {s["directory"] for s in listed} == {str(d) for d in dirs}

        assert _ids(c.get(LIST, params={"roots": "true"})) == newest[1:]
        assert _ids(c.get(LIST, params={"search": "ALP"})) in ([made[0]["id"]], [])
        assert _ids(c.get(LIST, params={"search": "alp"})) == [made[0]["id"]]
        assert _ids(c.get(LIST, params={"search": "%"})) == []
        start = made[2]["time"]["updated"]
        assert _ids(c.get(LIST, params={"start": start})) == newest[:3]

        # Pages: the header's cursor continues where the page ended, then no header.
        r = c.get(LIST, params={"limit": 2})
        assert _ids(r) == newest[:2]
        cursor = r.headers["x-next-cursor"]
        r = c.get(LIST, params={"limit": 2, "cursor": cursor})
        assert _ids(r) == newest[2:4]
        r = c.get(LIST, params={"limit": 2, "cursor": r.headers["x-next-cursor"]})
        assert _ids(r) == newest[4:]
        assert "x-next-cursor" not in r.headers

        archived = c.patch(
            f"/session/{made[3]['id']}",
            params={"directory": str(dirs[1])},
            json={"time": {"archived": 1}},
        )
        assert archived.status_code == 200, archived.text
        # Archiving touches time.updated: the archived session is newest, but hidden.
        shown = [i for i in newest if i != made[3]["id"]]
        assert _ids(c.get(LIST)) == shown
        assert _ids(c.get(LIST, params={"archived": "false"})) == shown
        everything = _ids(c.get(LIST, params={"archived": "true"}))
        assert sorted(everything) == sorted(newest)
        r = c.get(LIST, params={"limit": 1})
        assert _ids(r) == shown[:1]

        r = c.post(f"/experimental/session/{made[0]['id']}/background")
        assert r.status_code == 200 and r.json() is False
        _valid(BACKGROUND, "post", 200, r.json())

        # Bad input: the declared 400 shapes, and the list is unchanged.
        for params in (
            {"limit": "x"},
            {"limit": "0"},
            {"cursor": "soon"},
            {"start": "-1"},
            {"roots": "yes"},
            {"archived": "1"},
            {"search": "a\x00b"},
        ):
            r = c.get(LIST, params=params)
            assert r.status_code == 400, (params, r.text)
            _valid(LIST, "get", 400, r.json())
            assert r.json()["name"] == "BadRequest"
        r = c.post("/experimental/session/nope/background")
        assert r.status_code == 400, r.text
        _valid(BACKGROUND, "post", 400, r.json())
        assert _ids(c.get(LIST)) == shown
    return shown


def test_experimental_session_list(server: RunningServer, tmp_path: Path) -> None:
    exercise(server, tmp_path)


def test_experimental_session_through_v2_client(
    server_factory: Callable[..., RunningServer], tmp_path: Path, js_sdk: Path
) -> None:
    server = server_factory()
    shown = exercise(server, tmp_path)
    out = jssdk.run(js_sdk, SCRIPT, server.url, tmp_path, SID=shown[-1])
    _valid(LIST, "get", 200, out["page"])
    assert [s["id"] for s in out["page"]] == shown[1:3]
    assert out["next"] == str(out["page"][-1]["time"]["updated"])
    assert len(out["all"]) == len(shown) + 1
    assert out["background"] is False
