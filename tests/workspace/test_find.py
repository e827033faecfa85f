"""`/find`, `/find/file` and `/find/symbol` through a real server on a real git repo."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.schema import reference


def ok(response: httpx.Response, template: str) -> list[object]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert reference().response_problems(template, "get", 200, body) == []
    assert isinstance(body, list)
    return body


def test_text_search_shape_and_gitignore(api: httpx.Client) -> None:
    found = ok(api.get("/find", params={"pattern": "needle"}), "/find")
    # ignored.log and build/ hold the word too, but .gitignore keeps them out.
    assert found == [
        {
            "path": {"text": "new.txt"},
            "lines": {"text": "new needle\n"},
            "line_number": 1,
            "absolute_offset": 0,
            "submatches": [{"match": {"text": "needle"}, "start": 4, "end": 10}],
        }
    ]


def test_text_search_skips_dot_git_and_is_case_sensitive(api: httpx.Client) -> None:
    assert ok(api.get("/find", params={"pattern": "refs/heads"}), "/find") == []
    assert ok(api.get("/find", params={"pattern": "NEEDLE"}), "/find") == []


def test_text_search_caps_at_ten(api: httpx.Client, repo: Path) -> None:
    for i in range(5):
        (repo / f"many{i}.txt").write_text("".join(f"zz {n}\n" for n in range(50)))
    found = ok(api.get("/find", params={"pattern": "^zz"}), "/find")
    assert len(found) == 10


def test_text_search_non_utf8_line(api: httpx.Client, repo: Path) -> None:
    (repo / "latin.txt").write_bytes(b"caf\xe9 marker\n")
    found = ok(api.get("/find", params={"pattern": "marker"}), "/find")
    assert len(found) == 1 and found[0]["lines"]["text"].endswith("marker\n")  # type: ignore[index]


def test_text_search_bad_input(api: httpx.Client) -> None:
    for params in ({"pattern": "["}, {}):
        response = api.get("/find", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["name"] == "BadRequest"
        assert reference().response_problems("/find", "get", 400, response.json()) == []


def test_file_search_fuzzy(api: httpx.Client) -> None:
    found = ok(api.get("/find/file", params={"query": "main"}), "/find/file")
    assert found[0] == "src/main.py"
    assert all("ignored" not in str(f) and not str(f).startswith("build") for f in found)


def test_file_search_types_dirs_and_limit(api: httpx.Client, repo: Path) -> None:
    empty = ok(api.get("/find/file", params={"query": ""}), "/find/file")
    assert "src/" in empty and ".gitignore" in empty and "ignored.log" not in empty
    files = ok(api.get("/find/file", params={"query": "", "dirs": "false"}), "/find/file")
    assert files and not any(str(f).endswith("/") for f in files)
    dirs = ok(api.get("/find/file", params={"query": "s", "type": "directory"}), "/find/file")
    assert dirs == ["src/"]
    for i in range(30):
        (repo / f"item{i}.txt").write_text("x")
    assert len(ok(api.get("/find/file", params={"query": "item"}), "/find/file")) == 10
    limited = api.get("/find/file", params={"query": "item", "limit": 3})
    assert len(ok(limited, "/find/file")) == 3


def test_file_search_bad_input(api: httpx.Client) -> None:
    for params in ({"query": "x", "limit": 0}, {"query": "x", "type": "bad"}, {}):
        response = api.get("/find/file", params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["name"] == "BadRequest" and body["data"]["kind"] == "Query"


def test_symbols_are_empty(api: httpx.Client) -> None:
    assert ok(api.get("/find/symbol", params={"query": "foo"}), "/find/symbol") == []
    doc = api.get("/doc").json()
    assert "language server" in doc["paths"]["/find/symbol"]["get"]["description"]


def test_file_search_sees_changes_at_once(api: httpx.Client, repo: Path) -> None:
    def search(query: str) -> list[object]:
        return ok(api.get("/find/file", params={"query": query, "dirs": "false"}), "/find/file")

    assert search("zebra") == []
    (repo / "src" / "sub" / "zebra.txt").write_text("z")
    assert search("zebra") == ["src/sub/zebra.txt"]
    (repo / "src" / "sub" / "zebra.txt").rename(repo / "src" / "okapi.txt")
    assert search("zebra") == [] and search("okapi") == ["src/okapi.txt"]
    (repo / "empty").mkdir()
    assert search("giraffe") == []
    (repo / "empty" / "giraffe.md").write_text("g")
    assert search("giraffe") == ["empty/giraffe.md"]
    with (repo / ".gitignore").open("a") as fh:
        fh.write("*.md\n")
    assert search("giraffe") == []
