"""Brings a database to the newest schema with Alembic, so old data directories upgrade in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

HEAD = "0002"
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
