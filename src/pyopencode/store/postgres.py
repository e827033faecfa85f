"""PostgreSQL engine: one transaction per write, events crossing instances through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import AsyncConnectionPool

from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError, OpencodeError
from pyopencode.store import migrate
from pyopencode.store.base import SESSION_ORDER, Json, SessionQuery, Store

if TYPE_CHECKING:
    from psycopg.abc import Buffer

log = logging.getLogger("pyopencode.store")

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Row = tuple[Any, ...]
# A write runs inside its own transaction and returns its value plus the events to publish.
WriteFn = Callable[[Conn], Awaitable[tuple[T, list[Event]]]]

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
CHANNEL = "pyopencode_events"
# NOTIFY refuses payloads of 8000 bytes or more; larger events travel by reference.
NOTIFY_LIMIT = 8000
# Listeners read a referenced payload within milliseconds; ten minutes covers a stalled one.
PAYLOAD_RETENTION_MS = 10 * 60 * 1000
PRUNE_INTERVAL_S = 30.0
PRUNE_BATCH = 1000
PRUNE_ROUNDS = 20
# Any constant works as long as every instance uses the same one.
_MIGRATION_LOCK = 0x70796F63
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_MAX_ATTEMPTS = 5
# How long a write waits for its own events to come back through LISTEN before answering.
_OWN_EVENTS_TIMEOUT_S = 5.0
# A silent LISTEN connection is probed this often, since a dead peer also looks silent.
_LISTEN_PROBE_S = 15.0
_BACKOFF_START_S = 0.1
_BACKOFF_MAX_S = 5.0
# TCP keepalives notice a vanished database host even when no notification is due.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class NulSafeStr(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL, SQLite's can: NUL goes in as U+FFFD, not as a 500.

    Only plain columns and parameters see this (titles, paths, ids asked for); the `data`
    JSON keeps the exact value, since JSON escapes NUL.
    """

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd"))


async def _configure(conn: Conn) -> None:
    conn.adapters.register_dumper(str, NulSafeStr)


def is_postgres_url(url: str) -> bool:
    return url.partition("://")[0] in SCHEMES


def libpq_url(url: str) -> str:
    """`postgres://` and `postgresql+psycopg://` spelled the way libpq accepts them."""
    return "postgresql://" + url.partition("://")[2]


def sqlalchemy_url(url: str) -> str:
    """The same database for SQLAlchemy (Alembic), on the psycopg 3 driver we use at runtime."""
    return "postgresql+psycopg://" + url.partition("://")[2]


