"""Which tools a model is offered: by agent permissions, model family and nesting depth."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from pyopencode.agent.agents import AgentInfo, permission_of
from pyopencode.tool.apply_patch import ApplyPatch
from pyopencode.tool.base import Tool
from pyopencode.tool.bash import Bash
from pyopencode.tool.edit import Edit
from pyopencode.tool.glob import Glob
from pyopencode.tool.grep import Grep
from pyopencode.tool.ls import List
from pyopencode.tool.question import Question
from pyopencode.tool.read import Read
from pyopencode.tool.skill import SkillTool
from pyopencode.tool.task import Task
from pyopencode.tool.todo import TodoRead, TodoWrite
from pyopencode.tool.validate import Validated
from pyopencode.tool.webfetch import WebFetch
from pyopencode.tool.write import Write

# Upstream's order, then the two it no longer offers (kept here for older clients' habits).
ALL: dict[str, Tool] = {
    t.name: Validated(t)
    for t in (
        Question(),
        Bash(),
        Read(),
        Glob(),
        Grep(),
        Edit(),
        Write(),
        Task(),
        WebFetch(),
        TodoWrite(),
        SkillTool(),
        ApplyPatch(),
        List(),
        TodoRead(),
    )
}


def uses_apply_patch(model_id: str) -> bool:
    """GPT-5-style models edit with patches; the others get `edit` and `write` (as upstream)."""
    m = model_id.lower()
    return "gpt-" in m and "gpt-4" not in m and "oss" not in m


def denied(agent: AgentInfo, name: str) -> bool:
    """Whether the agent's last rule about this tool's permission denies it outright."""
    permission = permission_of(name)
    last = None
    for rule in agent.permission:
        if fnmatch.fnmatchcase(permission, rule["permission"]):
            last = rule
    return last is not None and last["pattern"] == "*" and last["action"] == "deny"


def available(
    agent: AgentInfo,
    model_id: str,
    depth: int = 0,
    disabled: Iterable[str] = (),
    subagents: Iterable[AgentInfo] = (),
) -> list[Tool]:
    off = set(disabled) | {k for k, v in agent.tools.items() if v is False}
    off |= {"edit", "write"} if uses_apply_patch(model_id) else {"apply_patch"}
    if depth > 0:
        off.add("task")  # sub-agents do not start sub-agents
    out: list[Tool] = []
    for name, impl in ALL.items():
        if name in off or denied(agent, name):
            continue
        if name == "task":
            impl = Task([a for a in subagents if not a.hidden])
        out.append(impl)
    return out
