"""OpenCode configuration: finds, parses and merges every opencode.json(c) that applies."""

from pyopencode.config.loader import Config, load

__all__ = ["Config", "load"]
