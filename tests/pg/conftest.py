"""PostgreSQL fixtures: a fresh database per test module; no server means skip (fail on CI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pgdb import throwaway_database
from tests.serverproc import RunningServer


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A new, empty database for this test module, dropped afterwards."""
    with throwaway_database() as url:
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty database for one test."""
    with throwaway_database() as url:
        yield url


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
