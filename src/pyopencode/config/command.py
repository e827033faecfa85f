"""Slash commands: built-ins, config `command` entries and markdown files, and their expansion."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyopencode import process
from pyopencode.config.markdown import config_dirs, documents

Json = dict[str, Any]

SHELL_TIMEOUT_SECONDS = 30.0
MAX_SHELL_OUTPUT = 64 * 1024

_INIT = """\
Write or update `AGENTS.md` at the root of this repository: a short file of instructions \
that a coding agent would otherwise get wrong here.

What the user asked to focus on (may be empty):
$ARGUMENTS

Work this way:
1. Read what already documents the project: README files, manifests (pyproject.toml, \
package.json, Cargo.toml, go.mod ...), lockfiles, CI workflows, lint, format and type-check \
configuration, and any existing AGENTS.md, CLAUDE.md, .cursorrules or \
.github/copilot-instructions.md.
2. Where the layout is still unclear, open a few entry points to see how the parts connect.
3. Trust what runs (scripts, config, CI) over prose when the two disagree.

Keep only facts an agent needs and could not guess:
- the exact commands to build, lint, type-check and test, and how to run a single test;
- the order those checks must run in, when it matters;
- package boundaries, generated code, migrations, environment setup and other traps;
- conventions that differ from the language's usual defaults.

Leave out generic advice, anything obvious from the file names, and long explanations. \
If AGENTS.md exists, improve it in place rather than starting over. Ask the user (with the \
`question` tool) only about what the repository cannot tell you, in one short batch.
"""

_REVIEW = """\
Review code changes and report problems worth fixing, most important first.

What to review: $ARGUMENTS
- Nothing given: the uncommitted changes (`git diff` and `git diff --cached`, plus new \
untracked files).
- A commit hash: that commit (`git show <hash>`).
- A branch name: the branch against the default branch (`git diff main...<branch>`).
- A pull request number or URL: that pull request (`gh pr diff <n>`), if `gh` is available.

For every change, read enough of the surrounding code to judge it. Look for:
- bugs: wrong logic, unhandled errors, off-by-one, races, resources never released;
- security: injection, secrets in code, missing checks on untrusted input;
- behaviour changes the author may not have meant, and missing tests for new behaviour;
- code that contradicts the project's own conventions (see AGENTS.md and nearby code).

