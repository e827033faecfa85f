"""The SQL of every table, written once against `Tx` for both engines.

Rows hold the API's JSON in `data`, so reads hand back ready-to-send bytes: re-encoding them
would be wasted work on the hottest paths. Rules (what to write, which events follow) live in
the domain packages; this module only knows tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyopencode.store.base import Row, Tx

# Both engines index (project_id, time_updated DESC, id), so this order is an index scan.
SESSION_ORDER = "time_updated DESC, id ASC"
_SESSION_COLUMNS = (
    "id, project_id, parent_id, directory, path, title, time_created, time_updated, data"
)


def json_array(items: Sequence[str] | Sequence[Row]) -> bytes:
    """A JSON array of already-encoded values (strings, or rows whose first column is one)."""
    return b"[" + b",".join((i if isinstance(i, str) else i[0]).encode() for i in items) + b"]"


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards escaped by backslash, so it matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def marks(count: int) -> str:
    return ",".join("?" * count)


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters for `GET /session`, already validated."""

    project_id: str
    directory: str | None = None
    path: str | None = None
    roots: bool = False
    start: int | None = None
    search: str | None = None
    limit: int = 100

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (without the keyword) and its arguments."""
        sql = ["project_id=?"]
        args: list[Any] = [self.project_id]
        if self.directory is not None:
            sql.append("directory=?")
            args.append(self.directory)
        if self.path is not None:
            sql.append("(path=? OR path LIKE ? ESCAPE '\\')")
            args += [self.path, like_escape(self.path) + "/%"]
        if self.roots:
            sql.append("parent_id IS NULL")
        if self.start is not None:
            sql.append("time_updated>=?")
            args.append(self.start)
        if self.search:
            sql.append("title LIKE ? ESCAPE '\\'")
            args.append("%" + like_escape(self.search) + "%")
        return " AND ".join(sql), args


@dataclass(frozen=True, slots=True)
class GlobalSessionQuery:
    """Filters for `GET /experimental/session` (every project), already validated."""

    roots: bool = False
    start: int | None = None
    cursor: int | None = None
    search: str | None = None
    limit: int = 100

    def where(self) -> tuple[str, list[Any]]:
        sql = ["1=1"]
        args: list[Any] = []
        if self.roots:
            sql.append("s.parent_id IS NULL")
        if self.start is not None:
            sql.append("s.time_updated>=?")
            args.append(self.start)
        if self.cursor is not None:
            sql.append("s.time_updated<?")
            args.append(self.cursor)
        if self.search:
            sql.append("s.title LIKE ? ESCAPE '\\'")
            args.append("%" + like_escape(self.search) + "%")
        return " AND ".join(sql), args


# --- projects


async def project_data(tx: Tx, project_id: str) -> str | None:
    row = await tx.one(f"SELECT data FROM project WHERE id=?{tx.FOR_UPDATE}", (project_id,))
    return None if row is None else str(row[0])


async def put_project(
    tx: Tx, project_id: str, worktree: str, times: tuple[int, int], data: str
) -> None:
    await tx.execute(
        "INSERT INTO project (id, worktree, time_created, time_updated, data)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " worktree=excluded.worktree, time_updated=excluded.time_updated, data=excluded.data",
        (project_id, worktree, times[0], times[1], data),
    )


async def list_projects(tx: Tx) -> bytes:
    return json_array(await tx.all("SELECT data FROM project ORDER BY time_updated DESC"))


# --- sessions


async def session_data(tx: Tx, session_id: str, lock: str = "") -> str | None:
    row = await tx.one(f"SELECT data FROM session WHERE id=?{lock}", (session_id,))
    return None if row is None else str(row[0])


async def session_place(tx: Tx, session_id: str) -> tuple[str, str] | None:
    """The session's (directory, project), key-share locked so a delete waits for our commit."""
    row = await tx.one(
        f"SELECT directory, project_id FROM session WHERE id=?{tx.FOR_KEY_SHARE}", (session_id,)
    )
    return None if row is None else (row[0], row[1])


async def session_exists(tx: Tx, session_id: str, lock: str = "") -> bool:
    return await tx.one(f"SELECT 1 FROM session WHERE id=?{lock}", (session_id,)) is not None


def session_row(info: dict[str, Any], data: str) -> tuple[Any, ...]:
    return (
        info["id"],
        info["projectID"],
        info.get("parentID"),
        info["directory"],
        info.get("path", ""),
        info["title"],
        info["time"]["created"],
        info["time"]["updated"],
        data,
    )


