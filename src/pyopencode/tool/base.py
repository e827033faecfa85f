"""What every tool is: a name, a JSON schema for its input, and an async run."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyopencode.session.service import SessionService
from pyopencode.vocab import Json

# Caps what one tool call can hand back to the model and store in a part.
MAX_OUTPUT_BYTES = 50 * 1024


class ToolError(Exception):
    """The tool failed; the message becomes the tool part's error and goes back to the model."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    title: str
    output: str
    metadata: Json = field(default_factory=dict)
    attachments: list[Json] = field(default_factory=list)  # FileParts, e.g. an MCP tool's image
    # Absolute paths the tool wrote or deleted: each is announced as `file.edited`, as
    # upstream's editing tools do (a step's patch may also hold other sessions' changes).
    edited: tuple[str, ...] = ()


@dataclass
class ToolContext:
    directory: str
    session_id: str
    message_id: str
    call_id: str
    agent: str
    sessions: SessionService
    # ask(permission, patterns, metadata): returns when allowed, raises RejectedError if not.
    ask: Callable[[str, list[str], Json], Awaitable[None]]
    # run_subagent(description, prompt, agent, task_id to resume) -> (child id, final text).
    run_subagent: Callable[[str, str, str, str | None], Awaitable[tuple[str, str]]] | None = None


class Tool(abc.ABC):
    name: str
    description: str
    parameters: Json

    @abc.abstractmethod
    async def run(self, args: Json, ctx: ToolContext) -> ToolResult: ...

    def spec(self) -> Json:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


def truncate(text: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    head = data[:limit].decode(errors="ignore")
    return f"{head}\n\n... output truncated ({len(data) - limit} more bytes)"


def require(args: Json, key: str, kind: type = str) -> Any:
    value = args.get(key)
    if not isinstance(value, kind):
        raise ToolError(f"The `{key}` argument is required and must be a {kind.__name__}")
    return value
