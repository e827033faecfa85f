"""Tool arguments checked against each tool's JSON schema before the tool runs."""

from __future__ import annotations

from functools import cached_property

from jsonschema import Draft202012Validator

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult


class Validated(Tool):
    """A tool whose `run` first holds the model's arguments to the tool's own `parameters`.

    The model writes the arguments, so they are input like any request body: a `timeout` of -1
    or a `limit` of -5 is refused with a message the model can act on, not half-used.
    """

    def __init__(self, inner: Tool) -> None:
        self.inner = inner
        self.name = inner.name
        self.description = inner.description
        self.parameters = inner.parameters

    @cached_property
    def _validator(self) -> Draft202012Validator:
        Draft202012Validator.check_schema(self.parameters)
        return Draft202012Validator(self.parameters)

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        problems = sorted(self._validator.iter_errors(args), key=lambda e: list(e.path))
        if problems:
            described = "; ".join(
                f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
                for e in problems[:5]
            )
            raise ToolError(f"The {self.name} tool was called with invalid arguments: {described}")
        return await self.inner.run(args, ctx)
