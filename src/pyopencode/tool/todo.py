"""`todowrite` and `todoread`: the session's todo list, stored and announced as `todo.updated`."""

from __future__ import annotations

import orjson

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult

_TODO = {
    "type": "object",
    "properties": {
        "content": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "in_progress", "completed", "cancelled"]},
        "priority": {"type": "string", "enum": ["high", "medium", "low"]},
    },
    "required": ["content", "status", "priority"],
}


class TodoWrite(Tool):
    name = "todowrite"
    description = "Replace the session's todo list."
    parameters: Json = {
        "type": "object",
        "properties": {"todos": {"type": "array", "items": _TODO}},
        "required": ["todos"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        todos = args.get("todos")
        if not isinstance(todos, list) or not all(
            isinstance(t, dict) and isinstance(t.get("content"), str) for t in todos
        ):
            raise ToolError("`todos` must be a list of {content, status, priority}")
        await ctx.ask("todowrite", ["*"], {})
        clean = [
            {
                "content": t["content"],
                "status": str(t.get("status") or "pending"),
                "priority": str(t.get("priority") or "medium"),
            }
            for t in todos
        ]
        await ctx.sessions.set_todos(ctx.session_id, clean)
        open_count = sum(1 for t in clean if t["status"] != "completed")
        output = orjson.dumps(clean, option=orjson.OPT_INDENT_2).decode()
        return ToolResult(f"{open_count} todos", output, {"todos": clean})


class TodoRead(Tool):
    name = "todoread"
    description = "Read the session's todo list."
    parameters: Json = {"type": "object", "properties": {}}

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        await ctx.ask("todoread", ["*"], {})
        raw = await ctx.sessions.todos_raw(ctx.session_id)
        todos = orjson.loads(raw)
        output = orjson.dumps(todos, option=orjson.OPT_INDENT_2).decode()
        return ToolResult(f"{len(todos)} todos", output, {"todos": todos})