async def insert_session(tx: Tx, row: tuple[Any, ...]) -> None:
    await tx.execute(f"INSERT INTO session ({_SESSION_COLUMNS}) VALUES ({marks(9)})", row)


async def update_session(tx: Tx, session_id: str, title: str, updated: int, data: str) -> None:
    await tx.execute(
        "UPDATE session SET title=?, time_updated=?, data=? WHERE id=?",
        (title, updated, data, session_id),
    )


async def session_tree(tx: Tx, session_id: str) -> list[Row]:
    """(id, data) of the session and all its descendants, deepest first."""
    return await tx.all(
        "WITH RECURSIVE tree(id, depth) AS ("
        " SELECT id, 0 FROM session WHERE id=?"
        " UNION ALL SELECT s.id, t.depth + 1 FROM session s JOIN tree t ON s.parent_id = t.id)"
        " SELECT s.id, s.data FROM tree JOIN session s ON s.id = tree.id ORDER BY tree.depth DESC",
        (session_id,),
    )


async def lock_sessions(tx: Tx, session_ids: Sequence[str]) -> list[str]:
    rows = await tx.all(
        f"SELECT id FROM session WHERE id IN ({marks(len(session_ids))}){tx.FOR_UPDATE}",
        session_ids,
    )
    return [r[0] for r in rows]


async def delete_session(tx: Tx, session_id: str) -> None:
    # Foreign keys cascade the rest: descendants, messages, parts and todos. Callers hold the
    # row (locked, or inside SQLite's one writer), so its answer is not waited for.
    await tx.execute("DELETE FROM session WHERE id=?", (session_id,))


async def list_sessions(tx: Tx, query: SessionQuery) -> bytes:
    where, args = query.where()
    sql = f"SELECT data FROM session WHERE {where} ORDER BY {SESSION_ORDER} LIMIT ?"
    return json_array(await tx.all(sql, [*args, query.limit]))


# Rows read per round trip while a filter the SQL cannot see (archived) drops some.
_GLOBAL_BATCH = 500


async def global_sessions(
    tx: Tx, query: GlobalSessionQuery, keep: Callable[[str], bool], count: int
) -> list[tuple[str, str | None]]:
    """Up to `count` (session data, its project's data) newest first, across all projects,
    of those `keep` accepts; read in keyset batches so a skipped row costs no extra page."""
    where, args = query.where()
    out: list[tuple[str, str | None]] = []
    after: tuple[int, str] | None = None
    while len(out) < count:
        sql, extra = where, list(args)
        if after is not None:
            sql += " AND (s.time_updated<? OR (s.time_updated=? AND s.id>?))"
            extra += [after[0], after[0], after[1]]
        batch = await tx.all(
            "SELECT s.data, p.data, s.time_updated, s.id FROM session s"
            f" LEFT JOIN project p ON p.id=s.project_id WHERE {sql}"
            " ORDER BY s.time_updated DESC, s.id ASC LIMIT ?",
            [*extra, _GLOBAL_BATCH],
        )
        for row in batch:
            if keep(row[0]):
                out.append((str(row[0]), None if row[1] is None else str(row[1])))
                if len(out) >= count:
                    break
        if len(batch) < _GLOBAL_BATCH:
            break
        after = (int(batch[-1][2]), str(batch[-1][3]))
    return out


async def children(tx: Tx, session_id: str) -> bytes | None:
    if not await session_exists(tx, session_id):
        return None
    rows = await tx.all(
        "SELECT data FROM session WHERE parent_id=? ORDER BY time_created ASC, id DESC",
        (session_id,),
    )
    return json_array(rows)


# --- messages and parts


async def messages_until(tx: Tx, session_id: str, until: str | None) -> list[Row]:
    """(id, time_created, data) of the session's messages before `until`, oldest first."""
    sql = "SELECT id, time_created, data FROM message WHERE session_id=?"
    args: list[Any] = [session_id]
    if until is not None:
        sql += " AND id<?"
        args.append(until)
    return await tx.all(sql + " ORDER BY id", args)


async def parts_of(tx: Tx, message_ids: Sequence[str]) -> list[Row]:
    """(message_id, data) of these messages' parts, in message then part order."""
    if not message_ids:
        return []
    return await tx.all(
        f"SELECT message_id, data FROM part WHERE message_id IN ({marks(len(message_ids))})"
        " ORDER BY message_id, id",
        message_ids,
    )


async def insert_messages(tx: Tx, rows: Sequence[tuple[str, str, int, str]]) -> None:
    if rows:
        await tx.executemany(
            "INSERT INTO message (id, session_id, time_created, data) VALUES (?, ?, ?, ?)", rows
        )


