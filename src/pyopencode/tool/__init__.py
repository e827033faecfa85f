"""The tools an agent can call, by the names OpenCode gives them."""

from pyopencode.tool.base import Tool, ToolContext, ToolError, ToolResult
from pyopencode.tool.bash import Bash
from pyopencode.tool.edit import Edit
from pyopencode.tool.glob import Glob
from pyopencode.tool.grep import Grep
from pyopencode.tool.ls import List
from pyopencode.tool.read import Read
from pyopencode.tool.task import Task
from pyopencode.tool.todo import TodoRead, TodoWrite
from pyopencode.tool.validate import Validated
from pyopencode.tool.write import Write

ALL: dict[str, Tool] = {
    t.name: Validated(t)
    for t in (
        Bash(),
        Edit(),
        Glob(),
        Grep(),
        List(),
        Read(),
        Write(),
        TodoWrite(),
        TodoRead(),
        Task(),
    )
}

__all__ = ["ALL", "Tool", "ToolContext", "ToolError", "ToolResult"]
