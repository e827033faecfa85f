"""The agent bench waits for the servers to go idle before each timed step."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from pyopencode.bench.agent import settle

# Bounded: it stops by itself even if the test does not kill it.
_BUSY = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"


def test_settle_returns_at_once_for_an_idle_process_and_waits_out_a_busy_one() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"])
    busy = subprocess.Popen([sys.executable, "-c", _BUSY])
    try:
        assert asyncio.run(settle([idle.pid], window_s=0.2, limit_s=2.0)) < 1.0
        waited = asyncio.run(settle([idle.pid, busy.pid], window_s=0.2, limit_s=1.0))
        assert waited >= 1.0, "a process using a whole core is not idle"
        busy.kill()
        busy.wait()
        assert asyncio.run(settle([idle.pid], window_s=0.2, limit_s=2.0)) < 1.0
    finally:
        for proc in (idle, busy):
            proc.kill()
            proc.wait()
