"""`/vcs/status`, `/vcs/diff`, `/vcs/diff/raw` and `POST /vcs/apply` on a real git repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.schema import reference


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def test_status(api: httpx.Client) -> None:
    response = api.get("/vcs/status")
    assert response.status_code == 200
    body = response.json()
    assert reference().response_problems("/vcs/status", "get", 200, body) == []
    assert body == [
        {"file": "a.txt", "additions": 1, "deletions": 0, "status": "modified"},
        {"file": "new.txt", "additions": 1, "deletions": 0, "status": "added"},
        {"file": "src/sub/deep.txt", "additions": 0, "deletions": 1, "status": "deleted"},
    ]


def test_diff_per_file_patches(api: httpx.Client) -> None:
    response = api.get("/vcs/diff", params={"mode": "git"})
    body = response.json()
    assert reference().response_problems("/vcs/diff", "get", 200, body) == []
    patches = {d["file"]: d["patch"] for d in body}
    assert patches["a.txt"].startswith("diff --git a/a.txt b/a.txt")
    assert "+there" in patches["a.txt"]
    assert "+new needle" in patches["new.txt"] and "new file mode" in patches["new.txt"]
    assert "-x" in patches["src/sub/deep.txt"]
    no_context = api.get("/vcs/diff", params={"mode": "git", "context": 0}).json()
    assert "\n hello\n" not in no_context[0]["patch"]
    assert api.get("/vcs/diff").status_code == 400
    assert api.get("/vcs/diff", params={"mode": "svn"}).status_code == 400


def test_branch_mode_diffs_from_the_default_branch(api: httpx.Client, repo: Path) -> None:
    git(repo, "stash", "-u")
    git(repo, "checkout", "-qb", "feature")
    (repo / "feature.txt").write_text("f\n")
    git(repo, "add", "feature.txt")
    git(repo, "commit", "-qm", "feature")
    branch = api.get("/vcs/diff", params={"mode": "branch"}).json()
    assert [d["file"] for d in branch] == ["feature.txt"]
    assert api.get("/vcs/diff", params={"mode": "git"}).json() == []


def test_raw_diff(api: httpx.Client) -> None:
    response = api.get("/vcs/diff/raw")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-diff; charset=utf-8"
    text = response.text
    assert "diff --git a/a.txt b/a.txt" in text and "+new needle" in text


def test_apply_clean_patch(api: httpx.Client, repo: Path) -> None:
    patch = (
        "diff --git a/added.txt b/added.txt\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/added.txt\n@@ -0,0 +1 @@\n+applied\n"
    )
    response = api.post("/vcs/apply", json={"patch": patch})
    assert response.status_code == 200 and response.json() == {"applied": True}
    assert (repo / "added.txt").read_text() == "applied\n"


def test_apply_refusals_change_nothing(api: httpx.Client, repo: Path) -> None:
    before = git(repo, "status", "--porcelain")
    content = (repo / "a.txt").read_bytes()
    stale = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-nothing\n+like\n this\n"
    for patch in ("garbage", "", stale):
        response = api.post("/vcs/apply", json={"patch": patch})
        assert response.status_code == 400
        body = response.json()
        assert body == {
            "name": "VcsApplyError",
            "data": {"message": "Patch can't be applied", "reason": "not-clean"},
        }
        assert reference().response_problems("/vcs/apply", "post", 400, body) == []
    for bad in ({}, {"patch": 1}, {"patch": "x", "extra": True}):
        response = api.post("/vcs/apply", json=bad)
        assert response.status_code == 400
        assert reference().response_problems("/vcs/apply", "post", 400, response.json()) == []
    assert git(repo, "status", "--porcelain") == before
    assert (repo / "a.txt").read_bytes() == content


def test_apply_outside_git(api: httpx.Client, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    response = api.post("/vcs/apply", params={"directory": str(plain)}, json={"patch": "x"})
    assert response.status_code == 400
    assert response.json()["data"]["reason"] == "non-git"
    assert api.get("/vcs/status", params={"directory": str(plain)}).json() == []
