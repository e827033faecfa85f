"""A real git repository in a temp directory, and a client for a server working on it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serverproc import RunningServer


def sh(cwd: Path, *argv: str) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout


def make_repo(root: Path) -> Path:
    """A committed tree, then one modified, one untracked and one deleted file."""
    root.mkdir(parents=True, exist_ok=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.email", "t@example.com")
    sh(root, "git", "config", "user.name", "t")
    sh(root, "git", "config", "commit.gpgsign", "false")
    (root / "a.txt").write_text("hello\nworld\n")
    (root / "src" / "sub").mkdir(parents=True)
    (root / "src" / "main.py").write_text("def foo():\n    return 1\n")
    (root / "src" / "sub" / "deep.txt").write_text("x\n")
    (root / ".gitignore").write_text("ignored.log\nbuild/\n")
    (root / "ignored.log").write_text("secret needle in ignored\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("needle in build\n")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "init")
    (root / "a.txt").write_text("hello\nthere\nworld\n")
    (root / "new.txt").write_text("new needle\n")
    (root / "src" / "sub" / "deep.txt").unlink()
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for a module: each test names its own repository as the directory."""
    root = tmp_path_factory.mktemp("server")
    (root / "cwd").mkdir()
    server = RunningServer(data_dir=root / "data", cwd=root / "cwd").start()
    yield server
    server.stop()


@pytest.fixture
def api(shared_server: RunningServer, repo: Path) -> Iterator[httpx.Client]:
    """A client whose every request names the repo as its directory."""
    with httpx.Client(
        base_url=shared_server.url, params={"directory": str(repo)}, timeout=30
    ) as client:
        yield client
