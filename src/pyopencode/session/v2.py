"""The `/api/session*` (v2) shapes, converted from the sessions, messages and parts stored once.

The v2 API shows a session's messages as typed entries and its history as a numbered log of
durable events. pyopencode stores one model (v1's messages and parts), so both are derived
here from what is stored: nothing is recorded twice, and v1 and v2 never disagree.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from pyopencode import session as rules
from pyopencode.vocab import Json, now_ms

if TYPE_CHECKING:
    from pyopencode.project import Instance

# The log's entries have version 1 of their shape, as upstream's first write does.
EVENT_VERSION = 1


class InvalidCursor(ValueError):
    """A pagination cursor this server did not hand out."""


def model_ref(model: Json | None) -> Json | None:
    """v1's `{providerID, modelID}` (or a session's `{id, providerID}`) as a v2 ModelRef."""
    if not model:
        return None
    model_id = model.get("id", model.get("modelID"))
    if not model_id or not model.get("providerID"):
        return None
    ref: Json = {"id": model_id, "providerID": model["providerID"]}
    if model.get("variant"):
        ref["variant"] = model["variant"]
    return ref


def location(session: Json) -> Json:
    found: Json = {"directory": session["directory"]}
    if session.get("workspaceID"):
        found["workspaceID"] = session["workspaceID"]
    return found


def session_info(session: Json) -> Json:
    """A stored session as SessionV2Info."""
    info: Json = {"id": session["id"]}
    if session.get("parentID"):
        info["parentID"] = session["parentID"]
    info["projectID"] = session["projectID"]
    if session.get("agent"):
        info["agent"] = session["agent"]
    model = model_ref(session.get("model"))
    if model is not None:
        info["model"] = model
    info["cost"] = session.get("cost", 0)
    tokens = session.get("tokens") or {}
    cache = tokens.get("cache") or {}
    info["tokens"] = {
        "input": tokens.get("input", 0),
        "output": tokens.get("output", 0),
        "reasoning": tokens.get("reasoning", 0),
        "cache": {"read": cache.get("read", 0), "write": cache.get("write", 0)},
    }
    time = session["time"]
    info["time"] = {"created": time["created"], "updated": time["updated"]}
    if time.get("archived") is not None:
        info["time"]["archived"] = time["archived"]
    info["title"] = session["title"]
    info["location"] = location(session)
    if session.get("path"):
        info["subpath"] = session["path"]
    revert = session.get("revert")
    if revert and revert.get("messageID"):
        info["revert"] = {
            k: revert[k] for k in ("messageID", "partID", "snapshot", "diff") if k in revert
        }
    return info


def new_session(instance: Instance, fields: Json, session_id: str) -> Json:
    """A new session as `create` makes it, under the id the client chose."""
    info = rules.new_info(instance, fields)
    info["id"] = session_id
    return info


def with_agent(info: Json, agent: str) -> Json:
    """The session after switching agent: its next prompt runs with `agent`."""
    info["agent"] = agent
    info["time"]["updated"] = now_ms()
    return info


def with_model(info: Json, model: Json) -> Json:
    """The session after switching model: its next prompt runs with `model`."""
    info["model"] = model
    info["time"]["updated"] = now_ms()
    return info


# --- messages


def _file(part: Json) -> Json:
    attachment: Json = {"uri": part.get("url", ""), "mime": part.get("mime", "")}
    if part.get("filename"):
        attachment["name"] = part["filename"]
    return attachment


def prompt_of(parts: Sequence[Json]) -> Json:
    """The v2 Prompt that a user message's parts carry."""
    text = "\n".join(
        p.get("text", "") for p in parts if p["type"] == "text" and not p.get("synthetic")
    )
    prompt: Json = {"text": text}
    files = [_file(p) for p in parts if p["type"] == "file"]
    if files:
        prompt["files"] = files
    agents = [{"name": p["name"]} for p in parts if p["type"] == "agent" and p.get("name")]
    if agents:
        prompt["agents"] = agents
    return prompt


def _error(error: Json | None) -> Json | None:
    if not error:
        return None
    message = (error.get("data") or {}).get("message") or error.get("name") or "error"
    return {"type": "unknown", "message": str(message)}


def _tool_state(state: Json) -> Json:
    status = state.get("status")
    raw_input = state.get("input")
    arguments = raw_input if isinstance(raw_input, dict) else {}
    if status == "pending":
        return {"status": "pending", "input": state.get("raw") or orjson.dumps(arguments).decode()}
    if status == "running":
        return {"status": "running", "input": arguments, "structured": {}, "content": []}
    if status == "completed":
        output = state.get("output") or ""
        return {
            "status": "completed",
            "input": arguments,
            "content": [{"type": "text", "text": output}] if output else [],
            "structured": state.get("metadata") or {},
        }
    message = str(state.get("error") or "error")
    return {
        "status": "error",
        "input": arguments,
        "content": [],
        "structured": {},
        "error": {"type": "unknown", "message": message},
    }


