"""Compaction: a summary that replaces the history sent to the model, and pruned tool outputs."""

from __future__ import annotations

import asyncio

import orjson

from pyopencode import config, ids, tool
from pyopencode import message as rules
from pyopencode.agent.agents import AgentInfo, get_agent
from pyopencode.agent.history import CLEARED_OUTPUT, is_compaction
from pyopencode.agent.loop import Loop, Runtime, Turn
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.provider import ResolvedModel
from pyopencode.session.service import SessionService
from pyopencode.vocab import Json, now_ms

# After an automatic compaction the turn goes on from this synthetic user message.
CONTINUE = (
    "Continue if you have next steps, or stop and ask for clarification if you are unsure "
    "how to proceed."
)
# Tool outputs newer than this many (estimated) tokens are kept; older ones are pruned, but
# only when that frees at least PRUNE_MINIMUM tokens, as upstream does.
PRUNE_PROTECT = 40_000
PRUNE_MINIMUM = 20_000
PRUNE_PROTECTED_TOOLS = frozenset({"skill"})
# Each tool output is shown to the summarizer up to this many characters.
TRANSCRIPT_TOOL_CHARS = 2_000

SUMMARY_PROMPT = """\
You write the hand-over notes of a coding session. Another agent, who has not seen the \
conversation, will continue the work from your notes alone, so they must hold everything \
needed to carry on and nothing else.

Write Markdown with these sections, in this order:
## Goal
What the user wants done, in their own terms, including constraints and preferences they stated.
## Done so far
What was changed or learned, naming files, functions, commands and their results.
## Current state
What works, what fails, open errors and the exact messages that matter.
## Next steps
What remains, in order, and any decision still waiting for the user.

Be specific and brief. Keep identifiers, paths and numbers exact. Do not invent anything \
that is not in the conversation, and do not address the user."""

SUMMARY_REQUEST = (
    "Summarize the conversation above in the structure from your instructions, so that the "
    "work can continue from the summary alone."
)

_DEFAULT_AGENT = AgentInfo(
    name="compaction",
    description="Summarizes a session so that it fits in the model's context.",
    mode="primary",
    native=True,
    permission=[{"permission": "*", "pattern": "*", "action": "deny"}],
    hidden=True,
)


def _agent(cfg: Json) -> AgentInfo:
    try:
        return get_agent(cfg, "compaction")
    except BadRequestError:
        return _DEFAULT_AGENT


def token_count(tokens: Json) -> int:
    if tokens.get("total"):
        return int(tokens["total"])
    cache = tokens.get("cache") or {}
    return int(
        tokens.get("input", 0)
        + tokens.get("output", 0)
        + cache.get("read", 0)
        + cache.get("write", 0)
    )


def overflows(tokens: Json, model: ResolvedModel, cfg: Json) -> bool:
    """Whether an answer that used `tokens` leaves too little room for the next one."""
    if (cfg.get("compaction") or {}).get("auto") is False or model.context <= 0:
        return False
    return token_count(tokens) >= model.context - model.max_output


def transcript(rows: list[Json]) -> str:
    """The conversation as plain text for the summarizer, which is offered no tools."""
    lines: list[str] = []
    for row in rows:
        info, parts = row["info"], row["parts"]
        if info["role"] == "user":
            if is_compaction(row):
                continue
            text = "\n".join(
                p["text"] for p in parts if p["type"] == "text" and not p.get("ignored")
            )
            files = [p.get("filename") or p.get("url", "") for p in parts if p["type"] == "file"]
            if files:
                text += "\n[attached: " + ", ".join(files) + "]"
            if text.strip():
                lines.append(f"[User]: {text}")
            continue
        for p in parts:
            if p["type"] == "text" and p.get("text"):
                lines.append(f"[Assistant]: {p['text']}")
            elif p["type"] == "tool":
                state = p["state"]
                args = state.get("input") or {}
                if state["status"] == "completed":
                    pruned = (state.get("time") or {}).get("compacted")
                    out = CLEARED_OUTPUT if pruned else str(state.get("output", ""))
                else:
                    out = f"Error: {state.get('error', 'interrupted')}"
                if len(out) > TRANSCRIPT_TOOL_CHARS:
                    out = out[:TRANSCRIPT_TOOL_CHARS] + "\n[... output shortened]"
                lines.append(f"[Tool {p['tool']} {orjson.dumps(args).decode()}]: {out}")
    return "\n\n".join(lines)


