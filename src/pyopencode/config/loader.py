"""Loads the merged configuration for a directory, in OpenCode's precedence order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyopencode.config.agent import markdown_agents
from pyopencode.config.jsonc import loads
from pyopencode.config.substitute import substitute
from pyopencode.errors import BadRequestError

Config = dict[str, Any]

_NAMES = ("opencode.json", "opencode.jsonc", "config.json")


def _read(path: Path) -> Config:
    try:
        text = path.read_text()
    except OSError:
        return {}
    try:
        value = loads(substitute(text, path.parent))
    except (ValueError, OSError) as exc:
        raise BadRequestError(f"Invalid configuration in {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequestError(f"Invalid configuration in {path}: expected an object")
    return value


def merge(base: Config, override: Config) -> Config:
    """Deep merge: objects merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _global_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opencode"


def files(directory: str) -> list[Path]:
    """Every config file that applies to `directory`, lowest precedence first."""
    found = [_global_dir() / name for name in _NAMES]
    explicit = os.environ.get("OPENCODE_CONFIG")
    if explicit:
        found.append(Path(explicit))
    project = Path(directory)
    found += [project / name for name in ("opencode.json", "opencode.jsonc")]
    found += [project / ".opencode" / name for name in ("opencode.json", "opencode.jsonc")]
    return found


def load(directory: str) -> Config:
    config: Config = {}
    for path in files(directory):
        if path.is_file():
            config = merge(config, _read(path))
    # Markdown agents sit beside opencode.json and override its entries, as upstream.
    agents = markdown_agents(directory)
    if agents:
        config["agent"] = merge(config.get("agent") or {}, agents)
    return config
