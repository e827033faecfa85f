"""One prompt's run: model steps streamed into parts and events, tools between steps."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyopencode import futures, ids, mcp, message, provider, tool
from pyopencode.agent.agents import AgentInfo, list_agents
from pyopencode.agent.doom import DoomLoop
from pyopencode.agent.history import conversation, since_compaction
from pyopencode.agent.system import prepare
from pyopencode.errors import NotFoundError
from pyopencode.permission import DeniedError, Permissions, RejectedError
from pyopencode.provider import ResolvedModel
from pyopencode.provider.bursts import merged, sharing
from pyopencode.session.service import SessionService
from pyopencode.snapshot import service as snapshots
from pyopencode.snapshot.shadow import ShadowRepo
from pyopencode.vocab import Json, now_ms

MAX_RETRIES = 4
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
DEFAULT_MAX_STEPS = 50
ABORTED = {"name": "MessageAbortedError", "data": {"message": "The operation was aborted."}}


@dataclass
class Runtime:
    """What a loop needs from its surroundings."""

    sessions: SessionService
    permissions: Permissions
    emit: Callable[[str, str, Json], None]  # (session id, event type, properties), ephemeral
    set_status: Callable[[str, Json], None]
    # (parent turn, description, prompt, agent, task_id to resume) -> (child id, final text)
    run_subagent: Callable[[Turn, str, str, str, str | None], Awaitable[tuple[str, str]]]
    # Before each step: compacts the session when the last answer neared the context limit
    # (agent/compaction.py), moving the turn on to the message that continues after it.
    compact: Callable[[Loop], Awaitable[None]] | None = None


@dataclass
class Turn:
    """One prompt: the user message it answers and how to answer it."""

    session: Json
    user: Json
    agent: AgentInfo
    model: ResolvedModel
    # Messages up to this id make up the conversation; later ones are queued prompts.
    history_until: str
    # The project's worktree, reported as the assistant message's path.root.
    root: str = "/"
    depth: int = 0
    # The assistant message being written and its parts, for abort to close off.
    assistant: Json | None = None
    open_parts: dict[str, Json] = field(default_factory=dict)
    result: Json | None = None

    def new_assistant(self) -> Json:
        """The assistant message of a new step (or of an abort before any step)."""
        return message.assistant_message(
            self.session,
            self.user["id"],
            self.model.provider_id,
            self.model.model_id,
            self.agent.name,
            self.root,
        )


def _tokens(usage: provider.Usage) -> Json:
    total = usage.input + usage.output + usage.reasoning + usage.cache_read + usage.cache_write
    return {
        "total": total,
        "input": usage.input,
        "output": usage.output,
        "reasoning": usage.reasoning,
        "cache": {"read": usage.cache_read, "write": usage.cache_write},
    }


def _cost(model: ResolvedModel, usage: provider.Usage) -> float:
    # Configured costs are per million tokens, as in models.dev and opencode.json.
    c = model.cost
    total = (
        usage.input * float(c.get("input", 0))
        + usage.output * float(c.get("output", 0))
        + usage.cache_read * float(c.get("cache_read", 0))
        + usage.cache_write * float(c.get("cache_write", 0))
    )
    return total / 1_000_000


def _error_json(exc: provider.ProviderError, provider_id: str) -> Json:
    if isinstance(exc, provider.AuthError):
        return {
            "name": "ProviderAuthError",
            "data": {"providerID": provider_id, "message": exc.message},
        }
    if isinstance(exc, provider.StreamDropped):
        return {"name": "UnknownError", "data": {"message": exc.message}}
    data: Json = {"message": exc.message, "isRetryable": exc.retryable}
    if exc.status is not None:
        data["statusCode"] = exc.status
    if exc.body:
        data["responseBody"] = exc.body[:4000]
    return {"name": "APIError", "data": data}


def detached(value: Json) -> Json:
    """A deep copy to hand to the store: its events hold what they are given, and the turn
    goes on changing its own."""
    copied: Json = orjson.loads(orjson.dumps(value))
    return copied


def _add_usage(info: Json, tokens: Json, cost: float) -> Json:
    """The session's running totals, as upstream keeps them."""
    total = info.get("tokens") or {}
    cache = total.get("cache") or {}
    info["tokens"] = {
        "input": total.get("input", 0) + tokens["input"],
        "output": total.get("output", 0) + tokens["output"],
        "reasoning": total.get("reasoning", 0) + tokens["reasoning"],
        "cache": {
            "read": cache.get("read", 0) + tokens["cache"]["read"],
            "write": cache.get("write", 0) + tokens["cache"]["write"],
        },
    }
    info["cost"] = info.get("cost", 0) + cost
    info["time"]["updated"] = now_ms()
    return info