# Stored as upstream stores it: a user message with a `compaction` part, answered by an
# assistant message with `summary: true` (agent and mode "compaction"), then
# `session.compacted`; later requests start from that pair (agent/history.since_compaction).
class CompactionLoop(Loop):
    """Answers a compaction's user message with the summary: one step, no tools."""

    def _new_assistant(self) -> Json:
        info = self.turn.new_assistant()
        # Upstream's key order: summary right after path.
        out: Json = {}
        for key, value in info.items():
            out[key] = value
            if key == "path":
                out["summary"] = True
        return out

    async def _request(self, last: bool) -> tuple[str, list[Json], list[tool.Tool]]:
        rows = await self._history()
        earlier = [r for r in rows if r["info"]["id"] != self.turn.user["id"]]
        content = "<conversation>\n" + transcript(earlier) + "\n</conversation>\n\n"
        system = self.turn.agent.prompt or SUMMARY_PROMPT
        return system, [{"role": "user", "content": content + SUMMARY_REQUEST}], []


async def summarize(rt: Runtime, turn: Turn) -> Json:
    """Runs the compaction whose user message `turn` holds; returns the summary message."""
    loop = CompactionLoop(rt, turn)
    try:
        result = await loop.run()
    except asyncio.CancelledError:
        # Aborted: the summary ends as aborted (and replaces nothing), like any answer.
        closed = await loop.aborted()
        if closed is None:
            raise NotFoundError.session(turn.session["id"]) from None
        return closed
    if not result["info"].get("error"):
        rt.emit(turn.session["id"], "session.compacted", {"sessionID": turn.session["id"]})
    return result


async def prepare(
    session: Json,
    model: ResolvedModel,
    *,
    auto: bool,
    overflow: bool = False,
    agent_name: str | None = None,
    root: str = "/",
) -> tuple[Turn, list[Json]]:
    """The compaction's turn and the parts of its user message, not stored yet (`store`)."""
    cfg = await asyncio.to_thread(config.load, session["directory"])
    part: Json = {"type": "compaction", "auto": auto}
    if overflow:
        part["overflow"] = True
    info, parts = rules.user_message(
        session,
        {
            "agent": agent_name or session.get("agent") or rules.DEFAULT_AGENT,
            "model": {"providerID": model.provider_id, "modelID": model.model_id},
            "parts": [part],
        },
    )
    turn = Turn(
        session=session,
        user=info,
        agent=_agent(cfg),
        model=model,
        history_until=info["id"],
        root=root,
    )
    return turn, parts


async def store(sessions: SessionService, turn: Turn, parts: list[Json]) -> None:
    """Stores the compaction's user message, with an id from now: it may have waited in the
    queue behind prompts whose messages must come before it."""
    message_id = ids.ascending("msg")
    turn.user["id"] = turn.history_until = message_id
    turn.user["time"]["created"] = now_ms()
    for part in parts:
        part["messageID"] = message_id
    await sessions.update_message(turn.user, parts)


async def continue_message(
    sessions: SessionService, session: Json, agent_name: str, model: ResolvedModel
) -> Json:
    """Stores the synthetic user message an automatic compaction's turn goes on from."""
    info, parts = rules.user_message(
        session,
        {
            "agent": agent_name,
            "model": {"providerID": model.provider_id, "modelID": model.model_id},
            "parts": [{"type": "text", "text": CONTINUE, "synthetic": True}],
        },
    )
    await sessions.update_message(info, parts)
    return info


