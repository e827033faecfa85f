"""`/file`, `/file/content` and `/file/status` through a real server on a real git repo."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.schema import reference


def ok(response: httpx.Response, template: str, method: str = "get") -> object:
    assert response.status_code == 200, response.text
    body = response.json()
    assert reference().response_problems(template, method, 200, body) == []
    return body


def test_list_root_directories_first_with_ignored(api: httpx.Client, repo: Path) -> None:
    nodes = ok(api.get("/file", params={"path": ""}), "/file")
    assert isinstance(nodes, list)
    names = [(n["name"], n["type"], n["ignored"]) for n in nodes]
    assert names == [
        (".git", "directory", False),
        ("build", "directory", True),
        ("src", "directory", False),
        (".gitignore", "file", False),
        ("a.txt", "file", False),
        ("ignored.log", "file", True),
        ("new.txt", "file", False),
    ]
    src = next(n for n in nodes if n["name"] == "src")
    assert src["path"] == "src/" and src["absolute"] == str(repo / "src")


def test_list_subdirectory(api: httpx.Client) -> None:
    nodes = ok(api.get("/file", params={"path": "src"}), "/file")
    assert [(n["path"], n["type"]) for n in nodes] == [
        ("src/sub/", "directory"),
        ("src/main.py", "file"),
    ]


def test_read_modified_text_has_diff_and_patch(api: httpx.Client) -> None:
    body = ok(api.get("/file/content", params={"path": "a.txt"}), "/file/content")
    assert isinstance(body, dict)
    assert body["type"] == "text" and body["content"] == "hello\nthere\nworld"
    assert "+there" in body["diff"]
    hunk = body["patch"]["hunks"][0]
    assert (hunk["oldStart"], hunk["oldLines"], hunk["newStart"], hunk["newLines"]) == (1, 2, 1, 3)
    assert hunk["lines"] == [" hello", "+there", " world"]


def test_read_unmodified_and_untracked_have_no_diff(api: httpx.Client) -> None:
    for path in ("src/main.py", "new.txt", "./src/../new.txt"):
        body = ok(api.get("/file/content", params={"path": path}), "/file/content")
        assert isinstance(body, dict)
        assert body["type"] == "text" and "diff" not in body and "patch" not in body


def test_read_binary_is_base64_of_exact_bytes(api: httpx.Client, repo: Path) -> None:
    data = bytes(range(256)) * 4
    (repo / "blob.bin").write_bytes(data)
    (repo / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    body = ok(api.get("/file/content", params={"path": "blob.bin"}), "/file/content")
    assert isinstance(body, dict)
    assert body["type"] == "binary" and body["encoding"] == "base64"
    assert base64.b64decode(body["content"]) == data
    png = ok(api.get("/file/content", params={"path": "pic.png"}), "/file/content")
    assert isinstance(png, dict) and png["mimeType"] == "image/png"


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "/etc/passwd", "src/../../outside.txt", "escape", "escape/x"]
)
def test_escapes_are_forbidden(api: httpx.Client, repo: Path, tmp_path: Path, path: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "x").write_text("outside secret")
    (tmp_path / "outside.txt").write_text("outside secret")
    os.symlink(outside, repo / "escape")
    for route in ("/file/content", "/file"):
        response = api.get(route, params={"path": path})
        assert response.status_code == 403, (route, response.text)
        body = response.json()
        assert body["name"] == "ForbiddenError"
        assert "escapes" in body["data"]["message"]
        assert "outside secret" not in response.text


def test_symlink_inside_is_followed(api: httpx.Client, repo: Path) -> None:
    os.symlink(repo / "src" / "main.py", repo / "alias.py")
    body = ok(api.get("/file/content", params={"path": "alias.py"}), "/file/content")
    assert isinstance(body, dict) and body["content"].startswith("def foo")


def test_nul_byte_missing_directory_and_param_errors(api: httpx.Client) -> None:
    response = api.get("/file/content", params={"path": "a.txt\x00.png"})
    assert response.status_code == 400
    assert response.json()["name"] == "BadRequest"
    assert reference().response_problems("/file/content", "get", 400, response.json()) == []
    missing = api.get("/file/content", params={"path": "nope.txt"})
    assert missing.status_code == 404
    assert missing.json() == {
        "name": "NotFoundError",
        "data": {"message": "File not found: nope.txt"},
    }
    assert api.get("/file", params={"path": "nope"}).status_code == 404
    assert api.get("/file/content", params={"path": "src"}).status_code == 400
    no_param = api.get("/file/content")
    assert no_param.status_code == 400
    assert reference().response_problems("/file/content", "get", 400, no_param.json()) == []


def test_huge_file_refused_without_reading(api: httpx.Client, repo: Path) -> None:
    big = repo / "huge.bin"
    with big.open("wb") as fh:
        # Sparse: 100 MB on paper, nothing on disk; reading it all would still cost 100 MB.
        fh.truncate(100 * 1024 * 1024)
    response = api.get("/file/content", params={"path": "huge.bin"})
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "BadRequest" and "too large" in body["data"]["message"]


def test_file_status_counts_and_states(api: httpx.Client) -> None:
    body = ok(api.get("/file/status"), "/file/status")
    assert body == [
        {"path": "a.txt", "added": 1, "removed": 0, "status": "modified"},
        {"path": "new.txt", "added": 1, "removed": 0, "status": "added"},
        {"path": "src/sub/deep.txt", "added": 0, "removed": 1, "status": "deleted"},
    ]


def test_status_leaves_the_users_index_alone(api: httpx.Client, repo: Path) -> None:
    index = (repo / ".git" / "index").read_bytes()
    ok(api.get("/file/status"), "/file/status")
    assert (repo / ".git" / "index").read_bytes() == index
    listed = subprocess.run(
        ["git", "ls-files", "new.txt"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert listed.stdout == ""


def test_outside_git_status_is_empty(server_url_plain: tuple[str, Path]) -> None:
    url, plain = server_url_plain
    response = httpx.get(f"{url}/file/status", params={"directory": str(plain)})
    assert response.status_code == 200 and response.json() == []


@pytest.fixture
def server_url_plain(api: httpx.Client, tmp_path: Path) -> tuple[str, Path]:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "f.txt").write_text("hi\n")
    return str(api.base_url).rstrip("/"), plain
