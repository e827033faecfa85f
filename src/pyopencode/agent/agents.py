"""The built-in agents (build, plan, general) and how the `agent` config section changes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyopencode.errors import BadRequestError
from pyopencode.permission import Rule, from_config

Json = dict[str, Any]

# Everything is allowed except leaving the project, which asks (as upstream).
_BASE: Json = {"*": "allow", "external_directory": {"*": "ask"}}

_BUILTIN: dict[str, Json] = {
    "build": {
        "description": "The default agent. Executes tools based on configured permissions.",
        "mode": "primary",
        "permission": {},
    },
    "plan": {
        "description": "Plan mode. Disallows all edit tools; shell commands ask first.",
        "mode": "primary",
        "permission": {"edit": "deny", "bash": "ask"},
    },
    "general": {
        "description": "General-purpose agent for multi-step tasks, run as a sub-agent.",
        "mode": "subagent",
        "permission": {"todowrite": "deny", "todoread": "deny", "task": "deny"},
    },
}


@dataclass(frozen=True, slots=True)
class AgentInfo:
    name: str
    description: str
    mode: str
    native: bool
    permission: list[Rule]
    tools: dict[str, bool] = field(default_factory=dict)
    model: tuple[str, str] | None = None
    prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    steps: int | None = None
    hidden: bool = False

    def to_json(self) -> Json:
        out: Json = {
            "name": self.name,
            "description": self.description,
            "mode": self.mode,
            "native": self.native,
            "permission": self.permission,
            "options": {},
        }
        if self.hidden:
            out["hidden"] = True
        if self.model is not None:
            out["model"] = {"providerID": self.model[0], "modelID": self.model[1]}
        if self.prompt is not None:
            out["prompt"] = self.prompt
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.top_p is not None:
            out["topP"] = self.top_p
        if self.steps is not None:
            out["steps"] = self.steps
        return out


def _build(name: str, config: Json) -> AgentInfo | None:
    builtin = _BUILTIN.get(name, {})
    custom = (config.get("agent") or {}).get(name) or {}
    if not isinstance(custom, dict) or custom.get("disable"):
        return None
    if not builtin and not custom:
        return None
    rules = from_config(_BASE)
    rules += from_config(builtin.get("permission") or {})
    rules += from_config(config.get("permission") or {})
    # The legacy `tools: {"bash": false}` form denies a tool outright.
    tools = {**(config.get("tools") or {}), **(custom.get("tools") or {})}
    rules += [
        {"permission": _permission_of(t), "pattern": "*", "action": "deny"}
        for t, on in tools.items()
        if on is False
    ]
    rules += from_config(custom.get("permission") or {})
    model = custom.get("model")
    return AgentInfo(
        name=name,
        description=str(custom.get("description") or builtin.get("description") or ""),
        mode=str(custom.get("mode") or builtin.get("mode") or "all"),
        native=bool(builtin) and not custom,
        permission=rules,
        tools={k: bool(v) for k, v in tools.items()},
        model=tuple(model.split("/", 1)) if isinstance(model, str) and "/" in model else None,  # type: ignore[arg-type]
        prompt=custom.get("prompt"),
        temperature=custom.get("temperature"),
        top_p=custom.get("top_p"),
        steps=custom.get("steps") or custom.get("maxSteps"),
        hidden=bool(custom.get("hidden")),
    )


def _permission_of(tool: str) -> str:
    return "edit" if tool in ("write", "edit", "patch") else tool


def permission_of(tool: str) -> str:
    """The permission key a tool is governed by (write and edit share `edit`)."""
    return _permission_of(tool)


def list_agents(config: Json) -> list[AgentInfo]:
    names = list(_BUILTIN) + [n for n in (config.get("agent") or {}) if n not in _BUILTIN]
    return [a for a in (_build(n, config) for n in names) if a is not None]


def get_agent(config: Json, name: str) -> AgentInfo:
    agent = _build(name, config)
    if agent is None:
        raise BadRequestError(f"Agent not found: {name}", field="agent")
    return agent
