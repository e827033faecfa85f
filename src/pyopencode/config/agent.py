"""Custom agents written as markdown: `agent/*.md` (or `agents/`), front matter plus a prompt."""

from __future__ import annotations

from typing import Any

from pyopencode.config.markdown import config_dirs, documents

Json = dict[str, Any]


def markdown_agents(directory: str) -> dict[str, Json]:
    """Config `agent` entries from markdown files; the body becomes the agent's prompt."""
    out: dict[str, Json] = {}
    for name, doc in documents(config_dirs(directory), ("agent", "agents"), "**/*.md"):
        entry = dict(doc.meta)
        body = doc.body.strip()
        if body:
            entry["prompt"] = body
        out[str(entry.pop("name", None) or name)] = entry
    return out
