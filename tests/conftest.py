"""Shared fixtures: real server processes on throwaway data directories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.serverproc import RunningServer


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start any number of servers; all are stopped at the end of the test."""
    started: list[RunningServer] = []

    def start(
        data_dir: Path | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> RunningServer:
        index = len(started)
        workdir = tmp_path / f"work{index}"
        workdir.mkdir(exist_ok=True)
        server = RunningServer(
            data_dir=data_dir or tmp_path / f"data{index}",
            cwd=workdir,
            extra_args=extra_args or [],
            env=env or {},
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """One fresh server on an empty data directory."""
    return server_factory()


# The official JS SDK, installed once per run for every test that drives it.
from tests.jssdk import js_sdk  # noqa: E402,F401
