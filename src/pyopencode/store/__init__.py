"""Persistence: the only package that speaks SQL. `open_store` picks the engine from a URL."""

from __future__ import annotations

from pathlib import Path

from pyopencode.bus import Bus
from pyopencode.store.base import SessionQuery, Store

__all__ = ["SessionQuery", "Store", "open_store"]


async def open_store(url: str, bus: Bus) -> Store:
    """Open (and migrate) the store that `url` names.

    `postgresql://...` (or `postgres://...`) is a PostgreSQL database; `sqlite:PATH` or a bare
    path is a SQLite file.
    """
    store: Store
    if url.partition("://")[0] in ("postgresql", "postgres", "postgresql+psycopg"):
        from pyopencode.store.postgres import PostgresStore

        store = PostgresStore(url, bus)
    else:
        if url.startswith("sqlite:"):
            url = url.removeprefix("sqlite:").removeprefix("///")
        from pyopencode.store.sqlite import SqliteStore

        store = SqliteStore(Path(url), bus)
    await store.start()
    return store
