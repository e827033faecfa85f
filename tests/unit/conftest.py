"""Fixtures of the unit tests that run on both store engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgdb import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A new, empty store of each engine: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("store") / "db.sqlite")
    else:
        with throwaway_database() as url:
            yield url