def _content(part: Json) -> Json | None:
    kind = part["type"]
    if kind == "text":
        return {"type": "text", "id": part["id"], "text": part.get("text", "")}
    if kind == "reasoning":
        item: Json = {"type": "reasoning", "id": part["id"], "text": part.get("text", "")}
        time = part.get("time") or {}
        if time.get("start") is not None:
            item["time"] = {"created": time["start"]}
            if time.get("end") is not None:
                item["time"]["completed"] = time["end"]
        return item
    if kind == "tool":
        state = part.get("state") or {}
        times = state.get("time") or {}
        tool_time: Json = {"created": times.get("start", 0)}
        if times.get("start") is not None:
            tool_time["ran"] = times["start"]
        if times.get("end") is not None:
            tool_time["completed"] = times["end"]
        return {
            "type": "tool",
            "id": part.get("callID", part["id"]),
            "name": part.get("tool", ""),
            "provider": {"executed": False},
            "state": _tool_state(state),
            "time": tool_time,
        }
    return None


def message(stored: Json) -> Json:
    """A stored `{info, parts}` as a v2 SessionMessage (user or assistant)."""
    info, parts = stored["info"], stored["parts"]
    if info["role"] == "user":
        prompt = prompt_of(parts)
        return {
            "id": info["id"],
            "time": {"created": info["time"]["created"]},
            **prompt,
            "type": "user",
        }
    time: Json = {"created": info["time"]["created"]}
    if info["time"].get("completed") is not None:
        time["completed"] = info["time"]["completed"]
    found: Json = {
        "id": info["id"],
        "time": time,
        "type": "assistant",
        "agent": info.get("agent") or info.get("mode") or "",
        "model": {"id": info.get("modelID", ""), "providerID": info.get("providerID", "")},
        "content": [c for c in (_content(p) for p in parts) if c is not None],
    }
    if info.get("finish"):
        found["finish"] = info["finish"]
    found["cost"] = info.get("cost", 0)
    tokens = info.get("tokens") or {}
    cache = tokens.get("cache") or {}
    found["tokens"] = {
        "input": tokens.get("input", 0),
        "output": tokens.get("output", 0),
        "reasoning": tokens.get("reasoning", 0),
        "cache": {"read": cache.get("read", 0), "write": cache.get("write", 0)},
    }
    error = _error(info.get("error"))
    if error is not None:
        found["error"] = error
    return found


# --- cursors (opaque to clients: base64url of a small JSON object)


def encode_cursor(value: Json) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


def decode_cursor(cursor: str, keys: Sequence[str]) -> Json:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("Invalid cursor") from exc
    if not isinstance(value, dict) or any(not isinstance(value.get(k), str) for k in keys):
        raise InvalidCursor("Invalid cursor")
    if value.get("direction") not in ("next", "previous"):
        raise InvalidCursor("Invalid cursor")
    return value


