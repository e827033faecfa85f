"""Shell: a command the user runs in a session, stored as upstream stores it (a bash call)."""

from __future__ import annotations

import asyncio
import secrets

from pyopencode import ids, tool
from pyopencode import message as rules
from pyopencode.agent.agents import AgentInfo
from pyopencode.agent.loop import Runtime, Turn, detached
from pyopencode.errors import NotFoundError
from pyopencode.permission import DeniedError, RejectedError
from pyopencode.provider import ResolvedModel
from pyopencode.vocab import Json, now_ms

# The synthetic user text upstream stores before the command's message.
USER_TEXT = "The following tool was executed by the user"


def _call_id() -> str:
    # Upstream's call ids for user commands are 26 base-32 characters (a ULID).
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def prepare(
    session: Json,
    agent: AgentInfo,
    model: ResolvedModel,
    root: str,
    message_id: str | None = None,
) -> tuple[Turn, list[Json]]:
    """The shell's turn and the parts of its synthetic user message, not stored yet."""
    body: Json = {
        "agent": agent.name,
        "model": {"providerID": model.provider_id, "modelID": model.model_id},
        "parts": [{"type": "text", "text": USER_TEXT, "synthetic": True}],
    }
    if message_id is not None:
        body["messageID"] = message_id
    user, parts = rules.user_message(session, body)
    for synthetic in parts:
        synthetic.pop("time", None)  # upstream's synthetic text carries no time
    turn = Turn(
        session=session, user=user, agent=agent, model=model, history_until=user["id"], root=root
    )
    return turn, parts


async def run(rt: Runtime, turn: Turn, user_parts: list[Json], command: str) -> Json:
    """Stores the user message, runs `command` through the `bash` tool under the agent's
    permissions, and returns the assistant message `{info, parts}` holding the tool part."""
    session, user, agent, model, root = turn.session, turn.user, turn.agent, turn.model, turn.root
    sid = session["id"]
    await rt.sessions.update_message(user, user_parts)
    assistant = rules.assistant_message(
        session, user["id"], model.provider_id, model.model_id, agent.name, root
    )
    await rt.sessions.update_message(dict(assistant))
    start = now_ms()
    part: Json = {
        "id": ids.ascending("prt"),
        "sessionID": sid,
        "messageID": assistant["id"],
        "type": "tool",
        "callID": _call_id(),
        "tool": "bash",
        "state": {"status": "running", "input": {"command": command}, "time": {"start": start}},
    }
    await rt.sessions.update_part(detached(part))
    rules_of_agent = agent.permission + list(session.get("permission") or [])
    tool_ref = {"messageID": assistant["id"], "callID": part["callID"]}

    async def ask(permission: str, patterns: list[str], metadata: Json) -> None:
        await rt.permissions.ask(rules_of_agent, sid, permission, patterns, metadata, tool_ref)

    ctx = tool.ToolContext(
        directory=session["directory"],
        session_id=sid,
        message_id=assistant["id"],
        call_id=part["callID"],
        agent=agent.name,
        sessions=rt.sessions,
        ask=ask,
    )
    try:
        result = await tool.ALL["bash"].run({"command": command}, ctx)
        part["state"] = {
            "status": "completed",
            "input": {"command": command},
            "output": result.output,
            "title": "",
            "metadata": {"output": result.metadata.get("output", result.output)},
            "time": {"start": start, "end": now_ms()},
        }
    except NotFoundError:
        raise
    except (tool.ToolError, DeniedError, RejectedError) as exc:
        part["state"] = _error(command, str(exc), start)
    except asyncio.CancelledError:
        # Aborted (the tool has killed the command): the caller gets the closed message.
        part["state"] = _error(command, "Tool execution aborted", start)
        assistant["error"] = {
            "name": "MessageAbortedError",
            "data": {"message": "The operation was aborted."},
        }
        await _finish(rt, assistant, part)  # NotFoundError when the session went meanwhile
        return {"info": assistant, "parts": [part]}
    await _finish(rt, assistant, part)
    return {"info": assistant, "parts": [part]}


def _error(command: str, error: str, start: int) -> Json:
    return {
        "status": "error",
        "input": {"command": command},
        "error": error,
        "time": {"start": start, "end": now_ms()},
    }


async def _finish(rt: Runtime, assistant: Json, part: Json) -> None:
    assistant["time"]["completed"] = now_ms()
    await rt.sessions.update_message(detached(assistant))
    await rt.sessions.update_part(detached(part))
