"""PostgreSQL engine: one transaction per write, events crossing instances through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pyopencode.bus import Bus, Event
from pyopencode.errors import (
    BadRequestError,
    NotFoundError,
    OpencodeError,
    StorageFullError,
    StorageUnavailableError,
)
from pyopencode.store.base import Deadlines, ReadFn, Row, Store, Tx, WriteFn
from pyopencode.store.migrate import upgrade_postgres
from pyopencode.store.url import libpq_url
from pyopencode.vocab import now_ms

if TYPE_CHECKING:
    from psycopg.abc import Buffer

log = logging.getLogger("pyopencode.store")

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

CHANNEL = "pyopencode_events"
# NOTIFY refuses payloads of 8000 bytes or more; larger events travel by reference.
NOTIFY_LIMIT = 8000
# Listeners read a referenced payload within milliseconds; ten minutes covers a stalled one.
PAYLOAD_RETENTION_MS = 10 * 60 * 1000
PRUNE_INTERVAL_S = 30.0
PRUNE_BATCH = 1000
PRUNE_ROUNDS = 20
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


@lru_cache(maxsize=1024)
def _dialect(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgTx(Tx):
    FOR_KEY_SHARE = " FOR KEY SHARE"
    FOR_UPDATE = " FOR UPDATE"
    __slots__ = ("conn",)

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def joined(self, value: str, source: str, order: str) -> str:
        return f"coalesce((SELECT string_agg({value}, ',' ORDER BY {order}) {source}), '')"

    async def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        cur = await self.conn.execute(_dialect(sql), args)
        row: Row | None = await cur.fetchone()
        return row

    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        cur = await self.conn.execute(_dialect(sql), args)
        rows: list[Row] = await cur.fetchall()
        return rows

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(_dialect(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.conn.cursor() as cur:
            await cur.executemany(_dialect(sql), rows)


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
                    row = await PgTx(conn).one("SELECT data FROM event_payload WHERE id=?", (ref,))
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
        self._deadlines = Deadlines()
        self.url = url
        self._conninfo = libpq_url(url)
        self._bus = bus
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._listener: _Listener | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._last_prune = 0.0

    async def start(self) -> None:
        await asyncio.to_thread(upgrade_postgres, self.url)
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

    async def read(self, fn: ReadFn[T]) -> T:
        """One repeatable-read snapshot; retried once on a connection that turned out broken."""
        for attempt in (1, 2):
            used: Conn | None = None
            try:
                async with self._conn() as conn:
                    used = conn
                    # Pipelined, so BEGIN and COMMIT share round trips with the statements.
                    async with conn.pipeline():
                        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        try:
                            result = await fn(PgTx(conn))
                        except BaseException:
                            with contextlib.suppress(psycopg.Error):
                                await conn.execute("ROLLBACK")
                            raise
                        await conn.execute("COMMIT")
                    return result
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

    async def write(
        self, fn: WriteFn[T], missing: OpencodeError | None = None, *, frees: bool = False
    ) -> T:
        # Shielded: a client that disconnects must not cancel a write already under way.
        task = asyncio.ensure_future(self._run_write(fn, missing))
        self._track(task)
        try:
            result = await self._deadlines.answer(asyncio.shield(task), self.write_timeout)
        except StorageFullError:
            self._health = "full"
            raise
        except StorageUnavailableError:
            self._health = "unavailable"
            raise
        self._health = "ok"
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
                        value, events = await fn(PgTx(conn))
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
                if isinstance(exc, pg_errors.DiskFull):
                    raise StorageFullError(
                        "storage full: the database server's disk has no space left;"
                        " nothing was written."
                    ) from exc
                if isinstance(exc, PoolTimeout):
                    raise StorageUnavailableError(
                        "storage unavailable: no database connection became free in time;"
                        " nothing was written. Try again.",
                        retry_after=1,
                    ) from exc
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
                stored.append((event.id, now_ms(), body.decode()))
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
        self._track(asyncio.ensure_future(self.prune_payloads(now_ms() - PAYLOAD_RETENTION_MS)))

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

    # --- ephemeral events
    async def broadcast(self, events: list[Event]) -> None:
        """NOTIFY every instance (this one through its own LISTEN), writing no rows but payloads."""
        if not events:
            return
        async with self._conn() as conn, conn.transaction():
            await self._notify(conn, events)
