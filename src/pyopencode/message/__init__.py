"""Message rules: turning a prompt's input parts into a stored user message and its parts."""

from __future__ import annotations

from typing import Any

from pyopencode import ids
from pyopencode.session import now_ms

Json = dict[str, Any]

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
