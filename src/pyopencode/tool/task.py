"""`task`: hands a job to a sub-agent that works in a child session."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require


class Task(Tool):
    name = "task"
    description = "Run a sub-agent on a self-contained task in a child session; returns its answer."
    parameters: Json = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "description": "A short (3-5 word) description"},
            "prompt": {"type": "string", "description": "The task for the agent"},
            "subagent_type": {"type": "string", "description": "Agent to use (default general)"},
        },
        "required": ["description", "prompt"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        description, prompt = require(args, "description"), require(args, "prompt")
        agent = str(args.get("subagent_type") or "general")
        await ctx.ask("task", [agent], {"description": description, "subagent_type": agent})
        if ctx.run_subagent is None:
            raise ToolError("Sub-agents cannot start sub-agents here")
        child_id, text = await ctx.run_subagent(description, prompt, agent)
        output = f"{text}\n\n<task_metadata>\nsession_id: {child_id}\n</task_metadata>"
        return ToolResult(description, output, {"sessionId": child_id})
