"""`task`: hands a job to a sub-agent that works in a child session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require

if TYPE_CHECKING:
    from pyopencode.agent.agents import AgentInfo

_DESCRIPTION = """\
Start a sub-agent on a self-contained, multi-step task. It works in its own child session \
and returns its final answer to you; the user does not see that answer, so pass on what \
matters.

When to use it:
- wide searches or research that would fill your context with intermediate results;
- independent pieces of work that can run side by side (start several in one response).

When not to use it:
- reading a known file, or finding a definition you can grep for: do that yourself;
- when no available agent fits the job.

Write the prompt as a complete brief: the sub-agent sees nothing of this conversation. Say \
what to do, whether to change code or only research, how to check the result, and exactly \
what to report back. Do not repeat work you delegated.

Available agent types:"""


class Task(Tool):
    name = "task"
    parameters: Json = {
        "type": "object",
        "properties": {
            "description": {
                "type": "string",
                "description": "A short (3-5 words) description of the task",
            },
            "prompt": {"type": "string", "description": "The task for the agent to perform"},
            "subagent_type": {
                "type": "string",
                "description": "The type of specialized agent to use for this task",
            },
            "task_id": {
                "type": "string",
                "description": "Only to continue an earlier task: the task_id it returned. The "
                "sub-agent then resumes its own session, with its previous messages and tool "
                "results, instead of starting fresh.",
            },
            "command": {"type": "string", "description": "The command that triggered this task"},
        },
        "required": ["description", "prompt", "subagent_type"],
    }

    def __init__(self, agents: Sequence[AgentInfo] = ()) -> None:
        listed = [a for a in agents if a.mode != "primary"]
        lines = [f"- {a.name}: {a.description or 'no description'}" for a in listed]
        self.description = _DESCRIPTION + ("\n" + "\n".join(lines) if lines else " general")

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        description, prompt = require(args, "description"), require(args, "prompt")
        agent = str(args.get("subagent_type") or "general")
        task_id = args.get("task_id")
        if task_id is not None and not isinstance(task_id, str):
            raise ToolError("`task_id` must be a string returned by an earlier task")
        await ctx.ask("task", [agent], {"description": description, "subagent_type": agent})
        if ctx.run_subagent is None:
            raise ToolError("Sub-agents cannot start sub-agents here")
        child_id, text = await ctx.run_subagent(description, prompt, agent, task_id or None)
        output = (
            f"task_id: {child_id} (pass it as task_id to continue this task)\n\n"
            f"<task_result>\n{text}\n</task_result>"
        )
        return ToolResult(description, output, {"sessionId": child_id})
