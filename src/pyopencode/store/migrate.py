"""Alembic schema upgrades, so an older database of either engine upgrades in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pyopencode.store.url import libpq_url, sqlalchemy_url

HEAD = "0003"
_MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(sqlalchemy_url: str) -> None:
    """Run every pending migration against the database at `sqlalchemy_url`."""
    # Imported lazily: alembic and SQLAlchemy cost ~0.3 s of start-up that an up-to-date
    # database never needs.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url)
    command.upgrade(config, "head")


def sqlite_revision(path: Path) -> str | None:
    """The Alembic revision stamped in a SQLite file, or None for a new or unstamped one."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchone()
        if row is None:
            return None
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if version is None else str(version[0])
    finally:
        conn.close()


def upgrade_sqlite(path: Path) -> None:
    if sqlite_revision(path) != HEAD:
        upgrade(f"sqlite:///{path}")


# Any constant works as long as every instance uses the same one.
_MIGRATION_LOCK = 0x70796F63


def postgres_revision(conn: Any) -> str | None:
    """The Alembic revision of the database behind a psycopg connection, or None."""
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if version is None else str(version[0])


def upgrade_postgres(url: str) -> None:
    """Migrate to the newest schema; instances that start together take turns on a lock."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            if postgres_revision(conn) != HEAD:
                upgrade(sqlalchemy_url(url))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
