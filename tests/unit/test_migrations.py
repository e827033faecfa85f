"""Schema migrations: old data directories upgrade in place, new ones get the full schema."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from pyopencode.store import migrate
from tests.serverproc import RunningServer

MIGRATIONS = Path(migrate.__file__).with_name("migrations")
DB_NAME = "pyopencode.db"
TABLES = {"project", "session", "message", "part", "todo", "alembic_version"}
INDEXES_0001 = {
    "session_project_updated",
    "session_parent",
    "message_session",
    "part_message",
    "part_session",
}
# (column, referenced table, referenced column, ON DELETE) for every foreign key, per table.
FOREIGN_KEYS = {
    "project": set(),
    "session": {("parent_id", "session", "id", "CASCADE")},
    "message": {("session_id", "session", "id", "CASCADE")},
    "part": {
        ("message_id", "message", "id", "CASCADE"),
        ("session_id", "session", "id", "CASCADE"),
    },
    "todo": {("session_id", "session", "id", "CASCADE")},
}
LEGACY_CREATED = 1_700_000_000_000


def _alembic_config(db: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    return config


@contextlib.contextmanager
def _readonly(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def _names(conn: sqlite3.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type=?", (kind,)).fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _foreign_keys(conn: sqlite3.Connection, table: str) -> set[tuple[str, str, str, str]]:
    # Rows: (id, seq, table, from, to, on_update, on_delete, match).
    rows = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
    return {(row[3], row[2], row[4], row[6]) for row in rows}


def _real_shapes(server: RunningServer) -> tuple[Any, Any, Any]:
    """A root session, its child and a stored message exactly as the server writes them."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        root = client.post("/session", json={"title": "shape"}).raise_for_status().json()
        child = client.post("/session", json={"title": "kid", "parentID": root["id"]}).json()
        body = {"noReply": True, "parts": [{"type": "text", "text": "from 0001"}]}
        message = client.post(f"/session/{root['id']}/message", json=body)
        message.raise_for_status()
    return root, child, message.json()


def _insert_session(conn: sqlite3.Connection, info: Any) -> None:
    conn.execute(
        "INSERT INTO session (id, project_id, parent_id, directory, path, title,"
        " time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info["id"],
            info["projectID"],
            info.get("parentID"),
            info["directory"],
            info["path"],
            info["title"],
            info["time"]["created"],
            info["time"]["updated"],
            orjson.dumps(info).decode(),
        ),
    )


@pytest.mark.slow
def test_revision_0001_data_dir_is_upgraded_in_place(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    scratch = server_factory()
    root, child, stored = _real_shapes(scratch)
    assert scratch.stop() == 0
    assert scratch.db_path.name == DB_NAME
    # Make them recognisably old rows, written before 0002 existed.
    root["title"], child["title"] = "legacy root", "legacy child"
    for n, info in enumerate((root, child)):
        info["time"] = {"created": LEGACY_CREATED + n, "updated": LEGACY_CREATED + n}
    message, parts = stored["info"], stored["parts"]
    assert message["sessionID"] == root["id"] and len(parts) == 1

    data_dir = tmp_path / "legacy-data"
    data_dir.mkdir()
    db = data_dir / DB_NAME
    command.upgrade(_alembic_config(db), "0001")
    assert migrate.sqlite_revision(db) == "0001"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert "session_directory_updated" not in _names(conn, "index")
        assert _names(conn, "index") >= INDEXES_0001
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN")
        project = {
            "id": root["projectID"],
            "worktree": "/",
            "time": {"created": LEGACY_CREATED, "updated": LEGACY_CREATED},
            "sandboxes": [],
        }
        conn.execute(
            "INSERT INTO project (id, worktree, time_created, time_updated, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (project["id"], "/", LEGACY_CREATED, LEGACY_CREATED, orjson.dumps(project).decode()),
        )
        _insert_session(conn, root)
        _insert_session(conn, child)
        conn.execute(
            "INSERT INTO message (id, session_id, time_created, data) VALUES (?, ?, ?, ?)",
            (message["id"], root["id"], message["time"]["created"], orjson.dumps(message).decode()),
        )
        conn.execute(
            "INSERT INTO part (id, message_id, session_id, data) VALUES (?, ?, ?, ?)",
            (parts[0]["id"], message["id"], root["id"], orjson.dumps(parts[0]).decode()),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()

    server = server_factory(data_dir=data_dir)
    assert migrate.sqlite_revision(db) == migrate.HEAD
    with _readonly(db) as ro:
        assert ro.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.HEAD,)]
        assert "session_directory_updated" in _names(ro, "index")
        assert ro.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        got = client.get(f"/session/{root['id']}")
        assert got.status_code == 200
        assert got.json() == root
        listed = client.get("/session", params={"limit": 10_000}).json()
        assert {s["id"]: s for s in listed} == {root["id"]: root, child["id"]: child}
        assert client.get(f"/session/{root['id']}/children").json() == [child]
        assert client.get(f"/session/{root['id']}/message").json() == [stored]
        # The upgraded schema takes writes, and its cascades still work.
        patched = client.patch(f"/session/{child['id']}", json={"title": "renamed"})
        assert patched.status_code == 200 and patched.json()["title"] == "renamed"
        assert client.delete(f"/session/{root['id']}").json() is True
        for sid in (root["id"], child["id"]):
            assert client.get(f"/session/{sid}").status_code == 404
    assert server.stop() == 0
    with _readonly(db) as ro:
        for table in ("session", "message", "part"):
            assert ro.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_fresh_data_dir_gets_full_schema(server: RunningServer) -> None:
    db = server.db_path
    with _readonly(db) as ro:
        assert ro.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # Later migrations may add tables and indexes; these must all be there.
        assert _names(ro, "table") >= TABLES
        assert _names(ro, "index") >= INDEXES_0001 | {"session_directory_updated"}
        for table, expected in FOREIGN_KEYS.items():
            assert _foreign_keys(ro, table) == expected, table
        assert ro.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.HEAD,)]
    # The server's own connections enforce those keys: a delete cascades through them.
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        root = client.post("/session", json={"title": "root"}).json()["id"]
        child = client.post("/session", json={"title": "child", "parentID": root}).json()["id"]
        body = {"noReply": True, "parts": [{"type": "text", "text": "x"}]}
        for sid in (root, child):
            assert client.post(f"/session/{sid}/message", json=body).status_code == 200
        with _readonly(db) as ro:
            assert ro.execute("SELECT count(*) FROM part").fetchone() == (2,)
        assert client.delete(f"/session/{root}").json() is True
    with _readonly(db) as ro:
        for table in ("session", "message", "part", "todo"):
            assert ro.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        assert ro.execute("PRAGMA foreign_key_check").fetchall() == []


def test_sqlite_revision(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / DB_NAME
    assert migrate.sqlite_revision(missing) is None
    assert not missing.exists()
    unstamped = tmp_path / "unstamped.db"
    with contextlib.closing(sqlite3.connect(unstamped)) as conn:
        conn.execute("CREATE TABLE other (x)")
    assert migrate.sqlite_revision(unstamped) is None
    # HEAD names the newest script in the migrations directory.
    scripts = ScriptDirectory.from_config(_alembic_config(unstamped))
    assert scripts.get_current_head() == migrate.HEAD

    server = server_factory(data_dir=tmp_path / "data")
    assert migrate.sqlite_revision(server.db_path) == migrate.HEAD
    assert server.stop() == 0
    assert migrate.sqlite_revision(server.db_path) == migrate.HEAD
    server.restart()
    assert migrate.sqlite_revision(server.db_path) == migrate.HEAD
