"""On PostgreSQL: UI control reaches a UI attached to another instance; git init and
select-session read and write through the shared store."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.schema import reference
from tests.serverproc import RunningServer
from tests.surface.events import EventLog


def test_tui_events_cross_instances(
    instances: Callable[[int], list[RunningServer]], project_dir: Path
) -> None:
    a, b = instances(2)
    where = {"directory": str(project_dir)}
    log = EventLog(b.url, where)  # the UI is attached to B
    with httpx.Client(base_url=a.url, params=where, timeout=10) as client:
        session = client.post("/session", json={}).json()
        # A session made through A is known to B's store too.
        selected = httpx.post(
            f"{b.url}/tui/select-session", params=where, json={"sessionID": session["id"]}
        )
        assert selected.status_code == 200, selected.text
        assert client.post("/tui/append-prompt", json={"text": "via-a"}).json() is True
    log.wait("tui.prompt.append")
    got = [(e["type"], e["properties"]) for e in log.events if e["type"].startswith("tui.")]
    assert got == [
        ("tui.session.select", {"sessionID": session["id"]}),
        ("tui.prompt.append", {"text": "via-a"}),
    ]
    log.close()


def test_git_init_on_shared_store(
    instances: Callable[[int], list[RunningServer]], tmp_path: Path
) -> None:
    (a,) = instances(1)
    plain = tmp_path / "plain"
    plain.mkdir()
    r = httpx.post(f"{a.url}/project/git/init", params={"directory": str(plain)}, timeout=10)
    assert r.status_code == 200, r.text
    assert reference().response_problems("/project/git/init", "post", 200, r.json()) == []
    assert r.json()["worktree"] == str(plain) and r.json()["vcs"] == "git"
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=plain, capture_output=True, text=True
    )
    assert inside.stdout.strip() == "true"
