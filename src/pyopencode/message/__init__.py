"""Message rules: a prompt's stored user message and parts, and the assistant message skeleton."""

from __future__ import annotations

from pyopencode import ids
from pyopencode.vocab import Json, now_ms

DEFAULT_AGENT = "build"


def user_message(session: Json, body: Json) -> tuple[Json, list[Json]]:
    """The user message and parts that `POST /session/{id}/message` stores before any reply."""
    message_id = body.get("messageID") or ids.ascending("msg")
    model = dict(body.get("model") or _session_model(session))
    if body.get("variant") is not None:
        model["variant"] = body["variant"]
    info: Json = {
        "id": message_id,
        "sessionID": session["id"],
        "role": "user",
        "time": {"created": now_ms()},
        "agent": body.get("agent") or session.get("agent") or DEFAULT_AGENT,
        "model": model,
    }
    for key in ("system", "tools", "format"):
        if body.get(key) is not None:
            info[key] = body[key]
    parts = [_stored_part(session["id"], message_id, part) for part in body.get("parts", [])]
    return info, parts


def _session_model(session: Json) -> Json:
    model = session.get("model")
    if model:
        return {"providerID": model["providerID"], "modelID": model["id"]}
    # No model chosen anywhere yet; empty ids say so truthfully instead of inventing one.
    return {"providerID": "", "modelID": ""}


def _stored_part(session_id: str, message_id: str, part: Json) -> Json:
    stored: Json = {"id": part.get("id") or ids.ascending("prt")}
    stored["sessionID"] = session_id
    stored["messageID"] = message_id
    stored.update({k: v for k, v in part.items() if k != "id"})
    if stored["type"] == "text":
        stored.setdefault("time", {"start": now_ms(), "end": now_ms()})
    return stored


def zero_tokens() -> Json:
    return {"total": 0, "input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}


def assistant_message(
    session: Json, parent_id: str, provider_id: str, model_id: str, agent: str, root: str
) -> Json:
    """A new assistant message answering `parent_id`, before any part or usage is known."""
    return {
        "id": ids.ascending("msg"),
        "sessionID": session["id"],
        "role": "assistant",
        "time": {"created": now_ms()},
        "parentID": parent_id,
        "modelID": model_id,
        "providerID": provider_id,
        "mode": agent,
        "agent": agent,
        "path": {"cwd": session["directory"], "root": root},
        "cost": 0,
        "tokens": zero_tokens(),
    }