def page(
    items: Sequence[Json], order: str, limit: int, cursor: Json | None
) -> tuple[list[Json], Json]:
    """One page of `items` (given oldest first) and the cursors around it."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    if cursor is not None:
        ids = [item["id"] for item in ordered]
        if cursor["id"] not in ids:
            raise InvalidCursor("Invalid cursor")
        at = ids.index(cursor["id"])
        if cursor["direction"] == "next":
            chosen = ordered[at + 1 : at + 1 + limit]
        else:
            chosen = ordered[max(0, at - limit) : at]
    else:
        chosen = ordered[:limit]
    cursors: Json = {}
    if chosen:
        cursors["previous"] = encode_cursor(
            {"id": chosen[0]["id"], "order": order, "direction": "previous"}
        )
        cursors["next"] = encode_cursor(
            {"id": chosen[-1]["id"], "order": order, "direction": "next"}
        )
    return chosen, cursors


# --- the durable event log, derived


def _event(session_id: str, place: Json, key: str, kind: str, data: Json) -> Json:
    return {
        "id": f"evt_{key}",
        "type": f"session.next.{kind}",
        "durable": {"aggregateID": session_id, "seq": 0, "version": EVENT_VERSION},
        "location": place,
        "data": {"sessionID": session_id, **data},
    }


def _user_events(session_id: str, place: Json, stored: Json) -> list[tuple[int, Json]]:
    info = stored["info"]
    at = info["time"]["created"]
    common = {"messageID": info["id"], "prompt": prompt_of(stored["parts"]), "delivery": "queue"}
    key = info["id"][4:]
    return [
        (at, _event(session_id, place, f"{key}a", "prompt.admitted", {"timestamp": at, **common})),
        (at, _event(session_id, place, f"{key}p", "prompted", {"timestamp": at, **common})),
    ]


def _assistant_events(session_id: str, place: Json, stored: Json) -> list[tuple[int, Json]]:
    info, parts = stored["info"], stored["parts"]
    mid = info["id"]
    key = mid[4:]
    created = info["time"]["created"]
    ref = {"id": info.get("modelID", ""), "providerID": info.get("providerID", "")}
    found: list[tuple[int, Json]] = []

    def add(at: int, suffix: str, kind: str, data: Json) -> None:
        body = {"timestamp": at, "assistantMessageID": mid, **data}
        found.append((at, _event(session_id, place, f"{key}{suffix}", kind, body)))

    add(created, "s", "step.started", {"agent": info.get("agent") or "", "model": ref})
    for part in parts:
        pid = part["id"][4:]
        kind = part["type"]
        time = part.get("time") or {}
        if kind in ("text", "reasoning") and time.get("start") is not None:
            ident = {"textID" if kind == "text" else "reasoningID": part["id"]}
            add(time["start"], f"{pid}s", f"{kind}.started", ident)
            if time.get("end") is not None:
                add(
                    time["end"], f"{pid}e", f"{kind}.ended", {**ident, "text": part.get("text", "")}
                )
        elif kind == "tool":
            state = part.get("state") or {}
            times = state.get("time") or {}
            if times.get("start") is None:
                continue
            call = {"callID": part.get("callID", part["id"])}
            arguments = state.get("input") if isinstance(state.get("input"), dict) else {}
            name = part.get("tool", "")
            add(times["start"], f"{pid}i", "tool.input.started", {**call, "name": name})
            text = orjson.dumps(arguments).decode()
            add(times["start"], f"{pid}j", "tool.input.ended", {**call, "text": text})
            called = {**call, "tool": name, "input": arguments}
            add(
                times["start"],
                f"{pid}c",
                "tool.called",
                {**called, "provider": {"executed": False}},
            )
            if state.get("status") == "completed" and times.get("end") is not None:
                output = state.get("output") or ""
                add(
                    times["end"],
                    f"{pid}d",
                    "tool.success",
                    {
                        **call,
                        "structured": state.get("metadata") or {},
                        "content": [{"type": "text", "text": output}] if output else [],
                        "provider": {"executed": False},
                    },
                )
            elif state.get("status") == "error" and times.get("end") is not None:
                error = {"type": "unknown", "message": str(state.get("error") or "error")}
                add(
                    times["end"],
                    f"{pid}f",
                    "tool.failed",
                    {**call, "error": error, "provider": {"executed": False}},
                )
    completed = info["time"].get("completed")
    if completed is not None:
        if info.get("error"):
            error = _error(info["error"]) or {"type": "unknown", "message": "error"}
            add(completed, "x", "step.failed", {"error": error})
        else:
            tokens = message(stored)["tokens"]
            ended = {"finish": info.get("finish") or "other", "cost": info.get("cost", 0)}
            add(completed, "e", "step.ended", {**ended, "tokens": tokens})
    return found


def history(session: Json, messages: Sequence[Json]) -> list[Json]:
    """The session's durable events, numbered from 1 in the order they happened."""
    place = location(session)
    timed: list[tuple[int, int, Json]] = []
    for order, stored in enumerate(messages):
        maker = _user_events if stored["info"]["role"] == "user" else _assistant_events
        timed += [(at, order, event) for at, event in maker(session["id"], place, stored)]
    # Stable sort: events of one instant keep message order, and within a message, their own.
    timed.sort(key=lambda item: (item[0], item[1]))
    events = [event for _, _, event in timed]
    for seq, event in enumerate(events, start=1):
        event["durable"]["seq"] = seq
    return events


def admitted(session_id: str, stored: Json, seq: int) -> Json:
    """SessionInputAdmitted for a prompt stored as user message `stored`."""
    info = stored["info"]
    return {
        "admittedSeq": seq,
        "id": info["id"],
        "sessionID": session_id,
        "prompt": prompt_of(stored["parts"]),
        "delivery": "queue",
        "timeCreated": info["time"]["created"],
    }


def permission_request(request: Json) -> Json:
    """A pending permission request as PermissionV2Request."""
    found: Json = {
        "id": request["id"],
        "sessionID": request["sessionID"],
        "action": request["permission"],
        "resources": list(request.get("patterns") or []),
        "save": list(request.get("always") or []),
        "metadata": request.get("metadata") or {},
    }
    tool: Any = request.get("tool")
    if isinstance(tool, dict) and tool.get("messageID") and tool.get("callID"):
        found["source"] = {"type": "tool", "messageID": tool["messageID"], "callID": tool["callID"]}
    return found
