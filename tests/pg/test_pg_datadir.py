"""On PostgreSQL the data-directory lock does not apply: many servers share one database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.serverproc import RunningServer


def test_two_servers_with_one_data_dir_run_on_postgres(
    server_factory: Callable[..., RunningServer], pg_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-data"
    first = server_factory(data_dir=shared, extra_args=["--database", pg_url])
    second = server_factory(data_dir=shared, extra_args=["--database", pg_url])
    created = httpx.post(f"{first.url}/session", json={}).json()["id"]
    assert httpx.get(f"{second.url}/session/{created}").status_code == 200
    assert not (shared / "pyopencode.lock").exists()
