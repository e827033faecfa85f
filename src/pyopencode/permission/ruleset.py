"""Permission rules as OpenCode writes them, and which one decides a request."""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

Action = Literal["allow", "deny", "ask"]
Rule = dict[str, str]  # {"permission", "pattern", "action"}: the API's PermissionRule


def from_config(section: Any) -> list[Rule]:
    """`"allow"`, or `{"edit": "deny", "bash": {"*": "ask", "git *": "allow"}}`, as rules."""
    if isinstance(section, str):
        return [{"permission": "*", "pattern": "*", "action": section}]
    if isinstance(section, list):
        return [dict(r) for r in section if isinstance(r, dict)]
    rules: list[Rule] = []
    for permission, value in (section or {}).items():
        if isinstance(value, str):
            rules.append({"permission": permission, "pattern": "*", "action": value})
        elif isinstance(value, dict):
            for pattern, action in value.items():
                rules.append({"permission": permission, "pattern": pattern, "action": action})
    return rules


def evaluate(rules: list[Rule], permission: str, pattern: str) -> Action:
    """The last matching rule wins, so later (more specific) config overrides earlier."""
    decided: Action = "ask"
    for rule in rules:
        if fnmatch.fnmatchcase(permission, rule["permission"]) and fnmatch.fnmatchcase(
            pattern, rule["pattern"]
        ):
            action = rule["action"]
            if action in ("allow", "deny", "ask"):
                decided = action  # type: ignore[assignment]
    return decided
