"""Skills: `SKILL.md` files the model can load by name with the `skill` tool."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyopencode.config.markdown import config_dirs, read, upward

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    description: str
    location: str
    content: str

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "description": self.description,
            "location": self.location,
            "content": self.content,
        }

    @property
    def base(self) -> str:
        return str(Path(self.location).parent)

    def as_prompt(self) -> str:
        """What the model receives when it loads the skill."""
        return f"{self.content.strip()}\n\nBase directory for this skill: {self.base}"


def _roots(directory: str, config: Json) -> list[Path]:
    home = Path.home()
    roots = [home / ".claude" / "skills", home / ".agents" / "skills"]
    for base in config_dirs(directory):
        roots += [base / "skill", base / "skills"]
    for place in upward(directory)[::-1]:
        roots += [place / ".claude" / "skills", place / ".agents" / "skills"]
    paths = (
        (config.get("skills") or {}).get("paths")
        if isinstance(config.get("skills"), dict)
        else None
    )
    for raw in paths or []:
        if isinstance(raw, str):
            path = Path(os.path.expanduser(raw))
            roots.append(path if path.is_absolute() else Path(directory) / path)
    return roots


def list_skills(directory: str, config: Json) -> list[Skill]:
    """Every skill with a name and description; a later root overrides an earlier one."""
    found: dict[str, Skill] = {}
    seen: set[Path] = set()
    for root in _roots(directory, config):
        if not root.is_dir() or root.resolve() in seen:
            continue
        seen.add(root.resolve())
        for path in sorted(root.glob("**/SKILL.md")):
            doc = read(path)
            name = doc.meta.get("name") or path.parent.name
            description = doc.meta.get("description")
            # Without a description the model could not know when to use it (as upstream).
            if not isinstance(name, str) or not isinstance(description, str):
                continue
            found[name] = Skill(name, description.strip(), str(path), doc.body)
    return sorted(found.values(), key=lambda s: s.name)


def get_skill(directory: str, config: Json, name: str) -> Skill | None:
    return next((s for s in list_skills(directory, config) if s.name == name), None)


def system_section(skills: list[Skill]) -> str | None:
    """The system prompt's list of skills, so the model knows which it may load."""
    if not skills:
        return None
    items = "\n".join(
        f"  <skill>\n    <name>{s.name}</name>\n    <description>{s.description}</description>\n"
        f"    <location>{s.location}</location>\n  </skill>"
        for s in skills
    )
    return (
        "Skills give specialised instructions and workflows for particular tasks.\n"
        "When a task matches a skill's description, load it with the `skill` tool first.\n"
        f"<available_skills>\n{items}\n</available_skills>"
    )
