"""Shared fixtures: real server processes on throwaway data directories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# pytest-xdist: whole modules (or groups of them) per worker, slow ones first.
from tests.parallel import order_for_workers, pytest_xdist_make_scheduler  # noqa: F401
from tests.serverproc import RunningServer


@pytest.fixture(scope="session", autouse=True)
def scratch_xdg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every server a test starts reads and writes config, credentials and state in scratch
    XDG directories: a test can neither read the developer's own opencode.json or auth.json
    nor write into them. Tests that need their own set them on the server they start."""
    base = tmp_path_factory.mktemp("xdg")
    saved = {}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        key = f"XDG_{name}_HOME"
        saved[key] = os.environ.get(key)
        os.environ[key] = str(base / name.lower())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # only on xdist workers; a plain run keeps its order
        order_for_workers(items)
