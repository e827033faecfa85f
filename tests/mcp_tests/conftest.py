"""MCP fixtures: the fixture server's command, a streamable-HTTP fixture on loopback, agents."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import openai_fake, start_agent  # noqa: F401

Json = dict[str, Any]
FIXTURE = str(Path(__file__).with_name("fixture_server.py"))


def local(*extra: str, **fields: Any) -> Json:
    # Importing the SDK alone can take seconds on a busy machine; upstream's 5 s is too tight.
    fields.setdefault("timeout", 60_000)
    return {"type": "local", "command": [sys.executable, FIXTURE, *extra], **fields}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pids(pidfile: Path) -> list[int]:
    return [int(line) for line in pidfile.read_text().split()] if pidfile.exists() else []


def wait_until(check: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} never held")


def _serve(flag: str) -> Iterator[str]:
    """Runs the fixture server with `flag` on a loopback port; yields its base URL."""
    proc = subprocess.Popen([sys.executable, FIXTURE, flag], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("port "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def http_mcp() -> Iterator[str]:
    """The fixture server over streamable HTTP on a loopback port; yields its /mcp URL."""
    for base in _serve("--http"):
        yield base + "/mcp"


@pytest.fixture
def sse_mcp() -> Iterator[str]:
    """The fixture server over the older SSE transport only; yields its /sse URL."""
    for base in _serve("--sse"):
        yield base + "/sse"


@pytest.fixture
def denying_mcp() -> Iterator[str]:
    """An endpoint that answers 401 to everything, as a server wanting OAuth does."""
    for base in _serve("--deny"):
        yield base + "/mcp"


@pytest.fixture
def oauth_mcp() -> Iterator[str]:
    """The fixture server behind the SDK's OAuth server, which approves every request."""
    for base in _serve("--oauth"):
        yield base + "/mcp"
