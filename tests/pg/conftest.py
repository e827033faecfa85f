"""PostgreSQL fixtures: a fresh database per test module; no server means skip (fail on CI)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.serverproc import RunningServer

# The server to create throwaway databases on; any database on it works as the admin one.
ADMIN_URL = os.environ.get("PYOPENCODE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
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


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A new, empty database for this test module, dropped afterwards."""
    name = f"pyopencode_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty database for one test."""
    name = f"pyopencode_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """One directory every instance is asked about, so they all see the same project."""
    path = tmp_path / "project"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def instances(
    server_factory: Callable[..., RunningServer], pg_url: str
) -> Callable[[int], list[RunningServer]]:
    """Start `n` server processes on this module's database."""

    def start(n: int) -> list[RunningServer]:
        return [server_factory(extra_args=["--database", pg_url]) for _ in range(n)]

    return start
