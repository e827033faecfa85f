"""Which engine a database URL names, and that URL spelled for libpq and for SQLAlchemy."""

from __future__ import annotations

from pathlib import Path

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_postgres_url(url: str) -> bool:
    return url.partition("://")[0] in SCHEMES


def libpq_url(url: str) -> str:
    """`postgres://` and `postgresql+psycopg://` spelled the way libpq accepts them."""
    return "postgresql://" + url.partition("://")[2]


def sqlalchemy_url(url: str) -> str:
    """The same database for SQLAlchemy (Alembic), on the psycopg 3 driver we use at runtime."""
    return "postgresql+psycopg://" + url.partition("://")[2]


def sqlite_path(url: str) -> Path:
    """The file that `sqlite:PATH`, `sqlite:///PATH` or a bare path names."""
    if url.startswith("sqlite:"):
        url = url.removeprefix("sqlite:").removeprefix("///")
    return Path(url)
