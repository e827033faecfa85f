"""Embedded SQLite engine: one writer thread that group-commits, reads on their own connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.store import migrate
from pyopencode.store.base import SESSION_ORDER, Json, SessionQuery, Store

log = logging.getLogger("pyopencode.store")

T = TypeVar("T")
# A write runs on the writer's connection inside the batch transaction and returns its
# value plus the events to publish once the batch is durable.
WriteFn = Callable[[sqlite3.Connection], tuple[T, list[Event]]]

_MAX_BATCH = 512
_STOP = object()


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL makes every commit fsync the WAL: a 2xx is sent only after the data is on disk.
    conn.execute("PRAGMA synchronous=FULL")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


def _loads(data: str) -> Json:
    value: Json = orjson.loads(data)
    return value


def _json_array(rows: list[tuple[str]] | list[Any]) -> bytes:
    return b"[" + b",".join(row[0].encode() for row in rows) + b"]"


def _session_event(kind: str, info: Json) -> Event:
    return Event(
        type=kind,
        properties={"sessionID": info["id"], "info": info},
        directory=info.get("directory"),
        project=info.get("projectID"),
    )


class _Writer(threading.Thread):
    """The single writer. Requests that queue up while a commit is in flight share the next one."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop, bus: Bus) -> None:
        super().__init__(name="pyopencode-sqlite-writer", daemon=True)
        self._path = path
        self._loop = loop
        self._bus = bus
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.batches = 0
        self.writes = 0

    def submit(self, fn: WriteFn[Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((fn, future))
        return future

    def stop(self) -> None:
        self._queue.put(_STOP)

    def run(self) -> None:
        conn = _connect(self._path, readonly=False)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                stopping = False
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    batch.append(nxt)
                self._commit(conn, batch)
                if stopping:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, list[Event], BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                # A savepoint per request: one failing write rolls back alone, not the batch.
                conn.execute("SAVEPOINT request")
                try:
                    value, events = fn(conn)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO request")
                    conn.execute("RELEASE request")
                    outcomes.append((future, None, [], exc))
                else:
                    conn.execute("RELEASE request")
                    outcomes.append((future, value, events, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            log.exception("commit failed; rolling back %d writes", len(batch))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            outcomes = [(future, None, [], exc) for future, *_ in outcomes]
            done = {id(o[0]) for o in outcomes}
            outcomes += [(f, None, [], exc) for _, f in batch if id(f) not in done]
        self.batches += 1
        self.writes += len(batch)
        self._loop.call_soon_threadsafe(self._deliver, outcomes)

    def _deliver(
        self, outcomes: list[tuple[asyncio.Future[Any], Any, list[Event], BaseException | None]]
    ) -> None:
        # Runs on the event loop: events go out in commit order, before any waiter resumes.
        for _future, _value, events, error in outcomes:
            if error is None and events:
                self._bus.publish(events)
        for future, value, _events, error in outcomes:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


class SqliteStore(Store):
    def __init__(self, path: Path, bus: Bus) -> None:
        self.path = path
        self._bus = bus
        self._writer: _Writer | None = None
        self._reader: sqlite3.Connection | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate.upgrade_sqlite, self.path)
        self._reader = _connect(self.path, readonly=True)
        self._writer = _Writer(self.path, asyncio.get_running_loop(), self._bus)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _write(self, fn: WriteFn[T]) -> T:
        assert self._writer is not None, "store is not started"
        # Shielded: a client that disconnects must not cancel a write already queued; it
        # still commits, and its events still go out.
        result: T = await asyncio.shield(self._writer.submit(fn))
        return result

    def _read(self) -> sqlite3.Connection:
        # Reads run on the event loop thread: they are index lookups that take far less
        # than a thread hop would, and WAL means they never wait for the writer.
        assert self._reader is not None, "store is not started"
        return self._reader

    @property
    def stats(self) -> dict[str, int]:
        w = self._writer
        return {"batches": w.batches, "writes": w.writes} if w else {"batches": 0, "writes": 0}

    # --- projects
    async def ensure_project(self, project: Json) -> Json:
        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            row = conn.execute("SELECT data FROM project WHERE id=?", (project["id"],)).fetchone()
            if row is not None:
                existing = _loads(row[0])
                if existing.get("worktree") == project["worktree"]:
                    return existing, []
                project["time"]["created"] = existing["time"]["created"]
            conn.execute(
                "INSERT INTO project (id, worktree, time_created, time_updated, data)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " worktree=excluded.worktree, time_updated=excluded.time_updated,"
                " data=excluded.data",
                (
                    project["id"],
                    project["worktree"],
                    project["time"]["created"],
                    project["time"]["updated"],
                    orjson.dumps(project).decode(),
                ),
            )
            return project, []

        return await self._write(write)

    async def list_projects(self) -> bytes:
        rows = (
            self._read().execute("SELECT data FROM project ORDER BY time_updated DESC").fetchall()
        )
        return _json_array(rows)

    # --- sessions
    async def create_session(self, info: Json) -> Json:
        data = orjson.dumps(info).decode()

        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            parent = info.get("parentID")
            if parent is not None and not _exists(conn, "session", parent):
                raise BadRequestError(f"Parent session not found: {parent}", field="parentID")
            conn.execute(
                "INSERT INTO session (id, project_id, parent_id, directory, path, title,"
                " time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info["id"],
                    info["projectID"],
                    parent,
                    info["directory"],
                    info.get("path", ""),
                    info["title"],
                    info["time"]["created"],
                    info["time"]["updated"],
                    data,
                ),
            )
            return info, [_session_event("session.created", info)]

        return await self._write(write)

    async def get_session(self, session_id: str) -> bytes | None:
        row = self._read().execute("SELECT data FROM session WHERE id=?", (session_id,)).fetchone()
        return None if row is None else str(row[0]).encode()

    async def list_sessions(self, query: SessionQuery) -> bytes:
        where, args = query.where("?")
        sql = f"SELECT data FROM session WHERE {where} ORDER BY {SESSION_ORDER} LIMIT ?"
        return _json_array(self._read().execute(sql, [*args, query.limit]).fetchall())

    async def list_children(self, session_id: str) -> bytes | None:
        conn = self._read()
        if not _exists(conn, "session", session_id):
            return None
        rows = conn.execute(
            "SELECT data FROM session WHERE parent_id=? ORDER BY time_created ASC, id DESC",
            (session_id,),
        ).fetchall()
        return _json_array(rows)

    async def update_session(self, session_id: str, apply: Callable[[Json], Json]) -> Json:
        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            row = conn.execute("SELECT data FROM session WHERE id=?", (session_id,)).fetchone()
            if row is None:
                raise NotFoundError.session(session_id)
            info = apply(_loads(row[0]))
            conn.execute(
                "UPDATE session SET title=?, time_updated=?, data=? WHERE id=?",
                (info["title"], info["time"]["updated"], orjson.dumps(info).decode(), session_id),
            )
            return info, [_session_event("session.updated", info)]

        return await self._write(write)

    async def delete_session(self, session_id: str) -> list[Json]:
        def write(conn: sqlite3.Connection) -> tuple[list[Json], list[Event]]:
            rows = conn.execute(
                "WITH RECURSIVE tree(id, depth) AS ("
                " SELECT id, 0 FROM session WHERE id=?"
                " UNION ALL SELECT s.id, t.depth + 1 FROM session s JOIN tree t"
                " ON s.parent_id = t.id)"
                " SELECT s.data FROM tree JOIN session s ON s.id = tree.id"
                " ORDER BY tree.depth DESC",
                (session_id,),
            ).fetchall()
            if not rows:
                raise NotFoundError.session(session_id)
            # Foreign keys cascade the rest: descendants, messages, parts and todos.
            deleted = conn.execute("DELETE FROM session WHERE id=?", (session_id,)).rowcount
            if deleted != 1:
                raise NotFoundError.session(session_id)
            removed = [_loads(r[0]) for r in rows]
            return removed, [_session_event("session.deleted", info) for info in removed]

        return await self._write(write)

    async def fork_session(
        self, session_id: str, until_message_id: str | None, make_info: Callable[[Json], Json]
    ) -> Json:
        from pyopencode import ids

        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            row = conn.execute("SELECT data FROM session WHERE id=?", (session_id,)).fetchone()
            if row is None:
                raise NotFoundError.session(session_id)
            source = _loads(row[0])
            info = make_info(source)
            conn.execute(
                "INSERT INTO session (id, project_id, parent_id, directory, path, title,"
                " time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info["id"],
                    info["projectID"],
                    info.get("parentID"),
                    info["directory"],
                    info.get("path", ""),
                    info["title"],
                    info["time"]["created"],
                    info["time"]["updated"],
                    orjson.dumps(info).decode(),
                ),
            )
            events = [_session_event("session.created", info)]
            place = (info["directory"], info["projectID"])
            sql = "SELECT id, time_created, data FROM message WHERE session_id=?"
            args: list[Any] = [session_id]
            if until_message_id is not None:
                sql += " AND id<?"
                args.append(until_message_id)
            id_map: dict[str, str] = {}
            for old_id, created, data in conn.execute(sql + " ORDER BY id", args).fetchall():
                message = _loads(data)
                new_id = ids.ascending("msg")
                id_map[old_id] = new_id
                message["id"] = new_id
                message["sessionID"] = info["id"]
                if message.get("parentID") in id_map:
                    message["parentID"] = id_map[message["parentID"]]
                conn.execute(
                    "INSERT INTO message (id, session_id, time_created, data) VALUES (?,?,?,?)",
                    (new_id, info["id"], created, orjson.dumps(message).decode()),
                )
                events.append(_message_event(message, place))
                for (part_data,) in conn.execute(
                    "SELECT data FROM part WHERE message_id=? ORDER BY id", (old_id,)
                ).fetchall():
                    part = _loads(part_data)
                    part["id"] = ids.ascending("prt")
                    part["messageID"] = new_id
                    part["sessionID"] = info["id"]
                    conn.execute(
                        "INSERT INTO part (id, message_id, session_id, data) VALUES (?,?,?,?)",
                        (part["id"], new_id, info["id"], orjson.dumps(part).decode()),
                    )
                    events.append(_part_event(part, place))
            return info, events

        return await self._write(write)

    # --- messages and parts
    async def list_messages(
        self, session_id: str, limit: int | None, before: str | None
    ) -> bytes | None:
        conn = self._read()
        # One read transaction, so the messages and their parts are one consistent snapshot.
        conn.execute("BEGIN")
        try:
            if not _exists(conn, "session", session_id):
                return None
            sql = "SELECT id, data FROM message WHERE session_id=?"
            args: list[Any] = [session_id]
            if before is not None:
                sql += " AND id<?"
                args.append(before)
            if limit is not None:
                sql += " ORDER BY id DESC LIMIT ?"
                args.append(limit)
                messages = list(reversed(conn.execute(sql, args).fetchall()))
            else:
                messages = conn.execute(sql + " ORDER BY id", args).fetchall()
            parts: dict[str, list[bytes]] = {}
            if messages:
                first = messages[0][0]
                for message_id, data in conn.execute(
                    "SELECT message_id, data FROM part WHERE session_id=? AND message_id>=?"
                    " ORDER BY message_id, id",
                    (session_id, first),
                ):
                    parts.setdefault(message_id, []).append(data.encode())
        finally:
            conn.execute("COMMIT")
        return (
            b"["
            + b",".join(
                b'{"info":' + data.encode() + b',"parts":[' + b",".join(parts.get(mid, [])) + b"]}"
                for mid, data in messages
            )
            + b"]"
        )

    async def get_message(self, session_id: str, message_id: str) -> bytes | None:
        conn = self._read()
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                "SELECT data FROM message WHERE id=? AND session_id=?", (message_id, session_id)
            ).fetchone()
            if row is None:
                return None
            parts = conn.execute(
                "SELECT data FROM part WHERE message_id=? ORDER BY id", (message_id,)
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        return b'{"info":' + row[0].encode() + b',"parts":' + _json_array(parts) + b"}"

    async def update_message(self, info: Json, parts: Sequence[Json] = ()) -> Json:
        data = orjson.dumps(info).decode()
        part_rows = [(p, orjson.dumps(p).decode()) for p in parts]

        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            session = _session_row(conn, info["sessionID"])
            owner = conn.execute(
                "SELECT session_id FROM message WHERE id=?", (info["id"],)
            ).fetchone()
            if owner is not None and owner[0] != info["sessionID"]:
                raise BadRequestError("message belongs to another session", field="id")
            conn.execute(
                "INSERT INTO message (id, session_id, time_created, data) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET data=excluded.data",
                (info["id"], info["sessionID"], info["time"]["created"], data),
            )
            events = [_message_event(info, session)]
            for part, part_data in part_rows:
                _insert_part(conn, part, part_data)
                events.append(_part_event(part, session))
            return info, events

        return await self._write(write)

    async def delete_message(self, session_id: str, message_id: str) -> None:
        def write(conn: sqlite3.Connection) -> tuple[None, list[Event]]:
            session = _session_row(conn, session_id)
            deleted = conn.execute(
                "DELETE FROM message WHERE id=? AND session_id=?", (message_id, session_id)
            ).rowcount
            if deleted != 1:
                raise NotFoundError(f"Message not found: {message_id}")
            event = Event(
                type="message.removed",
                properties={"sessionID": session_id, "messageID": message_id},
                directory=session[0],
                project=session[1],
            )
            return None, [event]

        await self._write(write)

    async def update_part(self, part: Json) -> Json:
        data = orjson.dumps(part).decode()

        def write(conn: sqlite3.Connection) -> tuple[Json, list[Event]]:
            session = _session_row(conn, part["sessionID"])
            owner = conn.execute(
                "SELECT session_id FROM message WHERE id=?", (part["messageID"],)
            ).fetchone()
            if owner is None or owner[0] != part["sessionID"]:
                raise NotFoundError(f"Message not found: {part['messageID']}")
            _insert_part(conn, part, data)
            return part, [_part_event(part, session)]

        return await self._write(write)

    async def delete_part(self, session_id: str, message_id: str, part_id: str) -> None:
        def write(conn: sqlite3.Connection) -> tuple[None, list[Event]]:
            session = _session_row(conn, session_id)
            deleted = conn.execute(
                "DELETE FROM part WHERE id=? AND message_id=? AND session_id=?",
                (part_id, message_id, session_id),
            ).rowcount
            if deleted != 1:
                raise NotFoundError(f"Part not found: {part_id}")
            event = Event(
                type="message.part.removed",
                properties={"sessionID": session_id, "messageID": message_id, "partID": part_id},
                directory=session[0],
                project=session[1],
            )
            return None, [event]

        await self._write(write)

    # --- todos
    async def get_todos(self, session_id: str) -> bytes | None:
        conn = self._read()
        if not _exists(conn, "session", session_id):
            return None
        rows = conn.execute(
            "SELECT data FROM todo WHERE session_id=? ORDER BY position", (session_id,)
        ).fetchall()
        return _json_array(rows)

    async def set_todos(self, session_id: str, todos: list[Json]) -> None:
        def write(conn: sqlite3.Connection) -> tuple[None, list[Event]]:
            session = _session_row(conn, session_id)
            conn.execute("DELETE FROM todo WHERE session_id=?", (session_id,))
            conn.executemany(
                "INSERT INTO todo (session_id, position, data) VALUES (?, ?, ?)",
                [(session_id, i, orjson.dumps(t).decode()) for i, t in enumerate(todos)],
            )
            event = Event(
                type="todo.updated",
                properties={"sessionID": session_id, "todos": todos},
                directory=session[0],
                project=session[1],
            )
            return None, [event]

        await self._write(write)

    # --- ephemeral events
    async def broadcast(self, events: list[Event]) -> None:
        """One process: the local bus is every bus."""
        self._bus.publish(events)


def _insert_part(conn: sqlite3.Connection, part: Json, data: str) -> None:
    existing = conn.execute("SELECT message_id FROM part WHERE id=?", (part["id"],)).fetchone()
    if existing is not None and existing[0] != part["messageID"]:
        raise BadRequestError("part belongs to another message", field="id")
    conn.execute(
        "INSERT INTO part (id, message_id, session_id, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET data=excluded.data",
        (part["id"], part["messageID"], part["sessionID"], data),
    )


def _message_event(info: Json, session: tuple[str, str]) -> Event:
    return Event(
        type="message.updated",
        properties={"sessionID": info["sessionID"], "info": info},
        directory=session[0],
        project=session[1],
    )


def _part_event(part: Json, session: tuple[str, str]) -> Event:
    return Event(
        type="message.part.updated",
        properties={"sessionID": part["sessionID"], "part": part, "time": int(time.time() * 1000)},
        directory=session[0],
        project=session[1],
    )


def _exists(conn: sqlite3.Connection, table: str, row_id: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id=?", (row_id,)).fetchone() is not None


def _session_row(conn: sqlite3.Connection, session_id: str) -> tuple[str, str]:
    row = conn.execute(
        "SELECT directory, project_id FROM session WHERE id=?", (session_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError.session(session_id)
    return row[0], row[1]
