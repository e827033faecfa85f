"""`/api/fs/*` and `/api/question/request` (v2) on a real server: shapes, path safety, the SDK."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pyopencode.file.content import MAX_READ_BYTES
from tests import jssdk
from tests.schema import reference
from tests.serverproc import RunningServer

SCRIPT = r"""
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL });
const loc = { location: { directory: process.env.DIR } };
const out = {};
out.list = (await client.v2.fs.list({ path: "sub", ...loc })).data;
out.find = (await client.v2.fs.find({ query: "deep", type: "file", limit: "5", ...loc })).data;
// The client's URL is the literal template `/api/fs/read/*`: it reads a file named `*`.
const read = await client.v2.fs.read(loc);
out.readStatus = read.response.status;
out.readType = read.response.headers.get("content-type");
out.readText = await read.data.text();
out.questions = (await client.v2.question.request.list(loc)).data;
const bad = await client.v2.fs.list({ path: "../..", ...loc });
out.bad = { status: bad.response.status, error: bad.error };
console.log(JSON.stringify(out));
"""


def _valid(template: str, method: str, status: int, body: Any) -> None:
    assert reference().response_problems(template, method, status, body) == [], body


def _project(root: Path) -> Path:
    project = root / "project"
    (project / "sub" / "nested").mkdir(parents=True)
    (project / "sub" / "deep_file.py").write_text("print('hi')\n")
    (project / "sub" / "nested" / "x.txt").write_text("x\n")
    (project / "a.txt").write_text("hello\n")
    (project / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (project / "*").write_text("star\n")
    outside = root / "outside.txt"
    outside.write_text("secret\n")
    os.symlink(outside, project / "link-out")
    with open(project / "huge.log", "wb") as fh:
        fh.truncate(MAX_READ_BYTES + 1)  # sparse: refused by size, never read
    return project


def _loc(project: Path, **extra: str) -> dict[str, str]:
    return {"location[directory]": str(project), **extra}


def test_fs_routes(server: RunningServer, tmp_path: Path) -> None:
    project = _project(tmp_path)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/api/fs/list", params=_loc(project))
        assert r.status_code == 200, r.text
        body = r.json()
        _valid("/api/fs/list", "get", 200, body)
        assert body["location"]["directory"] == str(project)
        entries = body["data"]
        assert entries[0] == {"path": "sub/", "type": "directory"}
        assert {"path": "a.txt", "type": "file"} in entries
        assert {"path": "blob.bin", "type": "file"} in entries
        assert not any(e["path"].startswith("link-out") for e in entries)  # leaves the project

        r = c.get("/api/fs/list", params=_loc(project, path="sub"))
        assert r.json()["data"] == [
            {"path": "sub/nested/", "type": "directory"},
            {"path": "sub/deep_file.py", "type": "file"},
        ]

        r = c.get("/api/fs/read/a.txt", params=_loc(project))
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.content == b"hello\n"
        r = c.get("/api/fs/read/sub/nested/x.txt", params=_loc(project))
        assert r.content == b"x\n"
        r = c.get("/api/fs/read/blob.bin", params=_loc(project))
        assert r.content == (project / "blob.bin").read_bytes()

        r = c.get("/api/fs/find", params=_loc(project, query="deep"))
        body = r.json()
        _valid("/api/fs/find", "get", 200, body)
        assert body["data"][0] == {"path": "sub/deep_file.py", "type": "file"}
        r = c.get("/api/fs/find", params=_loc(project, query="nest", type="directory"))
        assert r.json()["data"] == [{"path": "sub/nested/", "type": "directory"}]
        r = c.get("/api/fs/find", params=_loc(project, query="", limit="2"))
        assert len(r.json()["data"]) == 2

        r = c.get("/api/question/request", params=_loc(project))
        body = r.json()
        _valid("/api/question/request", "get", 200, body)
        assert body["data"] == []


def test_fs_refusals_change_nothing(server: RunningServer, tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = sorted(p.name for p in project.iterdir())
    reads = [
        "..%2F..%2Fetc%2Fpasswd",
        "sub%2F..%2F..%2Foutside.txt",
        "%2Fetc%2Fpasswd",
        "link-out",
        "nope.txt",
        "sub",
        "a%00b",
        "huge.log",
    ]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for path in reads:
            r = c.get(f"/api/fs/read/{path}", params=_loc(project))
            assert r.status_code == 400, (path, r.status_code, r.text)
            _valid("/api/fs/read/*", "get", 400, r.json())
            assert r.json()["_tag"] == "InvalidRequestError"
            assert "secret" not in r.text and "root:" not in r.text
        for path in ("../..", "/etc", "link-out", "nope", "a.txt", "a\x00b"):
            r = c.get("/api/fs/list", params=_loc(project, path=path))
            assert r.status_code == 400, (path, r.text)
            _valid("/api/fs/list", "get", 400, r.json())
        for params in (
            _loc(project),  # query is required
            _loc(project, query="a", limit="abc"),
            _loc(project, query="a", limit="0"),
            _loc(project, query="a", type="symlink"),
        ):
            r = c.get("/api/fs/find", params=params)
            assert r.status_code == 400, (params, r.text)
            _valid("/api/fs/find", "get", 400, r.json())
        r = c.get("/api/question/request", params=_loc(project / "missing"))
        assert r.status_code == 400, r.text
        _valid("/api/question/request", "get", 400, r.json())
    assert sorted(p.name for p in project.iterdir()) == before
    assert (tmp_path / "outside.txt").read_text() == "secret\n"


def test_fs_through_v2_client(
    server_factory: Callable[..., RunningServer], tmp_path: Path, js_sdk: Path
) -> None:
    project = _project(tmp_path)
    server = server_factory()
    out = jssdk.run(js_sdk, SCRIPT, server.url, project)
    _valid("/api/fs/list", "get", 200, out["list"])
    assert [e["path"] for e in out["list"]["data"]] == ["sub/nested/", "sub/deep_file.py"]
    _valid("/api/fs/find", "get", 200, out["find"])
    assert out["find"]["data"][0] == {"path": "sub/deep_file.py", "type": "file"}
    assert out["readStatus"] == 200
    assert out["readType"] == "application/octet-stream"
    assert out["readText"] == "star\n"
    _valid("/api/question/request", "get", 200, out["questions"])
    assert out["questions"]["data"] == []
    assert out["bad"]["status"] == 400
    assert out["bad"]["error"]["_tag"] == "InvalidRequestError"
