"""The spawner helper process: commands run there answer as they would run here."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from pyopencode import spawner
from pyopencode.file.git import CommandTimeout, git, run


def test_commands_answer_as_when_spawned_here(tmp_path: os.PathLike[str]) -> None:
    async def main() -> None:
        helper = spawner.Spawner()
        try:
            script = "import sys; data = sys.stdin.buffer.read(); " + (
                "sys.stdout.buffer.write(data[::-1] * 3000); "
                "sys.stderr.write('warned'); sys.exit(3)"
            )
            argv = [sys.executable, "-c", script]
            here = await run(argv, stdin=b"abc\x00\xff", timeout=30)
            there = await helper.run(argv, stdin=b"abc\x00\xff", timeout=30)
            assert there == here
            assert there.code == 3 and there.stdout == b"\xff\x00cba" * 3000
            assert there.stderr == b"warned"
            # Many at once, each answer to its own request, including ones larger than a
            # pipe's buffer.
            sizes = [0, 1, 70_000, 5, 300_000, 2] * 4
            answers = await asyncio.gather(
                *(
                    helper.run(
                        [sys.executable, "-c", f"print('x' * {n}, end='')"],
                        cwd=str(tmp_path),
                        timeout=30,
                    )
                    for n in sizes
                )
            )
            assert [len(a.stdout) for a in answers] == sizes
            # Environment overrides and the working directory reach the command.
            env = await helper.run(
                [sys.executable, "-c", "import os; print(os.environ['PYO_T'], os.getcwd())"],
                cwd=str(tmp_path),
                env={"PYO_T": "seen"},
                timeout=30,
            )
            assert env.text().split() == ["seen", os.path.realpath(tmp_path)]
            # git through the helper, as the snapshots call it.
            version = await git("--version", cwd=str(tmp_path), runner=helper)
            assert version.ok and version.text().startswith("git version")
            missing = await helper.run(["no-such-command-here"], timeout=30)
            assert missing.code == 127
        finally:
            helper.close()

    asyncio.run(main())


def test_a_command_past_its_time_is_killed() -> None:
    async def main() -> None:
        helper = spawner.Spawner()
        try:
            with pytest.raises(CommandTimeout):
                await helper.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
            # The helper goes on serving.
            assert (await helper.run(["true"], timeout=30)).ok
        finally:
            helper.close()

    asyncio.run(main())


def _helper_pid(helper: spawner.Spawner) -> int:
    child = helper._child
    assert child is not None
    return child.pid


def test_a_helper_that_dies_fails_what_it_held_and_a_new_one_serves_the_next() -> None:
    async def main() -> None:
        helper = spawner.Spawner()
        try:
            assert (await helper.run(["true"], timeout=30)).ok
            first = _helper_pid(helper)
            held = asyncio.ensure_future(helper.run(["sleep", "20"], timeout=30))
            await asyncio.sleep(0.3)
            os.kill(first, signal.SIGKILL)
            with pytest.raises(spawner.SpawnerGone):
                await asyncio.wait_for(held, 10)
            again = await helper.run(["echo", "back"], timeout=30)
            assert again.text() == "back\n"
            assert _helper_pid(helper) != first
        finally:
            helper.close()

    asyncio.run(main())


def test_a_closed_helper_exits() -> None:
    async def main() -> int:
        helper = spawner.Spawner()
        assert (await helper.run(["true"], timeout=30)).ok
        pid = _helper_pid(helper)
        helper.close()
        return pid

    pid = asyncio.run(main())
    for _ in range(100):
        try:
            # Reaped (no such process) or a zombie on its way out both mean it ended.
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"the helper {pid} still runs after close()")
