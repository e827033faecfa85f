"""The built-in agents (build, plan, general) and how the `agent` config section changes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyopencode.errors import BadRequestError
from pyopencode.permission import Rule, from_config

Json = dict[str, Any]

# Upstream's defaults: everything allowed, except leaving the project, repeating the same tool
# call (doom_loop) and reading env files, which ask; questions only where an agent allows them.
_BASE: Json = {
    "*": "allow",
    "doom_loop": "ask",
    "external_directory": {"*": "ask"},
    "question": "deny",
    "read": {"*": "allow", "*.env": "ask", "*.env.*": "ask", "*.env.example": "allow"},
}

_EXPLORE_PROMPT = """\
You search codebases and report what you find; you never change anything.

- Start broad: `glob` for file names and `grep` for contents, then `read` the files that matter.
- Run several searches at once when they do not depend on each other.
- Use `bash` only for read-only commands such as `git log`, `git show` or `ls`.
- Match the thoroughness you were asked for: a quick look, a medium pass, or a very thorough \
search across naming variants and locations.
- Answer with absolute file paths and line numbers, quoting the few lines that prove a point.
- Do not create, edit or delete files."""

_TITLE_PROMPT = """\
You name conversations. Reply with a title and nothing else.

Rules:
- one line, at most 50 characters, no quotes and no trailing punctuation;
- name the subject the user is working on, using their key terms (file names, errors, tools);
- write it the way the user would search for it later, e.g. "Fix flaky login test" or \
"Add CSV export to reports";
- never answer the message, explain, or mention that you are writing a title;
- for a greeting or a message with no clear subject, reply with a short neutral title such as \
"Greeting"."""

_SUMMARY_PROMPT = """\
Describe what was changed in this conversation, the way a pull request description would.

- Two or three sentences, in the first person ("I added ...").
- Name the files and behaviours that changed, not the steps taken to change them.
- Do not mention tests, builds or checks that were run.
- Do not repeat the user's request."""

_COMPACTION_PROMPT = """\
You write the summary that replaces a long conversation, so that another coding agent can \
continue the work without the original messages.

Write these sections, each short and concrete:
1. Goal: what the user wants, with any constraints they set.
2. Done so far: what was found and what was changed, with file paths.
3. Current state: what works, what fails, the last error messages verbatim.
4. Next steps: what remains, in order.
5. Key facts: commands, names, decisions and preferences the next agent must keep.

Do not call tools. Do not invent progress that did not happen."""

_BUILTIN: dict[str, Json] = {
    "build": {
        "description": "The default agent. Executes tools based on configured permissions.",
        "mode": "primary",
        "permission": {"question": "allow"},
    },
    "plan": {
        "description": "Plan mode. Disallows all edit tools.",
        "mode": "primary",
        "permission": {"question": "allow", "edit": {"*": "deny", ".opencode/plans/*.md": "allow"}},
    },
    "general": {
        "description": (
            "General-purpose agent for researching complex questions and executing multi-step "
            "tasks. Use this agent to execute multiple units of work in parallel."
        ),
        "mode": "subagent",
        "permission": {"todowrite": "deny", "todoread": "deny"},
    },
    "explore": {
        "description": (
            "Fast agent specialized for exploring codebases. Use this when you need to quickly "
            'find files by patterns (eg. "src/components/**/*.tsx"), search code for keywords '
            '(eg. "API endpoints"), or answer questions about the codebase (eg. "how do API '
            'endpoints work?"). When calling this agent, specify the desired thoroughness level: '
            '"quick" for basic searches, "medium" for moderate exploration, or "very thorough" '
            "for comprehensive analysis across multiple locations and naming conventions."
        ),
        "mode": "subagent",
        "prompt": _EXPLORE_PROMPT,
        "permission": {
            "*": "deny",
            "grep": "allow",
            "glob": "allow",
            "list": "allow",
            "bash": "allow",
            "webfetch": "allow",
            "websearch": "allow",
            "read": "allow",
            "external_directory": {"*": "ask"},
        },
    },
    "compaction": {
        "mode": "primary",
        "hidden": True,
        "prompt": _COMPACTION_PROMPT,
        "permission": {"*": "deny"},
    },
    "summary": {
        "mode": "primary",
        "hidden": True,
        "prompt": _SUMMARY_PROMPT,
        "permission": {"*": "deny"},
    },
    "title": {
        "mode": "primary",
        "hidden": True,
        "prompt": _TITLE_PROMPT,
        "temperature": 0.5,
        "permission": {"*": "deny"},
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
            "mode": self.mode,
            "native": self.native,
            "permission": self.permission,
            "options": {},
        }
        if self.description:
            out["description"] = self.description
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
        prompt=custom.get("prompt") or builtin.get("prompt"),
        temperature=custom.get("temperature", builtin.get("temperature")),
        top_p=custom.get("top_p"),
        steps=custom.get("steps") or custom.get("maxSteps"),
        hidden=bool(custom.get("hidden", builtin.get("hidden"))),
    )


def _permission_of(tool: str) -> str:
    return "edit" if tool in ("write", "edit", "patch", "apply_patch", "multiedit") else tool


def permission_of(tool: str) -> str:
    """The permission key a tool is governed by (write and edit share `edit`)."""
    return _permission_of(tool)


def list_agents(config: Json) -> list[AgentInfo]:
    names = sorted({*_BUILTIN, *(config.get("agent") or {})})
    return [a for a in (_build(n, config) for n in names) if a is not None]


def get_agent(config: Json, name: str) -> AgentInfo:
    agent = _build(name, config)
    if agent is None:
        raise BadRequestError(f"Agent not found: {name}", field="agent")
    return agent