def schema_revision(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if version is None else str(version[0])


def upgrade_schema(url: str) -> None:
    """Migrate to the newest schema; instances that start together take turns on a lock."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            if schema_revision(conn) != migrate.HEAD:
                migrate.upgrade(sqlalchemy_url(url))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _session_event(kind: str, info: Json) -> Event:
    return Event(
        type=kind,
        properties={"sessionID": info["id"], "info": info},
        directory=info.get("directory"),
        project=info.get("projectID"),
    )


def _event_json(event: Event) -> bytes:
    return orjson.dumps(
        {
            "id": event.id,
            "type": event.type,
            "properties": event.properties,
            "directory": event.directory,
            "project": event.project,
        }
    )


def _event_from(data: Any) -> Event:
    return Event(
        type=data["type"],
        properties=data["properties"],
        directory=data.get("directory"),
        project=data.get("project"),
        id=data["id"],
    )


async def _one(conn: Conn, sql: str, args: Sequence[Any] = ()) -> Row | None:
    cur = await conn.execute(sql, args)
    row: Row | None = await cur.fetchone()
    return row


async def _all(conn: Conn, sql: str, args: Sequence[Any] = ()) -> list[Row]:
    cur = await conn.execute(sql, args)
    rows: list[Row] = await cur.fetchall()
    return rows


async def _session_row(conn: Conn, session_id: str) -> tuple[str, str]:
    # KEY SHARE: a concurrent delete of this session waits for our commit (and then cascades
    # over what we wrote), instead of leaving our rows pointing at nothing.
    row = await _one(
        conn, "SELECT directory, project_id FROM session WHERE id=%s FOR KEY SHARE", (session_id,)
    )
    if row is None:
        raise NotFoundError.session(session_id)
    return row[0], row[1]


async def _insert_parts(conn: Conn, parts: Sequence[tuple[Json, str]]) -> None:
    # The WHERE makes the ownership check and the write one atomic step; all inserts are
    # sent before the first answer is awaited.
    cursors = [
        await conn.execute(
            "INSERT INTO part (id, message_id, session_id, data) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET data=excluded.data"
            " WHERE part.message_id = excluded.message_id RETURNING 1",
            (part["id"], part["messageID"], part["sessionID"], data),
        )
        for part, data in parts
    ]
    for cur in cursors:
        if await cur.fetchone() is None:
            raise BadRequestError("part belongs to another message", field="id")


def _message_event(info: Json, place: tuple[str, str]) -> Event:
    return Event(
        type="message.updated",
        properties={"sessionID": info["sessionID"], "info": info},
        directory=place[0],
        project=place[1],
    )


def _part_event(part: Json, place: tuple[str, str]) -> Event:
    return Event(
        type="message.part.updated",
        properties={"sessionID": part["sessionID"], "part": part, "time": _now_ms()},
        directory=place[0],
        project=place[1],
    )


def _no_parent(parent: str | None) -> BadRequestError:
    return BadRequestError(f"Parent session not found: {parent}", field="parentID")


def _array(sql_rows: str, order: str) -> str:
    """A query that has PostgreSQL build the JSON array of `data` in one row."""
    return (
        f"SELECT '[' || coalesce(string_agg(data, ',' ORDER BY {order}), '') || ']'"
        f" FROM ({sql_rows}) AS t"
    )


_SESSION_INSERT = (
    "INSERT INTO session (id, project_id, parent_id, directory, path, title,"
    " time_created, time_updated, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

_TREE = (
    "WITH RECURSIVE tree(id, depth) AS ("
    " SELECT id, 0 FROM session WHERE id=%s"
    " UNION ALL SELECT s.id, t.depth + 1 FROM session s JOIN tree t ON s.parent_id = t.id)"
    " SELECT s.id, s.data FROM tree JOIN session s ON s.id = tree.id ORDER BY tree.depth DESC"
)


def _session_args(info: Json, data: str) -> tuple[Any, ...]:
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


class _Listener:
    """The instance's one LISTEN connection: every committed event reaches the local bus here."""

    def __init__(self, conninfo: str, pool: AsyncConnectionPool[Any], bus: Bus) -> None:
        self._conninfo = conninfo
        self._pool = pool
        self._bus = bus
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self.connected = False
        self.reconnects = 0
        self.backend_pid: int | None = None

    async def start(self) -> None:
        # The first connection is made before serving, so no write can commit unheard.
        conn = await self._connect()
        self._task = asyncio.create_task(self._run(conn), name="pyopencode-pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._release_waiters()

    def expect(self, event_id: str) -> asyncio.Future[None] | None:
        """A future resolved when `event_id` has been published locally, if it can be."""
        if not self.connected:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[event_id] = future
        return future

    def forget(self, event_id: str) -> None:
        future = self._waiters.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for future in waiters.values():
            if not future.done():
                future.set_result(None)

    async def _connect(self) -> Conn:
        conn = await psycopg.AsyncConnection.connect(
            make_conninfo(self._conninfo, application_name="pyopencode-listener", **_KEEPALIVES),
            autocommit=True,
        )
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        self.backend_pid = conn.info.backend_pid
        self.connected = True
        return conn

    async def _run(self, conn: Conn | None) -> None:
        delay = _BACKOFF_START_S
        while True:
            try:
                if conn is None:
                    conn = await self._connect()
                    self.reconnects += 1
                    delay = _BACKOFF_START_S
                    log.warning("event listener reconnected to PostgreSQL")
                await self._pump(conn)
            except Exception as exc:
                first = self.connected
                self.connected = False
                self._release_waiters()
                if first:
                    # Events committed until we are back never reach this instance's bus.
                    # Subscriptions stay open: closing them all is how the bus says "server
                    # stopping", which would abort every running prompt.
                    log.warning(
                        "event listener lost its PostgreSQL connection (events committed"
                        " until it is back are not delivered here): %s",
                        exc,
                    )
                log.warning("event listener reconnecting in %.1fs", delay)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                    conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
            except asyncio.CancelledError:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                raise

    async def _pump(self, conn: Conn) -> None:
        while True:
            async for notify in conn.notifies(timeout=_LISTEN_PROBE_S):
                await self._dispatch(notify.payload)
            await conn.execute("SELECT 1")

    async def _dispatch(self, payload: str) -> None:
        try:
            data = orjson.loads(payload)
            if "ref" in data:
                data = await self._fetch(str(data["ref"]))
                if data is None:
                    return
            event = _event_from(data)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed event notification: %s", exc)
            return
        try:
            self._bus.publish([event])
        except Exception:
            log.exception("an event listener failed on %s", event.type)
        self.forget(event.id)

    async def _fetch(self, ref: str) -> Any:
        for attempt in range(3):
            try:
                async with self._pool.connection() as conn:
                    row = await _one(conn, "SELECT data FROM event_payload WHERE id=%s", (ref,))
            except psycopg.Error as exc:
                log.warning("cannot read event payload %s (attempt %d): %s", ref, attempt + 1, exc)
                await asyncio.sleep(0.1 * (attempt + 1))
                continue
            if row is None:
                log.error("event payload %s is gone; the event is dropped", ref)
                return None
            return orjson.loads(row[0])
        log.error("event payload %s could not be read; the event is dropped", ref)
        return None


class PostgresStore(Store):
    """Same promises as SqliteStore, for many server processes sharing one database."""

    shared = True

    def __init__(self, url: str, bus: Bus, *, pool_size: int = 16) -> None:
        self.url = url
        self._conninfo = libpq_url(url)
        self._bus = bus
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._listener: _Listener | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._last_prune = 0.0

    async def start(self) -> None:
        await asyncio.to_thread(upgrade_schema, self.url)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._conninfo,
            min_size=2,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "application_name": "pyopencode"},
            configure=_configure,
            open=False,
            name="pyopencode",
        )
        await pool.open(wait=True, timeout=30.0)
        self._pool = pool
        self._listener = _Listener(self._conninfo, pool, self._bus)
        try:
            await self._listener.start()
        except BaseException:
            await pool.close()
            raise

    async def close(self) -> None:
        # Writes already running still commit, and their events still go out.
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def listener(self) -> _Listener:
        assert self._listener is not None, "store is not started"
        return self._listener

    def _conn(self) -> contextlib.AbstractAsyncContextManager[Conn]:
        assert self._pool is not None, "store is not started"
        return self._pool.connection()

    async def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """One statement, so one snapshot; retried once on a connection that turned out broken."""
        for attempt in (1, 2):
            used: Conn | None = None
            try:
                async with self._conn() as conn:
                    used = conn
                    return await _all(conn, sql, args)
            except psycopg.OperationalError:
                if attempt == 2 or used is None or not used.broken:
                    raise
                await self._discard_broken()
        raise AssertionError("unreachable")

    async def _discard_broken(self) -> None:
        # One broken connection usually means all idle ones are (the database restarted):
        # drop them all now rather than failing a request on each.
        log.warning("PostgreSQL connection lost; checking the pool")
        assert self._pool is not None
        await self._pool.check()

    async def _write(self, fn: WriteFn[T], missing: OpencodeError | None = None) -> T:
        """Run `fn` in a transaction; a foreign key violation (the row it hangs on was just
        deleted) raises `missing`."""
        # Shielded: a client that disconnects must not cancel a write already under way.
        task = asyncio.ensure_future(self._run_write(fn, missing))
        self._track(task)
        result: T = await asyncio.shield(task)
        return result

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        # Retrieved here, since a write whose client went away has nobody else to see it.
        if not task.cancelled() and task.exception() is not None:
            log.debug("write finished without a waiting client: %r", task.exception())

    async def _run_write(self, fn: WriteFn[T], missing: OpencodeError | None) -> T:
        listener = self.listener
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            waiting: str | None = None
            waiter: asyncio.Future[None] | None = None
            used: Conn | None = None
            committing = False
            try:
                # Pipelined: statements whose results we do not wait for (BEGIN, INSERT,
                # NOTIFY, COMMIT) share round trips with the next one we do wait for.
                async with self._conn() as conn:
                    used = conn
                    async with conn.pipeline(), conn.transaction():
                        value, events = await fn(conn)
                        if events:
                            await self._notify(conn, events)
                            # Registered before COMMIT, which is what releases the NOTIFY.
                            waiting = events[-1].id
                            waiter = listener.expect(waiting)
                        committing = True
            except BaseException as exc:
                if waiting is not None:
                    listener.forget(waiting)
                if isinstance(exc, _RETRYABLE) and attempt < _MAX_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                if isinstance(exc, pg_errors.ForeignKeyViolation):
                    raise (missing or NotFoundError("Not found")) from exc
                if isinstance(exc, psycopg.DataError | pg_errors.ProgramLimitExceeded):
                    # Values SQLite takes but PostgreSQL cannot (a number beyond 64 bits, a key
                    # too long for an index) are bad input, not a server error.
                    message = exc.diag.message_primary or str(exc)
                    raise BadRequestError(f"Invalid value: {message}") from exc
                # A connection that broke (the database restarted, say) before COMMIT was sent
                # committed nothing, so the write can run again on a fresh one.
                if (
                    isinstance(exc, psycopg.OperationalError)
                    and not committing
                    and used is not None
                    and used.broken
                    and attempt < _MAX_ATTEMPTS
                ):
                    await self._discard_broken()
                    continue
                raise
            if waiter is not None:
                # Our own events are on the local bus before we answer, as with SQLite.
                done, _ = await asyncio.wait({waiter}, timeout=_OWN_EVENTS_TIMEOUT_S)
                if not done:
                    listener.forget(waiting or "")
                    log.warning(
                        "own event %s did not come back within %.0fs",
                        waiting,
                        _OWN_EVENTS_TIMEOUT_S,
                    )
            return value
        raise AssertionError("unreachable")

    async def _notify(self, conn: Conn, events: list[Event]) -> None:
        notes: list[str] = []
        stored: list[tuple[str, int, str]] = []
        for event in events:
            body = _event_json(event)
            if len(body) < NOTIFY_LIMIT:
                notes.append(body.decode())
            else:
                stored.append((event.id, _now_ms(), body.decode()))
                notes.append(orjson.dumps({"ref": event.id}).decode())
        if stored:
            await conn.execute(
                "INSERT INTO event_payload (id, time_created, data)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[])",
                ([s[0] for s in stored], [s[1] for s in stored], [s[2] for s in stored]),
            )
            self._schedule_prune()
        if len(notes) == 1:
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notes[0]))
        else:
            # unnest yields in array order, so the notifications queue in event order.
            await conn.execute(
                "SELECT pg_notify(%s, note) FROM unnest(%s::text[]) AS note", (CHANNEL, notes)
            )

    def _schedule_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_INTERVAL_S:
            return
        self._last_prune = now
        self._track(asyncio.ensure_future(self.prune_payloads(_now_ms() - PAYLOAD_RETENTION_MS)))

    async def prune_payloads(self, before_ms: int) -> int:
        """Delete stored payloads older than `before_ms`, a batch per statement; returns how many.

        Stops after PRUNE_ROUNDS batches, so one call does a bounded amount of work.
        """
        total = 0
        try:
            for _ in range(PRUNE_ROUNDS):
                async with self._conn() as conn:
                    cur = await conn.execute(
                        "DELETE FROM event_payload WHERE id IN (SELECT id FROM event_payload"
                        " WHERE time_created < %s ORDER BY time_created LIMIT %s)",
                        (before_ms, PRUNE_BATCH),
                    )
                total += cur.rowcount
                if cur.rowcount < PRUNE_BATCH:
                    break
        except psycopg.Error as exc:
            log.warning("pruning event payloads failed: %s", exc)
        return total

    # --- projects
    async def ensure_project(self, project: Json) -> Json:
        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            row = await _one(
                conn, "SELECT data FROM project WHERE id=%s FOR UPDATE", (project["id"],)
            )
            if row is not None:
                existing: Json = orjson.loads(row[0])
                if existing.get("worktree") == project["worktree"]:
                    return existing, []
                project["time"]["created"] = existing["time"]["created"]
            await conn.execute(
                "INSERT INTO project (id, worktree, time_created, time_updated, data)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
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
        rows = await self._read(
            _array("SELECT data, time_updated FROM project", "time_updated DESC")
        )
        return str(rows[0][0]).encode()

    # --- sessions
    async def create_session(self, info: Json) -> Json:
        data = orjson.dumps(info).decode()
        parent = info.get("parentID")

        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            if parent is not None:
                row = await _one(conn, "SELECT 1 FROM session WHERE id=%s FOR KEY SHARE", (parent,))
                if row is None:
                    raise _no_parent(parent)
            await conn.execute(_SESSION_INSERT, _session_args(info, data))
            return info, [_session_event("session.created", info)]

        return await self._write(write, _no_parent(parent))

    async def get_session(self, session_id: str) -> bytes | None:
        rows = await self._read("SELECT data FROM session WHERE id=%s", (session_id,))
        return str(rows[0][0]).encode() if rows else None

    async def list_sessions(self, query: SessionQuery) -> bytes:
        where, args = query.where("%s")
        sql = f"SELECT data, time_updated, id FROM session WHERE {where}"
        sql += f" ORDER BY {SESSION_ORDER} LIMIT %s"
        rows = await self._read(_array(sql, SESSION_ORDER), [*args, query.limit])
        return str(rows[0][0]).encode()

    async def list_children(self, session_id: str) -> bytes | None:
        # One statement, so existence and children come from one snapshot.
        rows = await self._read(
            "SELECT '[' || coalesce((SELECT string_agg(c.data, ','"
            " ORDER BY c.time_created ASC, c.id DESC) FROM session c"
            " WHERE c.parent_id = s.id), '') || ']' FROM session s WHERE s.id=%s",
            (session_id,),
        )
        return str(rows[0][0]).encode() if rows else None

    async def update_session(self, session_id: str, apply: Callable[[Json], Json]) -> Json:
        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            row = await _one(conn, "SELECT data FROM session WHERE id=%s FOR UPDATE", (session_id,))
            if row is None:
                raise NotFoundError.session(session_id)
            info = apply(orjson.loads(row[0]))
            await conn.execute(
                "UPDATE session SET title=%s, time_updated=%s, data=%s WHERE id=%s",
                (info["title"], info["time"]["updated"], orjson.dumps(info).decode(), session_id),
            )
            return info, [_session_event("session.updated", info)]

        return await self._write(write, NotFoundError.session(session_id))

    async def delete_session(self, session_id: str) -> list[Json]:
        async def write(conn: Conn) -> tuple[list[Json], list[Event]]:
            # The second of two concurrent deletes waits here, then finds no row: 404.
            row = await _one(conn, "SELECT 1 FROM session WHERE id=%s FOR UPDATE", (session_id,))
            if row is None:
                raise NotFoundError.session(session_id)
            locked = {session_id}
            # Lock the whole tree before reading it for the last time: a locked session can
            # get no new child, so the rows we report are exactly the rows the cascade removes.
            while True:
                rows = await _all(conn, _TREE, (session_id,))
                pending = [r[0] for r in rows if r[0] not in locked]
                if not pending:
                    break
                got = await _all(
                    conn, "SELECT id FROM session WHERE id = ANY(%s) FOR UPDATE", (pending,)
                )
                locked.update(r[0] for r in got)
            # Foreign keys cascade the rest: descendants, messages, parts and todos. The row
            # lock we hold means this deletes the root, so its answer is not waited for.
            await conn.execute("DELETE FROM session WHERE id=%s", (session_id,))
            removed: list[Json] = [orjson.loads(r[1]) for r in rows]
            return removed, [_session_event("session.deleted", info) for info in removed]

        return await self._write(write, NotFoundError.session(session_id))

    async def fork_session(
        self, session_id: str, until_message_id: str | None, make_info: Callable[[Json], Json]
    ) -> Json:
        from pyopencode import ids

        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            row = await _one(
                conn, "SELECT data FROM session WHERE id=%s FOR KEY SHARE", (session_id,)
            )
            if row is None:
                raise NotFoundError.session(session_id)
            info = make_info(orjson.loads(row[0]))
            await conn.execute(_SESSION_INSERT, _session_args(info, orjson.dumps(info).decode()))
            sql = "SELECT id, time_created, data FROM message WHERE session_id=%s"
            args: list[Any] = [session_id]
            if until_message_id is not None:
                sql += " AND id<%s"
                args.append(until_message_id)
            id_map: dict[str, str] = {}
            copied: list[Json] = []
            copied_parts: dict[str, list[Json]] = {}
            messages: list[tuple[str, str, int, str]] = []
            parts: list[tuple[str, str, str, str]] = []
            for old_id, created, data in await _all(conn, sql + " ORDER BY id", args):
                message = orjson.loads(data)
                new_id = ids.ascending("msg")
                id_map[old_id] = new_id
                message["id"] = new_id
                message["sessionID"] = info["id"]
                if message.get("parentID") in id_map:
                    message["parentID"] = id_map[message["parentID"]]
                messages.append((new_id, info["id"], created, orjson.dumps(message).decode()))
                copied.append(message)
            if id_map:
                for old_message, part_data in await _all(
                    conn,
                    "SELECT message_id, data FROM part WHERE message_id = ANY(%s)"
                    " ORDER BY message_id, id",
                    (list(id_map),),
                ):
                    part = orjson.loads(part_data)
                    part["id"] = ids.ascending("prt")
                    part["messageID"] = id_map[old_message]
                    part["sessionID"] = info["id"]
                    copied_parts.setdefault(part["messageID"], []).append(part)
                    parts.append(
                        (part["id"], part["messageID"], info["id"], orjson.dumps(part).decode())
                    )
            async with conn.cursor() as cur:
                if messages:
                    await cur.executemany(
                        "INSERT INTO message (id, session_id, time_created, data)"
                        " VALUES (%s, %s, %s, %s)",
                        messages,
                    )
                if parts:
                    await cur.executemany(
                        "INSERT INTO part (id, message_id, session_id, data)"
                        " VALUES (%s, %s, %s, %s)",
                        parts,
                    )
            place = (info["directory"], info["projectID"])
            events = [_session_event("session.created", info)]
            for message in copied:
                events.append(_message_event(message, place))
                events += [_part_event(p, place) for p in copied_parts.get(message["id"], [])]
            return info, events

        return await self._write(write, NotFoundError.session(session_id))

    # --- messages and parts
    async def list_messages(
        self, session_id: str, limit: int | None, before: str | None
    ) -> bytes | None:
        inner = "SELECT id, data FROM message WHERE session_id = s.id"
        args: list[Any] = []
        if before is not None:
            inner += " AND id<%s"
            args.append(before)
        if limit is not None:
            inner += " ORDER BY id DESC LIMIT %s"
            args.append(limit)
        args.append(session_id)
        # One statement, so the session, its messages and their parts are one snapshot.
        rows = await self._read(
            "SELECT m.id, m.data, (SELECT coalesce(string_agg(p.data, ',' ORDER BY p.id), '')"
            " FROM part p WHERE p.message_id = m.id)"
            f" FROM session s LEFT JOIN LATERAL ({inner}) m ON true"
            " WHERE s.id=%s ORDER BY m.id",
            args,
        )
        if not rows:
            return None
        return (
            b"["
            + b",".join(
                b'{"info":' + data.encode() + b',"parts":[' + parts.encode() + b"]}"
                for mid, data, parts in rows
                if mid is not None
            )
            + b"]"
        )

    async def get_message(self, session_id: str, message_id: str) -> bytes | None:
        rows = await self._read(
            "SELECT m.data, (SELECT coalesce(string_agg(p.data, ',' ORDER BY p.id), '')"
            " FROM part p WHERE p.message_id = m.id)"
            " FROM message m WHERE m.id=%s AND m.session_id=%s",
            (message_id, session_id),
        )
        if not rows:
            return None
        data, parts = rows[0]
        return b'{"info":' + data.encode() + b',"parts":[' + parts.encode() + b"]}"

    async def update_message(self, info: Json, parts: Sequence[Json] = ()) -> Json:
        data = orjson.dumps(info).decode()
        part_rows = [(p, orjson.dumps(p).decode()) for p in parts]

        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            place = await _session_row(conn, info["sessionID"])
            # The WHERE makes the ownership check and the write one atomic step.
            cur = await conn.execute(
                "INSERT INTO message (id, session_id, time_created, data) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET data=excluded.data"
                " WHERE message.session_id = excluded.session_id RETURNING 1",
                (info["id"], info["sessionID"], info["time"]["created"], data),
            )
            if await cur.fetchone() is None:
                raise BadRequestError("message belongs to another session", field="id")
            await _insert_parts(conn, part_rows)
            events = [_message_event(info, place)]
            events += [_part_event(part, place) for part, _ in part_rows]
            return info, events

        return await self._write(write, NotFoundError.session(info["sessionID"]))

    async def delete_message(self, session_id: str, message_id: str) -> None:
        async def write(conn: Conn) -> tuple[None, list[Event]]:
            directory, project = await _session_row(conn, session_id)
            cur = await conn.execute(
                "DELETE FROM message WHERE id=%s AND session_id=%s RETURNING 1",
                (message_id, session_id),
            )
            if await cur.fetchone() is None:
                raise NotFoundError(f"Message not found: {message_id}")
            event = Event(
                type="message.removed",
                properties={"sessionID": session_id, "messageID": message_id},
                directory=directory,
                project=project,
            )
            return None, [event]

        await self._write(write, NotFoundError.session(session_id))

    async def update_part(self, part: Json) -> Json:
        data = orjson.dumps(part).decode()

        async def write(conn: Conn) -> tuple[Json, list[Event]]:
            directory, project = await _session_row(conn, part["sessionID"])
            owner = await _one(
                conn,
                "SELECT session_id FROM message WHERE id=%s FOR KEY SHARE",
                (part["messageID"],),
            )
            if owner is None or owner[0] != part["sessionID"]:
                raise NotFoundError(f"Message not found: {part['messageID']}")
            await _insert_parts(conn, [(part, data)])
            return part, [_part_event(part, (directory, project))]

        return await self._write(write, NotFoundError(f"Message not found: {part['messageID']}"))

    async def delete_part(self, session_id: str, message_id: str, part_id: str) -> None:
        async def write(conn: Conn) -> tuple[None, list[Event]]:
            directory, project = await _session_row(conn, session_id)
            cur = await conn.execute(
                "DELETE FROM part WHERE id=%s AND message_id=%s AND session_id=%s RETURNING 1",
                (part_id, message_id, session_id),
            )
            if await cur.fetchone() is None:
                raise NotFoundError(f"Part not found: {part_id}")
            event = Event(
                type="message.part.removed",
                properties={"sessionID": session_id, "messageID": message_id, "partID": part_id},
                directory=directory,
                project=project,
            )
            return None, [event]

        await self._write(write, NotFoundError.session(session_id))

    # --- todos
    async def get_todos(self, session_id: str) -> bytes | None:
        rows = await self._read(
            "SELECT '[' || coalesce((SELECT string_agg(t.data, ',' ORDER BY t.position)"
            " FROM todo t WHERE t.session_id = s.id), '') || ']' FROM session s WHERE s.id=%s",
            (session_id,),
        )
        return str(rows[0][0]).encode() if rows else None

    async def set_todos(self, session_id: str, todos: list[Json]) -> None:
        async def write(conn: Conn) -> tuple[None, list[Event]]:
            directory, project = await _session_row(conn, session_id)
            await conn.execute("DELETE FROM todo WHERE session_id=%s", (session_id,))
            if todos:
                await conn.execute(
                    "INSERT INTO todo (session_id, position, data)"
                    " SELECT %s, n - 1, data FROM unnest(%s::text[]) WITH ORDINALITY AS t(data, n)",
                    (session_id, [orjson.dumps(t).decode() for t in todos]),
                )
            event = Event(
                type="todo.updated",
                properties={"sessionID": session_id, "todos": todos},
                directory=directory,
                project=project,
            )
            return None, [event]

        await self._write(write, NotFoundError.session(session_id))

    # --- ephemeral events
    async def broadcast(self, events: list[Event]) -> None:
        """NOTIFY every instance (this one through its own LISTEN), writing no rows but payloads."""
        if not events:
            return
        async with self._conn() as conn, conn.transaction():
            await self._notify(conn, events)