Report each finding with its file and line (`path:line`), what is wrong, why it matters and \
a concrete fix. Skip style nits a formatter would settle. Do not change any file: this is a \
review only. If everything looks right, say so briefly.
"""

_BUILTIN: dict[str, Json] = {
    "init": {"description": "create or update AGENTS.md for this project", "template": _INIT},
    "review": {
        "description": "review changes [commit|branch|pr], defaults to uncommitted",
        "template": _REVIEW,
        "subtask": True,
    },
}

_NUMBERED = re.compile(r"\$(\d+)")
_SHELL = re.compile(r"!`([^`]+)`")
# `@path` not preceded by a word character or a backtick; a trailing dot ends a sentence.
_FILE_REF = re.compile(r"(?<![\w`])@(\.?[^\s`,.]*(?:\.[^\s`,.]+)*)")
_ARGUMENT = re.compile(r"\"[^\"]*\"|'[^']*'|[^\s\"']+")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    template: str
    description: str | None = None
    agent: str | None = None
    model: str | None = None
    subtask: bool | None = None
    source: str = "command"
    hints: list[str] = field(default_factory=list)

    def to_json(self) -> Json:
        out: Json = {"name": self.name}
        for key in ("description", "agent", "model"):
            value = getattr(self, key)
            if isinstance(value, str):
                out[key] = value
        out["source"] = self.source
        out["template"] = self.template
        if self.subtask is not None:
            out["subtask"] = self.subtask
        out["hints"] = self.hints
        return out


def hints(template: str) -> list[str]:
    """The placeholders a template takes: `$1`, `$2` ... in order, then `$ARGUMENTS`."""
    numbers = sorted({int(n) for n in _NUMBERED.findall(template)})
    out = [f"${n}" for n in numbers]
    if "$ARGUMENTS" in template:
        out.append("$ARGUMENTS")
    return out


def _command(name: str, entry: Json, source: str = "command") -> Command | None:
    template = entry.get("template")
    if not isinstance(template, str):
        return None
    subtask = entry.get("subtask")
    return Command(
        name=name,
        template=template,
        description=entry.get("description") if isinstance(entry.get("description"), str) else None,
        agent=entry.get("agent") if isinstance(entry.get("agent"), str) else None,
        model=entry.get("model") if isinstance(entry.get("model"), str) else None,
        subtask=subtask if isinstance(subtask, bool) else None,
        source=source,
        hints=hints(template) if source == "command" else [],
    )


def markdown_commands(directory: str) -> dict[str, Json]:
    """`command/*.md` and `commands/*.md` files, as config `command` entries."""
    out: dict[str, Json] = {}
    for name, doc in documents(config_dirs(directory), ("command", "commands"), "**/*.md"):
        out[name] = {**doc.meta, "template": doc.body.strip()}
    return out


def list_commands(directory: str, config: Json) -> list[Command]:
    """Built-ins first, then the configured ones (config and markdown); skills come last."""
    from pyopencode.config.skill import list_skills

    entries: dict[str, Json] = dict(_BUILTIN)
    for name, entry in (config.get("command") or {}).items():
        if isinstance(entry, dict):
            entries[name] = {**entries.get(name, {}), **entry}
    for name, entry in markdown_commands(directory).items():
        entries.setdefault(name, entry)
    out = [c for c in (_command(n, e) for n, e in entries.items()) if c is not None]
    taken = {c.name for c in out}
    for skill in list_skills(directory, config):
        if skill.name not in taken:
            out.append(
                Command(
                    name=skill.name,
                    description=skill.description,
                    template=skill.as_prompt(),
                    source="skill",
                )
            )
    return out


def get_command(directory: str, config: Json, name: str) -> Command | None:
    return next((c for c in list_commands(directory, config) if c.name == name), None)


def split_arguments(arguments: str) -> list[str]:
    """Words, where a quoted string counts as one word (its quotes removed)."""
    out = []
    for word in _ARGUMENT.findall(arguments):
        if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'":
            word = word[1:-1]
        out.append(word)
    return out


def fill(template: str, arguments: str) -> str:
    """`$1` ... take words of `arguments` (the last one takes the rest); `$ARGUMENTS` all."""
    words = split_arguments(arguments)
    numbers = [int(n) for n in _NUMBERED.findall(template)]
    last = max(numbers, default=0)

    def number(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n == last:
            return " ".join(words[n - 1 :])
        return words[n - 1] if n <= len(words) else ""

    out = _NUMBERED.sub(number, template)
    out = out.replace("$ARGUMENTS", arguments)
    if not numbers and "$ARGUMENTS" not in template and arguments.strip():
        out = f"{out}\n\n{arguments}"
    return out


async def _shell(command: str, directory: str) -> str:
    shell = os.environ.get("SHELL") or "/bin/sh"
    proc = await process.start(shell, "-c", command, cwd=directory, stderr=process.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SHELL_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return f"(`{command}` timed out after {SHELL_TIMEOUT_SECONDS:.0f}s)"
    return out[:MAX_SHELL_OUTPUT].decode(errors="replace")


async def run_shell(template: str, directory: str) -> str:
    """Replaces each `` !`cmd` `` with what `cmd` prints, run in the project directory."""
    commands = _SHELL.findall(template)
    if not commands:
        return template
    outputs = iter([await _shell(c, directory) for c in commands])
    return _SHELL.sub(lambda _m: next(outputs), template)


def references(text: str, directory: str, agents: frozenset[str] = frozenset()) -> list[Json]:
    """The file, directory and agent parts that `@name` mentions in `text` point at."""
    parts: list[Json] = []
    seen: set[str] = set()
    for match in _FILE_REF.finditer(text):
        name = match.group(1)
        if not name or name in seen:
            continue
        seen.add(name)
        path = Path(os.path.expanduser(name))
        if not path.is_absolute():
            path = Path(directory) / path
        if path.is_file() or path.is_dir():
            mime = "application/x-directory" if path.is_dir() else "text/plain"
            parts.append(
                {"type": "file", "url": path.resolve().as_uri(), "filename": name, "mime": mime}
            )
        elif name in agents:
            parts.append({"type": "agent", "name": name})
    return parts


async def expand(
    template: str, arguments: str, directory: str, agents: frozenset[str] = frozenset()
) -> list[Json]:
    """A command's prompt parts: the filled-in template as text, then what its `@` names."""
    text = (await run_shell(fill(template, arguments), directory)).strip()
    return [{"type": "text", "text": text}, *references(text, directory, agents)]