async def insert_parts(tx: Tx, rows: Sequence[tuple[str, str, str, str]]) -> None:
    if rows:
        await tx.executemany(
            "INSERT INTO part (id, message_id, session_id, data) VALUES (?, ?, ?, ?)", rows
        )


async def upsert_message(tx: Tx, message_id: str, session_id: str, created: int, data: str) -> bool:
    """Insert or replace; False when the id belongs to another session (nothing written)."""
    # The WHERE makes the ownership check and the write one atomic step.
    row = await tx.one(
        "INSERT INTO message (id, session_id, time_created, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET data=excluded.data"
        " WHERE message.session_id = excluded.session_id RETURNING 1",
        (message_id, session_id, created, data),
    )
    return row is not None


async def upsert_parts(tx: Tx, message_id: str, rows: Sequence[tuple[str, str, str, str]]) -> bool:
    """Insert or replace `rows` (id, message_id, session_id, data) of one message; False when an
    id belongs to another message (the caller then rolls back)."""
    if not rows:
        return True
    await tx.executemany(
        "INSERT INTO part (id, message_id, session_id, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET data=excluded.data"
        " WHERE part.message_id = excluded.message_id",
        rows,
    )
    foreign = await tx.one(
        f"SELECT 1 FROM part WHERE id IN ({marks(len(rows))}) AND message_id<>?",
        [r[0] for r in rows] + [message_id],
    )
    return foreign is None


async def message_session(tx: Tx, message_id: str) -> str | None:
    row = await tx.one(
        f"SELECT session_id FROM message WHERE id=?{tx.FOR_KEY_SHARE}", (message_id,)
    )
    return None if row is None else str(row[0])


async def delete_message(tx: Tx, session_id: str, message_id: str) -> bool:
    return bool(
        await tx.all(
            "DELETE FROM message WHERE id=? AND session_id=? RETURNING 1", (message_id, session_id)
        )
    )


async def delete_part(tx: Tx, session_id: str, message_id: str, part_id: str) -> bool:
    return bool(
        await tx.all(
            "DELETE FROM part WHERE id=? AND message_id=? AND session_id=? RETURNING 1",
            (part_id, message_id, session_id),
        )
    )


def _message_json(tx: Tx, message: str) -> str:
    """SQL for `{info, parts}` of the message row aliased `message`, parts in order."""
    parts = tx.joined("p.data", f"FROM part p WHERE p.message_id={message}.id", "p.id")
    return f"""'{{"info":' || {message}.data || ',"parts":[' || {parts} || ']}}'"""


async def list_messages(
    tx: Tx, session_id: str, limit: int | None, before: str | None
) -> bytes | None:
    """`[{info, parts}]` oldest first, or None when the session does not exist."""
    inner = "SELECT id, data FROM message WHERE session_id=?"
    args: list[Any] = [session_id]
    if before is not None:
        inner += " AND id<?"
        args.append(before)
    if limit is not None:
        inner += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
    source = f"FROM ({inner}) m"
    # One statement, one row: the session's existence and the whole list in one snapshot.
    row = await tx.one(
        "SELECT EXISTS (SELECT 1 FROM session WHERE id=?),"
        f" {tx.joined(_message_json(tx, 'm'), source, 'm.id')}",
        [session_id, *args],
    )
    assert row is not None
    return b"[" + row[1].encode() + b"]" if row[0] else None


async def parts_chars(tx: Tx, session_id: str) -> int:
    """Characters of the session's parts as stored (their JSON); 0 for no session."""
    row = await tx.one(
        "SELECT coalesce(sum(length(data)), 0) FROM part WHERE session_id=?", (session_id,)
    )
    return int(row[0]) if row is not None else 0


async def get_message(tx: Tx, session_id: str, message_id: str) -> bytes | None:
    row = await tx.one(
        f"SELECT {_message_json(tx, 'm')} FROM message m WHERE m.id=? AND m.session_id=?",
        (message_id, session_id),
    )
    return None if row is None else row[0].encode()


# --- todos


async def todos(tx: Tx, session_id: str) -> bytes | None:
    if not await session_exists(tx, session_id):
        return None
    rows = await tx.all("SELECT data FROM todo WHERE session_id=? ORDER BY position", (session_id,))
    return json_array(rows)


async def replace_todos(tx: Tx, session_id: str, items: Sequence[str]) -> None:
    await tx.execute("DELETE FROM todo WHERE session_id=?", (session_id,))
    if items:
        await tx.executemany(
            "INSERT INTO todo (session_id, position, data) VALUES (?, ?, ?)",
            [(session_id, i, data) for i, data in enumerate(items)],
        )
