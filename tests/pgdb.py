"""The PostgreSQL server tests make throwaway databases on; unreachable means skip (fail on CI)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

# The server to create throwaway databases on; any database on it works as the admin one.
ADMIN_URL = os.environ.get("PYOPENCODE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is unreachable at {ADMIN_URL}: {str(exc).strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run, not skip)")
        pytest.skip(reason)


def database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new, empty database, dropped afterwards."""
    name = f"pyopencode_test_{secrets.token_hex(6)}"
    with admin() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        with admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