async def auto_compact(loop: Loop) -> None:
    """Runtime.compact: before a step, compact when the last finished answer overflowed."""
    turn = loop.turn
    if isinstance(loop, CompactionLoop):
        return
    tokens = await _last_finished_tokens(loop)
    if tokens is None or not overflows(tokens, turn.model, {}):
        return
    cfg = await asyncio.to_thread(config.load, turn.session["directory"])
    if not overflows(tokens, turn.model, cfg):
        return
    compaction, parts = await prepare(
        turn.session,
        turn.model,
        auto=True,
        overflow=True,
        agent_name=turn.agent.name,
        root=turn.root,
    )
    await store(loop.rt.sessions, compaction, parts)
    result = await summarize(loop.rt, compaction)
    if result["info"].get("error"):
        return  # the failure is on the summary message; the turn goes on uncompacted
    info = await continue_message(loop.rt.sessions, turn.session, turn.agent.name, turn.model)
    turn.user = info
    turn.history_until = info["id"]
    # The overflowing answer is behind the summary now; the next check starts from there.
    turn.assistant = None


async def _last_finished_tokens(loop: Loop) -> Json | None:
    """The usage of the latest finished answer in this turn's history, unless a summary."""
    if loop.turn.assistant is not None:
        last = loop.turn.assistant
    else:
        # The newest messages hold it unless many came after it: the whole history (read and
        # decoded on every turn, as long as the session grows) only then.
        sessions = loop.rt.sessions
        rows = orjson.loads(await sessions.messages_raw(loop.sid, limit=_RECENT))
        if len(rows) == _RECENT and not _finished(rows):
            rows = await sessions.messages(loop.sid)
        finished = _finished(rows)
        if not finished:
            return None
        last = finished[-1]
    if last.get("summary") or not last.get("finish"):
        return None
    tokens: Json = last.get("tokens") or {}
    return tokens


_RECENT = 8


def _finished(rows: list[Json]) -> list[Json]:
    return [r["info"] for r in rows if r["info"]["role"] == "assistant" and r["info"].get("finish")]


async def prune(sessions: SessionService, session: Json) -> int:
    """Marks old tool outputs compacted (state.time.compacted) so that the model is no longer
    sent them; the two latest user turns and everything before a summary are left alone.
    Returns how many parts were pruned."""
    # Nothing is pruned until the kept outputs pass PRUNE_PROTECT tokens (a token is taken as
    # four characters). A part's stored JSON is at least as long as its output, so a session
    # whose parts are shorter than that is answered without reading its history or config
    # (this runs after every turn, and most sessions never get there).
    if await sessions.parts_chars(session["id"]) // 4 <= PRUNE_PROTECT:
        return 0
    cfg = await asyncio.to_thread(config.load, session["directory"])
    if (cfg.get("compaction") or {}).get("prune") is False:
        return 0
    rows = await sessions.messages(session["id"])
    kept = 0
    freed = 0
    chosen: list[Json] = []
    turns = 0
    done = False
    for row in reversed(rows):
        info = row["info"]
        if info["role"] == "user":
            turns += 1
        if turns < 2:
            continue
        if info["role"] == "assistant" and info.get("summary"):
            break
        for part in reversed(row["parts"]):
            if part["type"] != "tool" or part["state"]["status"] != "completed":
                continue
            if part["tool"] in PRUNE_PROTECTED_TOOLS:
                continue
            if (part["state"].get("time") or {}).get("compacted"):
                done = True
                break
            estimate = len(str(part["state"].get("output", ""))) // 4
            kept += estimate
            if kept > PRUNE_PROTECT:
                freed += estimate
                chosen.append(part)
        if done:
            break
    if freed <= PRUNE_MINIMUM:
        return 0
    at = now_ms()
    for part in chosen:
        part["state"]["time"]["compacted"] = at
        await sessions.update_part(part)
    return len(chosen)
