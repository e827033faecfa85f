"""Tools, config and permission rules, exercised in-process on real files and a real store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from pyopencode import config, ids, tool
from pyopencode.bus import Bus
from pyopencode.permission import DeniedError, Permissions, RejectedError, evaluate, from_config
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store import open_store

Json = dict[str, Any]


def _run(coro_fn: Callable[[SessionService, Bus], Awaitable[None]], tmp_path: Path) -> None:
    async def main() -> None:
        bus = Bus()
        store = await open_store(f"sqlite:{tmp_path / 'db.sqlite'}", bus)
        try:
            await coro_fn(SessionService(store), bus)
        finally:
            await store.close()

    asyncio.run(main())


def _ctx(
    store: SessionService, directory: Path, session_id: str, asked: list[tuple[str, list[str]]]
) -> Any:
    async def ask(permission: str, patterns: list[str], _meta: Json) -> None:
        asked.append((permission, patterns))
        if permission == "external_directory":
            raise RejectedError("outside the project")

    return tool.ToolContext(
        directory=str(directory),
        session_id=session_id,
        message_id=ids.ascending("msg"),
        call_id="call_1",
        agent="build",
        sessions=store,
        ask=ask,
    )


async def _session(store: SessionService, directory: Path) -> str:
    instance = Instance(str(directory), "global", "/", None)
    await store.ensure_project(instance.project_json())
    info = await store.create(instance, {})
    return str(info["id"])


def test_file_tools_stay_inside_the_project(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (tmp_path / "secret.txt").write_text("secret")

    async def scenario(store: SessionService, _bus: Bus) -> None:
        asked: list[tuple[str, list[str]]] = []
        ctx = _ctx(store, project, await _session(store, project), asked)
        await tool.ALL["write"].run({"filePath": "a/b.txt", "content": "one two two\n"}, ctx)
        await tool.ALL["edit"].run(
            {"filePath": "a/b.txt", "oldString": "one", "newString": "three"}, ctx
        )
        with pytest.raises(tool.ToolError, match="matches 2 times"):
            await tool.ALL["edit"].run(
                {"filePath": "a/b.txt", "oldString": "two", "newString": "x"}, ctx
            )
        read = await tool.ALL["read"].run({"filePath": "a/b.txt"}, ctx)
        assert "00001| three two two" in read.output
        assert "b.txt" in (await tool.ALL["glob"].run({"pattern": "**/*.txt"}, ctx)).output
        found = await tool.ALL["grep"].run({"pattern": "thr+ee"}, ctx)
        assert "b.txt:1: three two two" in found.output
        assert (await tool.ALL["list"].run({}, ctx)).output == "a/"
        for escape in ("../secret.txt", str(tmp_path / "secret.txt")):
            with pytest.raises(RejectedError):
                await tool.ALL["read"].run({"filePath": escape}, ctx)
        (project / "link").symlink_to(tmp_path / "secret.txt")
        with pytest.raises(RejectedError):
            await tool.ALL["read"].run({"filePath": "link"}, ctx)
        assert ("edit", [str(project / "a" / "b.txt")]) in asked

    _run(scenario, tmp_path)


def test_bash_timeout_and_output_cap(tmp_path: Path) -> None:
    async def scenario(store: SessionService, _bus: Bus) -> None:
        ctx = _ctx(store, tmp_path, await _session(store, tmp_path), [])
        started = time.monotonic()
        slow = await tool.ALL["bash"].run({"command": "echo start; sleep 30", "timeout": 500}, ctx)
        assert time.monotonic() - started < 5
        assert "start" in slow.output and "timed out" in slow.output
        big = await tool.ALL["bash"].run({"command": "head -c 500000 /dev/zero | tr '\\0' a"}, ctx)
        assert len(big.output) < tool.base.MAX_OUTPUT_BYTES + 500
        assert "truncated" in big.output and "500000 bytes" in big.output
        failed = await tool.ALL["bash"].run({"command": "exit 3"}, ctx)
        assert failed.metadata["exit"] == 3

    _run(scenario, tmp_path)


def test_todowrite_stores_and_announces(tmp_path: Path) -> None:
    async def scenario(store: SessionService, bus: Bus) -> None:
        seen: list[str] = []
        bus.listen(lambda e: seen.append(e.type))
        sid = await _session(store, tmp_path)
        ctx = _ctx(store, tmp_path, sid, [])
        todos = [{"content": "write tests", "status": "in_progress", "priority": "high"}]
        result = await tool.ALL["todowrite"].run({"todos": todos}, ctx)
        assert result.title == "1 todos"
        assert orjson.loads(await store.todos_raw(sid)) == todos
        assert "todo.updated" in seen
        assert "write tests" in (await tool.ALL["todoread"].run({}, ctx)).output

    _run(scenario, tmp_path)


def test_config_files_merge_and_substitute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "opencode").mkdir(parents=True)
    (home / "opencode" / "opencode.jsonc").write_text(
        '// global\n{"model": "a/one", "provider": {"a": {"options": {"apiKey": "{env:KEY_X}"},'
        ' "models": {"one": {}},}}, /* trailing */}'
    )
    project = tmp_path / "project"
    (project / ".opencode").mkdir(parents=True)
    (tmp_path / "prompt.txt").write_text('say "hi"\n')
    (project / "opencode.json").write_text(
        '{"agent": {"review": {"prompt": "{file:../prompt.txt}"}}}'
    )
    (project / ".opencode" / "opencode.json").write_text('{"model": "a/two"}')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("KEY_X", "sk-123")
    monkeypatch.delenv("OPENCODE_CONFIG", raising=False)
    cfg = config.load(str(project))
    assert cfg["model"] == "a/two"
    assert cfg["provider"]["a"]["options"]["apiKey"] == "sk-123"
    assert cfg["agent"]["review"]["prompt"] == 'say "hi"'


def test_permission_rules_last_match_wins() -> None:
    rules = from_config({"*": "allow", "bash": {"*": "ask", "git *": "allow", "rm *": "deny"}})
    assert evaluate(rules, "read", "x") == "allow"
    assert evaluate(rules, "bash", "ls") == "ask"
    assert evaluate(rules, "bash", "git status") == "allow"
    assert evaluate(rules, "bash", "rm -rf /") == "deny"

    async def scenario() -> None:
        events: list[tuple[str, str, Json]] = []
        perms = Permissions(lambda sid, kind, props: events.append((sid, kind, props)))
        with pytest.raises(DeniedError):
            await perms.ask(rules, "ses_x", "bash", ["rm -rf /"], {})
        await perms.ask(rules, "ses_x", "bash", ["git log"], {})
        waiting = asyncio.create_task(perms.ask(rules, "ses_x", "bash", ["ls"], {}))
        await asyncio.sleep(0)
        [request] = perms.requests()
        perms.reply(request["id"], "always")
        await waiting
        await perms.ask(rules, "ses_x", "bash", ["ls"], {})  # remembered: no new question
        assert [kind for _, kind, _ in events] == ["permission.asked", "permission.replied"]

    asyncio.run(scenario())
