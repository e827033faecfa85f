"""Child processes for the event loop: output, input, exit codes, priority, and no stray fds."""

from __future__ import annotations

import asyncio
import gc
import os
import socket

import pytest
import uvloop

from pyopencode import process

LOOPS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("run", LOOPS)
def test_output_input_and_exit_codes(run: object) -> None:
    async def main() -> None:
        child = await process.start("sh", "-c", "cat; echo err >&2; exit 3", input=b"x" * 300_000)
        out, err = await child.communicate()
        assert out == b"x" * 300_000 and err == b"err\n"
        assert child.returncode == 3 and await child.wait() == 3

        merged = await process.start_shell("echo a; echo b >&2", stderr=process.STDOUT)
        assert (await merged.communicate())[0].splitlines() == [b"a", b"b"]

        with pytest.raises(OSError):
            await process.start("/nonexistent/binary")

    run(main())  # type: ignore[operator]


@pytest.mark.parametrize("run", LOOPS)
def test_every_descriptor_is_closed_once(run: object) -> None:
    """Reading to the end, stopping early, and killing all release the pipes; a socket opened
    afterwards (which may reuse their numbers) is never closed by a child's clean-up."""

    async def main() -> None:
        before = _open_fds()
        for _ in range(50):
            child = await process.start("sh", "-c", "echo hi")
            assert await child.stdout.read() == b"hi\n"  # type: ignore[union-attr]
            await child.wait()
        # Stopped reading a large output early, then dropped.
        noisy = await process.start("sh", "-c", "yes | head -c 5000000")
        await noisy.stdout.readexactly(10)  # type: ignore[union-attr]
        noisy.kill()
        await noisy.wait()
        sleeper = await process.start("sleep", "30")
        sleeper.kill()
        assert await sleeper.wait() == -9
        del child, noisy, sleeper
        gc.collect()
        await asyncio.sleep(0.05)
        a, b = socket.socketpair()
        gc.collect()
        await asyncio.sleep(0.05)
        a.sendall(b"still open")
        assert b.recv(16) == b"still open"
        a.close()
        b.close()
        assert _open_fds() <= before

    run(main())  # type: ignore[operator]


def test_a_cancelled_wait_leaves_no_process() -> None:
    async def main() -> None:
        child = await process.start("sleep", "30")
        waiting = asyncio.ensure_future(child.wait())
        await asyncio.sleep(0.05)
        waiting.cancel()
        child.kill()
        assert await child.wait() == -9

    uvloop.run(main())


def test_a_nice_child_runs_below_the_server() -> None:
    def nice_of(pid: int) -> int:
        # Field 19 of /proc/<pid>/stat, counted after the ")" that ends the command name.
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[16])

    async def main() -> tuple[int, int]:
        # The priority is set once the child runs: read it from outside, while it sleeps.
        niced = await process.start("sleep", "5", nice=7)
        plain = await process.start("sleep", "5")
        found = nice_of(niced.pid), nice_of(plain.pid)
        for child in (niced, plain):
            child.kill()
            await child.wait()
        return found

    niced, plain = uvloop.run(main())
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert plain == own
    assert niced == max(7, own), (niced, own)
