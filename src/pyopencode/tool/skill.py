"""`skill`: loads a skill's instructions (a `SKILL.md`) into the conversation."""

from __future__ import annotations

import asyncio

from pyopencode import config
from pyopencode.config.skill import get_skill, list_skills
from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require


class SkillTool(Tool):
    name = "skill"
    description = (
        "Load a skill when the task at hand matches one of the skills listed in the system "
        "prompt.\n\nThe skill's instructions are added to the conversation, with the directory "
        "that holds its other files (scripts, references) so you can use them.\n\n"
        "The name must be one of the skills listed in the system prompt."
    )
    parameters: Json = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The name of the skill from available_skills"}
        },
        "required": ["name"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        name = require(args, "name")
        cfg = await asyncio.to_thread(config.load, ctx.directory)
        skill = await asyncio.to_thread(get_skill, ctx.directory, cfg, name)
        if skill is None:
            known = await asyncio.to_thread(list_skills, ctx.directory, cfg)
            names = ", ".join(s.name for s in known) or "none"
            raise ToolError(f'Skill "{name}" not found. Available skills: {names}')
        await ctx.ask("skill", [name], {})
        output = f'<skill_content name="{skill.name}">\n{skill.as_prompt()}\n</skill_content>'
        return ToolResult(
            f"Loaded skill: {skill.name}", output, {"name": skill.name, "dir": skill.base}
        )
