"""Persistence: the only package that speaks SQL. `open_store` picks the engine from a URL."""

from __future__ import annotations

from pyopencode.bus import Bus
from pyopencode.store.base import Store, Tx
from pyopencode.store.rows import SessionQuery
from pyopencode.store.url import is_postgres_url, sqlite_path

__all__ = ["SessionQuery", "Store", "Tx", "open_store"]


async def open_store(url: str, bus: Bus) -> Store:
    """Open (and migrate) the store that `url` names.

    `postgresql://...` (or `postgres://...`) is a PostgreSQL database; `sqlite:PATH` or a bare
    path is a SQLite file.
    """
    store: Store
    if is_postgres_url(url):
        from pyopencode.store.postgres import PostgresStore

        store = PostgresStore(url, bus)
    else:
        from pyopencode.store.sqlite import SqliteStore

        store = SqliteStore(sqlite_path(url), bus)
    await store.start()
    return store
