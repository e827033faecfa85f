"""The tools an agent can call, by the names OpenCode gives them."""

from pyopencode.tool.base import Tool, ToolContext, ToolError, ToolResult
from pyopencode.tool.registry import ALL, available

__all__ = ["ALL", "Tool", "ToolContext", "ToolError", "ToolResult", "available"]
