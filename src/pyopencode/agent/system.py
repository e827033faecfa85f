"""The system prompt an agent runs with: base prompt, environment, instructions and skills."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from pyopencode.agent.agents import AgentInfo
from pyopencode.config import instructions, skill
from pyopencode.config.markdown import one_look, worktree
from pyopencode.provider import ResolvedModel

Json = dict[str, Any]


@cache
def base_prompt(family: str) -> str:
    """Our own base prompt for a model family (`anthropic` or `default`)."""
    name = "anthropic.txt" if family == "anthropic" else "default.txt"
    return resources.files("pyopencode.agent.prompts").joinpath(name).read_text().strip()


def family(model: ResolvedModel | None) -> str:
    if model is None:
        return "default"
    if model.api == "anthropic" or "claude" in model.model_id.lower():
        return "anthropic"
    return "default"


def environment(directory: str, model: ResolvedModel | None) -> str:
    root = worktree(directory)
    is_git = (root / ".git").exists()
    lines = []
    if model is not None:
        lines.append(
            f"You are powered by the model {model.model_id} "
            f"(full id {model.provider_id}/{model.model_id})."
        )
    lines += [
        "What you know about the environment you are working in:",
        "<env>",
        f"  Working directory: {directory}",
        f"  Workspace root folder: {root if is_git else directory}",
        f"  Is directory a git repo: {'yes' if is_git else 'no'}",
        f"  Platform: {platform.system().lower()}",
        f"  Today's date: {datetime.now(UTC).strftime('%a %b %d %Y')}",
        "</env>",
    ]
    return "\n".join(lines)


def system_prompt(
    agent: AgentInfo,
    directory: str,
    extra: str | None,
    model: ResolvedModel | None,
    config: Json,
) -> str:
    """Reads the instruction and skill files afresh, so edits apply from the next step."""
    parts = [agent.prompt or base_prompt(family(model)), environment(directory, model)]
    parts += instructions.sections(directory, config)
    skills = skill.system_section(skill.list_skills(directory, config))
    if skills:
        parts.append(skills)
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


def prepare(
    agent: AgentInfo, directory: str, extra: str | None, model: ResolvedModel | None
) -> tuple[Json, str]:
    """A step's configuration and system prompt, read from disk in one look (see
    `config.markdown.one_look`), in one call: a step waits on one thread hop, not two."""
    from pyopencode.config import load

    with one_look():
        config = load(directory)
        return config, system_prompt(agent, directory, extra, model, config)


__all__ = ["base_prompt", "environment", "prepare", "system_prompt"]
