"""`/experimental/session` on PostgreSQL: the same filters and pages as on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.serverproc import RunningServer
from tests.surface.test_experimental_session import exercise


def test_experimental_session_list_on_postgres(
    server_factory: Callable[..., RunningServer], fresh_pg_url: str, tmp_path: Path
) -> None:
    server = server_factory(extra_args=["--database", fresh_pg_url])
    exercise(server, tmp_path)
