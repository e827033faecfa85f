"""`pyopencode migrate` copies an embedded data directory into PostgreSQL, verified by counts."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from pyopencode.bus import Bus
from pyopencode.session.service import SessionService
from pyopencode.store.sqlite import SqliteStore
from tests.serverproc import RunningServer

TABLES = ("project", "session", "message", "part", "todo")


def _migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyopencode", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sqlite_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def _pg_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {}
        for table in TABLES:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = row[0] if row else -1
        return counts


def _populate(server: RunningServer) -> dict[str, Any]:
    """Sessions (with children and grandchildren), messages with parts; returns what was read."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        roots = [client.post("/session", json={"title": f"root-{i}"}).json() for i in range(12)]
        children = [
            client.post("/session", json={"title": f"kid-{i}", "parentID": r["id"]}).json()
            for i, r in enumerate(roots)
        ]
        for i, kid in enumerate(children[:4]):
            client.post("/session", json={"title": f"grandkid-{i}", "parentID": kid["id"]})
        for session in roots[:6] + children[:3]:
            for n in range(3):
                response = client.post(
                    f"/session/{session['id']}/message",
                    json={"noReply": True, "parts": [{"type": "text", "text": f"m{n}"}]},
                )
                assert response.status_code == 200, response.text
        listed = client.get("/session", params={"limit": 10_000}).json()
        messages = {s["id"]: client.get(f"/session/{s['id']}/message").json() for s in listed}
    return {"sessions": listed, "messages": messages, "todo_session": roots[0]["id"]}


def _add_todos(db: Path, session_id: str) -> list[dict[str, Any]]:
    # Todos have no HTTP write route yet (the agent writes them), so write them via the store.
    todos = [{"content": f"do {i}", "status": "pending", "priority": "high"} for i in range(3)]

    async def main() -> None:
        store = SqliteStore(db, Bus())
        await store.start()
        try:
            await SessionService(store).set_todos(session_id, todos)
        finally:
            await store.close()

    asyncio.run(main())
    return todos


def test_migrate_copies_a_data_dir_and_the_server_then_serves_it(
    server_factory: Callable[..., RunningServer], fresh_pg_url: str, tmp_path: Path
) -> None:
    source = server_factory()
    before = _populate(source)
    assert source.stop() == 0
    todos = _add_todos(source.db_path, before["todo_session"])
    counts = _sqlite_counts(source.db_path)
    assert counts["session"] == 28 and counts["part"] == 27 and counts["todo"] == 3

    result = _migrate("--from", f"sqlite:{source.data_dir}", "--to", fresh_pg_url)
    assert result.returncode == 0, result.stderr
    assert "verified: row counts match" in result.stdout
    assert _pg_counts(fresh_pg_url) == counts

    # The same rows, served by PostgreSQL instances (from the directory the data came from).
    pg = server_factory(extra_args=["--database", fresh_pg_url])
    pg_other = server_factory(extra_args=["--database", fresh_pg_url])
    headers = {"x-opencode-directory": before["sessions"][0]["directory"]}
    for instance in (pg, pg_other):
        with httpx.Client(base_url=instance.url, timeout=30, headers=headers) as client:
            listed = client.get("/session", params={"limit": 10_000}).json()
            assert listed == before["sessions"]
            for session_id, messages in before["messages"].items():
                assert client.get(f"/session/{session_id}/message").json() == messages
            assert client.get(f"/session/{before['todo_session']}/todo").json() == todos

    # A target that already has sessions is refused, and left as it was...
    again = _migrate("--from", f"sqlite:{source.db_path}", "--to", fresh_pg_url)
    assert again.returncode != 0
    assert "already has 28 sessions" in again.stderr and "--force" in again.stderr
    assert _pg_counts(fresh_pg_url) == counts
    # ...unless forced: rows with the same id are replaced, so the counts stay the same.
    forced = _migrate("--from", f"sqlite:{source.db_path}", "--to", fresh_pg_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _pg_counts(fresh_pg_url) == counts


def test_migrate_refuses_on_a_count_mismatch_and_copies_nothing(
    server_factory: Callable[..., RunningServer], fresh_pg_url: str
) -> None:
    source = server_factory()
    _populate(source)
    assert source.stop() == 0
    # An orphan (its parent is gone; possible only if foreign keys were ever off) cannot be
    # placed under its parent, so the copy must not claim success.
    conn = sqlite3.connect(source.db_path)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        row = conn.execute("SELECT * FROM session LIMIT 1").fetchone()
        conn.execute(
            "INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("ses_orphan", row[1], "ses_missing", *row[3:]),
        )
        conn.commit()
    finally:
        conn.close()
    result = _migrate("--from", f"sqlite:{source.data_dir}", "--to", fresh_pg_url)
    assert result.returncode == 1
    assert "row counts do not match" in result.stderr
    assert "session: source has 29" in result.stderr
    assert _pg_counts(fresh_pg_url) == dict.fromkeys(TABLES, 0)


def test_migrate_explains_a_bad_source_or_target(tmp_path: Path, fresh_pg_url: str) -> None:
    missing = _migrate("--from", f"sqlite:{tmp_path / 'nothing'}", "--to", fresh_pg_url)
    assert missing.returncode == 1 and "no SQLite database" in missing.stderr
    wrong = _migrate("--from", f"sqlite:{tmp_path}", "--to", "mysql://x")
    assert wrong.returncode == 2 and "postgresql://" in wrong.stderr
