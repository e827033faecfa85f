"""The agent bench waits for the servers to go idle before each timed step."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from pyopencode.bench.agent import settle

# Bounded: they stop by themselves even if the test does not kill them.
_BUSY = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"
_BURSTS = (
    "import time\nend = time.time() + 20\nwhile time.time() < end:\n"
    "    burst = time.time() + 0.3\n    while time.time() < burst: pass\n    time.sleep(0.6)"
)


def test_settle_returns_at_once_for_an_idle_process_and_waits_out_a_busy_one() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"])
    busy = subprocess.Popen([sys.executable, "-c", _BUSY])
    try:
        assert asyncio.run(settle([idle.pid], hold_s=0.4, window_s=0.2, limit_s=2.0)) < 1.0
        waited = asyncio.run(settle([idle.pid, busy.pid], hold_s=0.4, window_s=0.2, limit_s=1.0))
        assert waited >= 1.0, "a process using a whole core is not idle"
        busy.kill()
        busy.wait()
        assert asyncio.run(settle([idle.pid], hold_s=0.4, window_s=0.2, limit_s=2.0)) < 1.0
    finally:
        for proc in (idle, busy):
            proc.kill()
            proc.wait()


def test_a_process_busy_in_bursts_is_not_idle_in_the_gaps_between_them() -> None:
    bursty = subprocess.Popen([sys.executable, "-c", _BURSTS])
    try:
        waited = asyncio.run(settle([bursty.pid], hold_s=1.2, window_s=0.2, limit_s=2.4))
        assert waited >= 2.4, "quiet for a window between bursts is not quiet for 1.2 s"
        assert asyncio.run(settle([bursty.pid], hold_s=0.2, window_s=0.2, limit_s=2.4)) < 2.0
    finally:
        bursty.kill()
        bursty.wait()
