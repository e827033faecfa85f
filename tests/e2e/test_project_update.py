"""`PATCH /project/{id}` through a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.pgdb import throwaway_database
from tests.schema import reference
from tests.serverproc import RunningServer


@pytest.fixture(params=["sqlite", "postgres"])
def store_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield []
        return
    with throwaway_database() as url:
        yield ["--database", url]


def _repo(path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(path)], check=True)
    subprocess.run([*git, "-C", str(path), "commit", "-q", "--allow-empty", "-m", "r"], check=True)


def _valid(method: str, status: int, body: object) -> None:
    assert reference().response_problems("/project/{projectID}", method, status, body) == []


def test_update_merges_and_persists(
    server_factory: Callable[..., RunningServer], store_args: list[str], tmp_path: Path
) -> None:
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    _repo(project_dir)
    server = server_factory(extra_args=store_args)
    with httpx.Client(base_url=server.url, params={"directory": str(project_dir)}) as client:
        current = client.get("/project/current").json()
        pid = current["id"]
        assert pid != "global"
        first = client.patch(f"/project/{pid}", json={"name": "demo", "icon": {"color": "blue"}})
        assert first.status_code == 200, first.text
        _valid("patch", 200, first.json())
        assert first.json()["name"] == "demo" and first.json()["icon"] == {"color": "blue"}
        second = client.patch(
            f"/project/{pid}",
            json={"icon": {"url": "https://x/i.png"}, "commands": {"start": "make"}},
        )
        assert second.status_code == 200, second.text
        # Fields merge: the colour set before stays beside the new url.
        assert second.json()["icon"] == {"color": "blue", "url": "https://x/i.png"}
        assert second.json()["name"] == "demo"
        assert second.json()["time"]["created"] == current["time"]["created"]
        listed = {p["id"]: p for p in client.get("/project").json()}
        assert listed[pid]["commands"] == {"start": "make"}

        before = client.get("/project").json()
        for bad in ({"name": 5}, {"bogus": 1}, {"icon": {"url": 1}}, {"icon": "x"}):
            refused = client.patch(f"/project/{pid}", json=bad)
            assert refused.status_code == 400, (bad, refused.text)
            _valid("patch", 400, refused.json())
        missing = client.patch("/project/nope", json={"name": "x"})
        assert missing.status_code == 404
        _valid("patch", 404, missing.json())
        assert missing.json()["_tag"] == "ProjectNotFoundError"
        assert client.get("/project").json() == before, "a refused update changed nothing"