def _error_state(args: Json, error: str, start: int) -> Json:
    return {
        "status": "error",
        "input": args,
        "error": error,
        "time": {"start": start, "end": now_ms()},
    }


def _retry_delay(exc: provider.ProviderError, attempt: int) -> float:
    header = exc.headers.get("retry-after")
    if header:
        try:
            return min(max(float(header), 0.0), RETRY_MAX_SECONDS)
        except ValueError:
            pass
    return min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_SECONDS) * (
        1 + random.random() * 0.1
    )


class Loop:
    def __init__(self, rt: Runtime, turn: Turn) -> None:
        self.rt = rt
        self.turn = turn
        self.sid: str = turn.session["id"]
        self.blocked = False
        self.doom = DoomLoop()
        # The turn's first and latest workspace snapshots, for its summary diffs.
        self._snapshots: list[str] = []
        self._shadow: ShadowRepo | None = None
        self._next_start: str | None = None
        # Writes of parts announced ahead of their row (see _announce), by part id.
        self._announced: dict[str, asyncio.Future[Json]] = {}

    # --- writes
    # Copies: the store's events hold what they are given, and these dicts keep changing.
    async def _save_part(self, part: Json) -> None:
        announced = self._announced.pop(part["id"], None)
        if announced is not None:
            # Its first row is written before this one; on PostgreSQL writes run side by
            # side, and the empty first row must not land over the finished part.
            await announced
        await self.rt.sessions.update_part(detached(part))

    def _announce(self, part: Json) -> None:
        """Publishes a new text or reasoning part now, and writes its row behind the deltas.

        Its deltas may then go out at once instead of one durable write later: that write is
        most of the time between a model's first words and a client seeing them. Durability
        is promised for the finished part, which `_save_part` writes after this one.
        """
        copy = detached(part)
        self.rt.emit(
            self.sid,
            "message.part.updated",
            {"sessionID": self.sid, "part": copy, "time": now_ms()},
        )
        write = asyncio.ensure_future(self.rt.sessions.update_part(copy, announce=False))
        # An error is raised where the part is saved next; one that never is stays quiet.
        write.add_done_callback(futures.retrieve)
        self._announced[part["id"]] = write

    async def _save_message(self) -> None:
        assert self.turn.assistant is not None
        await self.rt.sessions.update_message(detached(self.turn.assistant))

    def _part(self, kind: str, **fields: Any) -> Json:
        assert self.turn.assistant is not None
        return {
            "id": ids.ascending("prt"),
            "sessionID": self.sid,
            "messageID": self.turn.assistant["id"],
            "type": kind,
            **fields,
        }

    # --- the run
    async def run(self) -> Json:
        """Runs until the model stops; returns the final assistant message's {info, parts}."""
        turn = self.turn
        max_steps = turn.agent.steps or DEFAULT_MAX_STEPS
        step = 0
        while True:
            step += 1
            if self.rt.compact is not None:
                await self.rt.compact(self)
            finish = await self._step(last=step >= max_steps)
            if self.blocked or finish != "tool-calls" or step >= max_steps:
                break
        await self._summarize()
        assert turn.assistant is not None
        return await self.rt.sessions.message(self.sid, turn.assistant["id"])

    async def _summarize(self) -> None:
        """The user message's `summary.diffs` and a `session.diff` event, when files changed."""
        if len(self._snapshots) < 2:
            return
        diffs = await snapshots.diff(self._shadow, self._snapshots[0], self._snapshots[-1])
        if not diffs:
            return
        user = self.turn.user
        user["summary"] = {**(user.get("summary") or {}), "diffs": diffs}
        await self.rt.sessions.update_message(detached(user))
        self.rt.emit(self.sid, "session.diff", {"sessionID": self.sid, "diff": diffs})

    async def _history(self) -> list[Json]:
        rows = await self.rt.sessions.messages(self.sid)
        users = {
            r["info"]["id"]
            for r in rows
            if r["info"]["role"] == "user" and r["info"]["id"] <= self.turn.history_until
        }
        return since_compaction(
            [
                r
                for r in rows
                if r["info"]["id"] in users
                or (r["info"]["role"] == "assistant" and r["info"].get("parentID") in users)
            ]
        )

    async def _tools(self, cfg: Json) -> list[tool.Tool]:
        disabled = {k for k, v in (self.turn.user.get("tools") or {}).items() if v is False}
        turn = self.turn
        builtin = tool.available(
            turn.agent, turn.model.model_id, turn.depth, disabled, list_agents(cfg)
        )
        return builtin + await mcp.tools_for(turn.agent, turn.session["directory"], disabled)

    def _new_assistant(self) -> Json:
        return self.turn.new_assistant()

    async def _request(self, last: bool) -> tuple[str, list[Json], list[tool.Tool]]:
        """(system prompt, conversation, tools) of the next model call."""
        turn = self.turn
        conv = conversation(await self._history())
        cfg, system = await asyncio.to_thread(
            prepare, turn.agent, turn.session["directory"], turn.user.get("system"), turn.model
        )
        tools = [] if last else await self._tools(cfg)
        return system, conv, tools

    async def _step(self, last: bool) -> str:
        turn = self.turn
        system, conv, tools = await self._request(last)
        turn.assistant = self._new_assistant()
        turn.open_parts = {}
        await self._save_message()
        # Workspace snapshots (snapshot/): the files before this step, for diff and revert.
        shadow = None if last else snapshots.shadow_for(turn.session["projectID"], turn.root)
        if shadow is not None and self._next_start is not None:
            # The previous step ended with a snapshot a moment ago: this step starts from it
            # rather than staging the work tree again (two fewer git runs per step).
            before: str | None = self._next_start
        else:
            before = await snapshots.track(shadow)
        self._next_start = None
        if before is not None and not self._snapshots:
            self._shadow = shadow
            self._snapshots.append(before)
        await self._save_part(self._part("step-start", **({"snapshot": before} if before else {})))

        attempt = 0
        while True:
            attempt += 1
            try:
                finish, usage, calls = await self._stream(system, conv, [t.spec() for t in tools])
                break
            except provider.ProviderError as exc:
                await self._close_segments()
                await self._close_tools(f"The model's answer failed: {exc.message}")
                if (
                    exc.retryable
                    and not isinstance(exc, provider.StreamDropped)
                    and attempt <= MAX_RETRIES
                ):
                    delay = _retry_delay(exc, attempt)
                    self.rt.set_status(
                        self.sid,
                        {
                            "type": "retry",
                            "attempt": attempt,
                            "message": exc.message,
                            "next": now_ms() + int(delay * 1000),
                        },
                    )
                    await asyncio.sleep(delay)
                    self.rt.set_status(self.sid, {"type": "busy"})
                    continue
                await self._fail(_error_json(exc, turn.model.provider_id))
                self.blocked = True
                return "error"

        for call in calls:
            await self._run_tool(call, {t.name: t for t in tools})
            if self.blocked:
                break
        await self._close_tools("Skipped: an earlier tool call was rejected")

        tokens = _tokens(usage)
        cost = _cost(turn.model, usage)
        after: dict[str, str] = {}
        closing: list[Json] = []
        looked = await snapshots.patch(shadow, before) if calls else None
        if looked is not None:
            changed, end = looked
            if changed.files:
                closing.append(self._part("patch", hash=changed.hash, files=changed.files))
            after = {"snapshot": end}
            self._snapshots.append(end)
            self._next_start = end
        closing.append(self._part("step-finish", reason=finish, cost=cost, tokens=tokens, **after))
        assistant = turn.assistant
        assistant["tokens"] = tokens
        assistant["cost"] = cost
        assistant["finish"] = finish
        assistant["time"]["completed"] = now_ms()
        await self.rt.sessions.finish_step(
            detached(assistant),
            [detached(p) for p in closing],
            lambda info: _add_usage(info, tokens, cost),
        )
        return finish

    async def _stream(
        self, system: str, conv: list[Json], specs: list[Json]
    ) -> tuple[str, provider.Usage, list[provider.ToolCallEnd]]:
        finish = "other"
        usage = provider.Usage()
        calls: list[provider.ToolCallEnd] = []
        model = self.turn.model
        agent = self.turn.agent
        tuning = {"temperature": agent.temperature, "topP": agent.top_p}
        tuning = {k: v for k, v in tuning.items() if v is not None}
        if tuning:
            model = dataclasses.replace(model, options={**model.options, **tuning})
        # What one network read carried (a fast model's hundred chunks, or whatever piled up
        # while this turn was busy) is handled, and sent on, as one.
        answer = sharing(provider.stream(model, system, conv, specs))
        async with contextlib.aclosing(answer):
            async for burst in answer:
                for event in merged(burst):
                    await self._on_stream_event(event, calls)
                    if isinstance(event, provider.Finish):
                        finish, usage = event.reason, event.usage
        return finish, usage, calls

    async def _on_stream_event(
        self, event: provider.StreamEvent, calls: list[provider.ToolCallEnd]
    ) -> None:
        if isinstance(event, provider.TextDelta | provider.ReasoningDelta):
            await self._delta(
                "text" if isinstance(event, provider.TextDelta) else "reasoning", event.text
            )
        elif isinstance(event, provider.ToolCallStart):
            await self._close_segments()
            await self._tool_part(event.id, event.name)
        elif isinstance(event, provider.ToolCallEnd):
            await self._close_segments()
            part = self.turn.open_parts.get(event.id) or await self._tool_part(event.id, event.name)
            part["state"] = {"status": "pending", "input": event.input, "raw": event.raw}
            calls.append(event)
        elif isinstance(event, provider.Finish):
            await self._close_segments()

    async def _delta(self, kind: str, text: str) -> None:
        other = "reasoning" if kind == "text" else "text"
        if other in self.turn.open_parts:
            await self._close(other)
        part = self.turn.open_parts.get(kind)
        if part is None:
            part = self._part(kind, text="", time={"start": now_ms()})
            self.turn.open_parts[kind] = part
            self._announce(part)
        part["text"] += text
        # Deltas are ephemeral: the full part is stored when its segment ends.
        self.rt.emit(
            self.sid,
            "message.part.delta",
            {
                "sessionID": self.sid,
                "messageID": part["messageID"],
                "partID": part["id"],
                "field": "text",
                "delta": text,
            },
        )

    async def _close(self, kind: str) -> None:
        part = self.turn.open_parts.pop(kind)
        part["time"]["end"] = now_ms()
        await self._save_part(part)

    async def _close_segments(self) -> None:
        for kind in ("text", "reasoning"):
            if kind in self.turn.open_parts:
                await self._close(kind)

    async def _close_tools(self, reason: str) -> None:
        """Tool parts that will never run end as errors rather than stay pending."""
        for key, part in list(self.turn.open_parts.items()):
            if part["type"] == "tool":
                part["state"] = _error_state(part["state"].get("input") or {}, reason, now_ms())
                self.turn.open_parts.pop(key)
                await self._save_part(part)

    async def _tool_part(self, call_id: str, name: str) -> Json:
        part = self._part(
            "tool", callID=call_id, tool=name, state={"status": "pending", "input": {}, "raw": ""}
        )
        self.turn.open_parts[call_id] = part
        await self._save_part(part)
        return part

    async def _run_tool(self, call: provider.ToolCallEnd, tools: dict[str, tool.Tool]) -> None:
        turn = self.turn
        part = turn.open_parts[call.id]
        start = now_ms()
        part["state"] = {"status": "running", "input": call.input, "time": {"start": start}}
        await self._save_part(part)
        impl = tools.get(call.name)
        state: Json
        try:
            if impl is None:
                raise tool.ToolError(
                    f"Unknown tool: {call.name}. Available tools: {', '.join(sorted(tools))}"
                )
            ctx = tool.ToolContext(
                directory=turn.session["directory"],
                session_id=self.sid,
                message_id=part["messageID"],
                call_id=call.id,
                agent=turn.agent.name,
                sessions=self.rt.sessions,
                ask=self._asker(call),
                run_subagent=self._subagent,
            )
            await self.doom.check(call.name, call.input, ctx.ask)
            result = await impl.run(call.input, ctx)
            for path in result.edited:
                self.rt.emit(self.sid, "file.edited", {"file": path})
            state = {
                "status": "completed",
                "input": call.input,
                "output": result.output,
                "title": result.title,
                "metadata": result.metadata,
                "time": {"start": start, "end": now_ms()},
            }
            if result.attachments:
                state["attachments"] = result.attachments
        except NotFoundError:
            raise
        except RejectedError as exc:
            self.blocked = True
            state = _error_state(call.input, str(exc), start)
        except (tool.ToolError, DeniedError) as exc:
            state = _error_state(call.input, str(exc), start)
        except Exception as exc:  # a tool's own failure goes back to the model, not up the stack
            state = _error_state(call.input, f"{type(exc).__name__}: {exc}", start)
        part["state"] = state
        turn.open_parts.pop(call.id, None)
        await self._save_part(part)

    def _asker(
        self, call: provider.ToolCallEnd
    ) -> Callable[[str, list[str], Json], Awaitable[None]]:
        rules = self.turn.agent.permission + list(self.turn.session.get("permission") or [])
        assert self.turn.assistant is not None
        tool_ref = {"messageID": self.turn.assistant["id"], "callID": call.id}

        async def ask(permission: str, patterns: list[str], metadata: Json) -> None:
            await self.rt.permissions.ask(rules, self.sid, permission, patterns, metadata, tool_ref)

        return ask

    async def _subagent(
        self, description: str, prompt: str, agent: str, task_id: str | None = None
    ) -> tuple[str, str]:
        return await self.rt.run_subagent(self.turn, description, prompt, agent, task_id)

    async def _fail(self, error: Json) -> None:
        assistant = self.turn.assistant
        assert assistant is not None
        assistant["error"] = error
        assistant["time"]["completed"] = now_ms()
        await self._save_message()
        self.rt.emit(self.sid, "session.error", {"sessionID": self.sid, "error": error})

    async def failed(self, message: str) -> Json | None:
        """After an unexpected error: close what was open and record it on the message."""
        return await self._finish_with({"name": "UnknownError", "data": {"message": message}})

    async def aborted(self) -> Json | None:
        """After a cancel: close what was open and mark the message aborted."""
        return await self._finish_with(dict(ABORTED))

    async def _finish_with(self, error: Json) -> Json | None:
        if self.turn.assistant is None:
            return None
        end = now_ms()
        for key, part in list(self.turn.open_parts.items()):
            if part["type"] == "tool":
                state = part["state"]
                start = (state.get("time") or {}).get("start", end)
                part["state"] = {
                    "status": "error",
                    "input": state.get("input") or {},
                    "error": "Tool execution aborted"
                    if error["name"] == "MessageAbortedError"
                    else "Tool execution interrupted",
                    "time": {"start": start, "end": end},
                }
            else:
                part["time"]["end"] = end
            await self._save_part(part)
            self.turn.open_parts.pop(key, None)
        await self._fail(error)
        with contextlib.suppress(NotFoundError):
            return await self.rt.sessions.message(self.sid, self.turn.assistant["id"])
        return None
