"""Running a slash command: its template filled in and expanded into the prompt it sends."""

from __future__ import annotations

import asyncio

from pyopencode import config
from pyopencode.agent.agents import list_agents
from pyopencode.config import command
from pyopencode.errors import BadRequestError
from pyopencode.vocab import Json


def _model(spec: str) -> Json:
    provider_id, _, model_id = spec.partition("/")
    if not provider_id or not model_id:
        raise BadRequestError(f"model must be provider/model, got {spec!r}", field="model")
    return {"providerID": provider_id, "modelID": model_id}


async def prompt_fields(
    directory: str,
    name: str,
    arguments: str,
    *,
    agent: str | None = None,
    model: str | Json | None = None,
    parts: list[Json] | None = None,
    message_id: str | None = None,
) -> Json:
    """The prompt body that runs command `name` with `arguments` (400 for an unknown one).

    The asked agent and model win over the command's own front matter, as upstream's do.
    """
    cfg = await asyncio.to_thread(config.load, directory)
    found = await asyncio.to_thread(command.get_command, directory, cfg, name)
    if found is None:
        raise BadRequestError(f"Command not found: {name}", field="command")
    agents = frozenset(a.name for a in list_agents(cfg))
    expanded = await command.expand(found.template, arguments, directory, agents)
    fields: Json = {"parts": [*expanded, *(parts or [])]}
    chosen_agent = agent or found.agent
    if chosen_agent:
        fields["agent"] = chosen_agent
    chosen_model = model or found.model
    if isinstance(chosen_model, str):
        fields["model"] = _model(chosen_model)
    elif chosen_model:
        fields["model"] = chosen_model
    if message_id:
        fields["messageID"] = message_id
    return fields
