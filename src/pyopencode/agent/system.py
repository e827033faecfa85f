"""The system prompt an agent runs with."""

from __future__ import annotations

import platform
from datetime import UTC, datetime

from pyopencode.agent.agents import AgentInfo

_DEFAULT = (
    "You are opencode, an interactive coding agent. Use the tools available to you to help "
    "the user with software engineering tasks. Be concise. Prefer editing existing files. "
    "Read a file before you edit it."
)


def system_prompt(agent: AgentInfo, directory: str, extra: str | None) -> str:
    env = (
        f"<env>\nWorking directory: {directory}\nPlatform: {platform.system().lower()}\n"
        f"Today's date: {datetime.now(UTC).date().isoformat()}\n</env>"
    )
    parts = [agent.prompt or _DEFAULT, env]
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)
