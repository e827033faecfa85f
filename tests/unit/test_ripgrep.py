"""ripgrep runs in a subprocess that a time limit or a cancel (abort) kills at once."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pyopencode.tool import ripgrep
from pyopencode.tool.base import ToolError


def _rg_children() -> list[int]:
    """PIDs of live `rg` processes started by this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        # Started in its own session, so match on the parent chain's first link: us.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and cmd.endswith(b"rg"):
            found.append(int(entry.name))
    return found


def test_binary_comes_from_the_package() -> None:
    assert Path(ripgrep.binary()).name == "rg"


def test_a_search_that_hangs_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # reading a FIFO nobody writes blocks forever

    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(ToolError, match="longer than"):
            await ripgrep.run(["-e", "x", "--", "fifo"], tmp_path, 10, timeout=0.5)
        assert time.monotonic() - started < 5
        assert _rg_children() == []

    asyncio.run(main())


def test_cancelling_a_search_kills_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")

    async def main() -> None:
        task = asyncio.ensure_future(ripgrep.run(["-e", "x", "--", "fifo"], tmp_path, 10))
        await asyncio.sleep(0.3)
        assert len(_rg_children()) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _rg_children() == []

    asyncio.run(main())
