"""Runs prompts one at a time per session: queueing, status, abort, and stopping on delete."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pyopencode.agent import compaction, title
from pyopencode.agent.agents import get_agent
from pyopencode.agent.loop import Loop, Runtime, Turn
from pyopencode.bus import SESSION_ABORT, SESSION_HEARTBEAT, Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.permission import Permissions
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.tool import ToolError
from pyopencode.vocab import Json, Place

log = logging.getLogger(__name__)

ABORT_WAIT_SECONDS = 5.0
# Prompts that may wait behind a running one on a session; more are refused, not stored.
MAX_QUEUED = 64
# With a shared store, the owner of a busy session repeats its status this often, so other
# instances can drop it (session/status.py, STATUS_TTL_SECONDS) when the owner dies.
HEARTBEAT_SECONDS = 5.0


@dataclass
class Job:
    turn: Turn
    future: asyncio.Future[Json]
    aborted: bool = False
    # Work other than answering the turn's prompt (shell, summarize); queued like prompts.
    run: Callable[[], Coroutine[Any, Any, Json | None]] | None = None


@dataclass
class _Work:
    queue: deque[Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    current: asyncio.Task[Json | None] | None = None


async def _nothing() -> Json | None:
    return None


class Runner:
    """One per server. Prompts on one session run in order; sessions run side by side."""

    def __init__(self, sessions: SessionService, bus: Bus, status: dict[str, Json]) -> None:
        self.sessions = sessions
        self.bus = bus
        self.status = status
        self.permissions = Permissions(self._emit)
        self._work: dict[str, _Work] = {}
        # Where each active session lives, so ephemeral events reach the right subscribers.
        self._places: dict[str, Place] = {}
        self._gone: set[str] = set()
        # A shared store carries status to every instance; sent in order by one task.
        self._shared = sessions.shared
        self._current: dict[str, Json] = {}
        self._outbox: asyncio.Queue[list[Event]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Sessions recently deleted anywhere, so a status queued before that is not sent after.
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._runtime = Runtime(
            sessions=sessions,
            permissions=self.permissions,
            emit=self._emit,
            set_status=self._set_status,
            run_subagent=self._run_subagent,
            compact=compaction.auto_compact,
        )
        bus.listen(self._on_event)
        # The bus closes every subscription when the server begins to stop (cli.py). This one
        # accepts no events; it exists to hear that, so running prompts end as aborted (and
        # their callers get an answer) instead of being cut off by the shutdown timeout.
        self._stopping = bus.subscribe(lambda _event: False)
        self._watcher = asyncio.get_running_loop().create_task(self._abort_on_stop())
        if self._shared:
            self._spawn(self._send_outbox())
            self._spawn(self._heartbeat())

    # --- events
    def _emit(self, session_id: str, kind: str, properties: Json) -> None:
        if session_id in self._gone:
            return  # nothing about a deleted session may follow its session.deleted
        directory, project = self._where(session_id)
        self.bus.publish([Event(kind, properties, directory=directory, project=project)])

    def _where(self, session_id: str) -> tuple[str | None, str | None]:
        place = self._places.get(session_id)
        return (place.directory, place.project) if place else (None, None)

    def _set_status(self, session_id: str, status: Json) -> None:
        if session_id in self._gone:
            return
        if self._shared:
            self._broadcast_status(session_id, status)
            return
        if status["type"] == "idle":
            self.status.pop(session_id, None)
        else:
            self.status[session_id] = status
        self._emit(session_id, "session.status", {"sessionID": session_id, "status": status})
        if status["type"] == "idle":
            self._emit(session_id, "session.idle", {"sessionID": session_id})

    def _broadcast_status(self, session_id: str, status: Json) -> None:
        """Every instance's status board follows these (session/status.py), this one's included."""
        directory, project = self._where(session_id)
        events = [
            Event(
                "session.status",
                {"sessionID": session_id, "status": status},
                directory=directory,
                project=project,
            )
        ]
        if status["type"] == "idle":
            self._current.pop(session_id, None)
            events.append(
                Event(
                    "session.idle", {"sessionID": session_id}, directory=directory, project=project
                )
            )
        else:
            self._current[session_id] = status
        self._outbox.put_nowait(events)

    async def _send_outbox(self) -> None:
        while True:
            events = await self._outbox.get()
            sid = events[0].properties["sessionID"]
            if sid in self._gone or sid in self._deleted:
                continue  # deleted meanwhile: nothing may follow its session.deleted
            try:
                await self.sessions.broadcast(events)
            except Exception as exc:  # the store may be down or closing; status is best effort
                log.warning("could not broadcast %s: %s", events[0].type, exc)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for session_id in list(self._work):
                if session_id in self._gone:
                    continue
                status = self._current.get(session_id, {"type": "busy"})
                props = {"sessionID": session_id, "status": status}
                self._outbox.put_nowait([Event(SESSION_HEARTBEAT, props)])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def owns(self, session_id: str) -> bool:
        """Whether a prompt of this session runs or waits here."""
        return session_id in self._work

    def _on_event(self, event: Event) -> None:
        if event.type == SESSION_ABORT:
            aborted = event.properties.get("sessionID")
            if isinstance(aborted, str) and aborted in self._work:
                self._spawn(self.abort(aborted))
            return
        if event.type != "session.deleted":
            return
        session_id = event.properties["sessionID"]
        if self._shared:
            self._deleted[session_id] = None
            if len(self._deleted) > 4096:
                self._deleted.popitem(last=False)
        work = self._work.get(session_id)
        inline = session_id in self._places
        if work is None and not inline:
            return
        self._gone.add(session_id)
        self.status.pop(session_id, None)
        self._current.pop(session_id, None)
        self.permissions.forget(session_id)
        if work is None:
            return
        while work.queue:
            job = work.queue.popleft()
            if not job.future.done():
                job.future.set_exception(NotFoundError.session(session_id))
        if work.current is not None:
            work.current.cancel()

    # --- prompts
    def check_room(self, session_id: str) -> None:
        work = self._work.get(session_id)
        if work is not None and len(work.queue) >= MAX_QUEUED:
            raise BadRequestError(
                f"Session {session_id} already has {MAX_QUEUED} prompts waiting; "
                "try again when it is idle",
                field="parts",
            )

    def submit(
        self, turn: Turn, run: Callable[[], Coroutine[Any, Any, Json | None]] | None = None
    ) -> asyncio.Future[Json]:
        """Queue a prompt; the future resolves to the final assistant message's {info, parts}.

        With `run`, the job runs that instead of answering the turn (its result is the
        future's; None means the session is gone), with the same status and abort."""
        session_id = turn.session["id"]
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        work = self._work.get(session_id)
        if work is None:
            work = self._work[session_id] = _Work()
            self._places[session_id] = Place.of(turn.session)
            work.queue.append(Job(turn, future, run=run))
            work.worker = asyncio.create_task(self._drain(session_id, work))
        else:
            work.queue.append(Job(turn, future, run=run))
        return future

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    async def _drain(self, session_id: str, work: _Work) -> None:
        self._set_status(session_id, {"type": "busy"})
        try:
            while work.queue and session_id not in self._gone:
                job = work.queue.popleft()
                if job.aborted:
                    reply = self._aborted_reply(job.turn) if job.run is None else _nothing()
                    await self._settle(job, reply)
                    continue
                run = self._run(job.turn) if job.run is None else job.run()
                work.current = asyncio.create_task(run)
                await self._settle(job, work.current)
                work.current = None
        finally:
            self._work.pop(session_id, None)
            self._set_status(session_id, {"type": "idle"})
            self._places.pop(session_id, None)
            self._gone.discard(session_id)

    async def _settle(self, job: Job, run: Any) -> None:
        try:
            result = await run
        except asyncio.CancelledError:
            if not job.future.done():
                job.future.set_exception(NotFoundError.session(job.turn.session["id"]))
            return
        except Exception as exc:  # settle the caller whatever happened; the server stays up
            if not isinstance(exc, NotFoundError):
                log.exception("agent loop failed")
            if not job.future.done():
                job.future.set_exception(exc)
            return
        if not job.future.done():
            if result is None:
                job.future.set_exception(NotFoundError.session(job.turn.session["id"]))
            else:
                job.future.set_result(result)

    async def answer(self, turn: Turn) -> Json | None:
        """Answers `turn` inside a job that already holds the session (see `submit`)."""
        return await self._run(turn)

    async def _run(self, turn: Turn) -> Json | None:
        loop = Loop(self._runtime, turn)
        if turn.depth == 0:
            self._spawn(self._title(turn))
        try:
            result = await loop.run()
            await compaction.prune(self.sessions, turn.session)
            return result
        except asyncio.CancelledError:
            if turn.session["id"] in self._gone:
                raise
            # Aborted: record it, then finish normally so the caller gets the message.
            with contextlib.suppress(NotFoundError):
                return await loop.aborted()
            return None
        except NotFoundError:
            return None  # the session was deleted under us: end quietly, write nothing more
        except Exception as exc:
            log.exception("agent loop failed")
            # Recorded on the message like any other failure; the caller gets an answer.
            with contextlib.suppress(NotFoundError):
                return await loop.failed(f"{type(exc).__name__}: {exc}")
            return None

    async def _title(self, turn: Turn) -> None:
        """Beside the answer: a failure here never reaches the prompt's caller."""
        try:
            await title.ensure(self.sessions, turn)
        except Exception:
            log.exception("title generation failed")

    async def _aborted_reply(self, turn: Turn) -> Json | None:
        loop = Loop(self._runtime, turn)
        turn.assistant = turn.new_assistant()
        try:
            return await loop.aborted()
        except NotFoundError:
            return None

    async def abort(self, session_id: str) -> bool:
        """Stop the running prompt and everything queued behind it; returns once stopped."""
        work = self._work.get(session_id)
        if work is None:
            return True
        for job in work.queue:
            job.aborted = True
        current = work.current
        if current is not None:
            current.cancel()
            await asyncio.wait({current}, timeout=ABORT_WAIT_SECONDS)
        return True

    async def abort_all(self) -> None:
        await asyncio.gather(*(self.abort(sid) for sid in list(self._work)))

    async def _abort_on_stop(self) -> None:
        while True:
            try:
                await self._stopping.next(3600)
            except StopAsyncIteration:
                break
        await self.abort_all()

    # --- sub-agents
    async def _run_subagent(
        self,
        parent_turn: Turn,
        description: str,
        prompt: str,
        agent_name: str,
        task_id: str | None = None,
    ) -> tuple[str, str]:
        from pyopencode import config
        from pyopencode import message as message_rules

        parent, model = parent_turn.session, parent_turn.model
        cfg = await asyncio.to_thread(config.load, parent["directory"])
        agent = get_agent(cfg, agent_name)
        instance = Instance(
            directory=parent["directory"],
            project_id=parent["projectID"],
            worktree=parent_turn.root,
            vcs=None,
        )
        # A task_id continues an earlier sub-agent session of this parent, history and all.
        if task_id:
            try:
                child = await self.sessions.get(task_id)
            except NotFoundError:
                child = {}
            if child.get("parentID") != parent["id"]:
                raise ToolError(f"No task {task_id} to resume in this session")
        else:
            child = await self.sessions.create(
                instance,
                {"parentID": parent["id"], "title": f"{description} (@{agent.name} subagent)"},
            )
        info, parts = message_rules.user_message(
            child,
            {
                "agent": agent.name,
                "model": {"providerID": model.provider_id, "modelID": model.model_id},
                "parts": [{"type": "text", "text": prompt}],
            },
        )
        await self.sessions.update_message(info, parts)
        self._places[child["id"]] = Place.of(child)
        turn = Turn(
            session=child,
            user=info,
            agent=agent,
            model=model,
            history_until=info["id"],
            root=instance.worktree,
            depth=1,
        )
        loop = Loop(self._runtime, turn)
        try:
            result = await loop.run()
        except asyncio.CancelledError:
            if child["id"] not in self._gone and parent["id"] not in self._gone:
                with contextlib.suppress(NotFoundError):
                    await loop.aborted()
            raise
        except NotFoundError as exc:
            if parent["id"] in self._gone:
                raise
            raise ToolError("The sub-agent's session was deleted while it worked") from exc
        finally:
            self._places.pop(child["id"], None)
            self._gone.discard(child["id"])
            self._current.pop(child["id"], None)
        text = "".join(p.get("text", "") for p in result["parts"] if p["type"] == "text")
        return child["id"], text
