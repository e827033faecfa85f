"""Starting a prompt: which agent and model answer it, and the stored user message it answers."""

from __future__ import annotations

import asyncio

from pyopencode import config, provider
from pyopencode import message as rules
from pyopencode.agent.agents import AgentInfo, get_agent
from pyopencode.agent.loop import Turn
from pyopencode.agent.runner import Runner
from pyopencode.session.service import SessionService
from pyopencode.vocab import Json, now_ms


def choose_model(
    asked: tuple[str, str] | None, agent: AgentInfo, session: Json, cfg: Json
) -> tuple[str, str]:
    """(provider, model): the prompt's own, else the agent's, else the session's last, else
    the configured default (which raises a 400 when no provider is configured)."""
    if asked is not None:
        return asked
    if agent.model is not None:
        return agent.model
    if session.get("model"):
        return session["model"]["providerID"], session["model"]["id"]
    return provider.default_model(cfg)


async def start(
    sessions: SessionService, runner: Runner, session: Json, fields: Json, root: str
) -> Turn:
    """Resolve agent and model, then store the user message; nothing is written on a 4xx."""
    cfg = await asyncio.to_thread(config.load, session["directory"])
    agent = get_agent(
        cfg, fields.get("agent") or session.get("agent") or cfg.get("default_agent") or "build"
    )
    asked = fields.get("model")
    provider_id, model_id = choose_model(
        (asked["providerID"], asked["modelID"]) if asked else None, agent, session, cfg
    )
    model = provider.resolve(cfg, provider_id, model_id)
    runner.check_room(session["id"])

    def remember(info: Json) -> Json:
        # The session remembers the agent and model of its latest prompt, as upstream's does.
        info["agent"] = agent.name
        info["model"] = {"id": model_id, "providerID": provider_id}
        info["time"]["updated"] = now_ms()
        return info

    def user_message(updated: Json) -> tuple[Json, list[Json]]:
        asked_fields = {
            **fields,
            "model": {"providerID": provider_id, "modelID": model_id},
            "agent": agent.name,
        }
        return rules.user_message(updated, asked_fields)

    session, info = await sessions.add_prompt(session["id"], remember, user_message)
    return Turn(
        session=session, user=info, agent=agent, model=model, history_until=info["id"], root=root
    )
