"""Questions the agent asks the user: `question.asked`, a wait, then a reply or a rejection."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from pyopencode import ids
from pyopencode.bus import Event
from pyopencode.errors import NotFoundError
from pyopencode.session.service import SessionService

Json = dict[str, Any]


class QuestionRejectedError(Exception):
    """The user dismissed the question; the agent loop stops after this tool."""


@dataclass
class _Pending:
    request: Json
    future: asyncio.Future[list[list[str]]]
    directory: str | None
    project: str | None


@dataclass
class Questions:
    """Pending questions of one server; events reach every instance sharing its store."""

    sessions: SessionService
    pending: dict[str, _Pending] = field(default_factory=dict)

    def requests(self) -> list[Json]:
        return [p.request for p in self.pending.values()]

    def requests_v2(self, directory: str) -> list[Json]:
        """Requests asked at `directory` (or at no known one), in the v2 API's shape."""
        return [to_v2(p.request) for p in self.pending.values() if p.directory in (None, directory)]

    async def _publish(self, pending: _Pending, kind: str, properties: Json) -> None:
        event = Event(kind, properties, directory=pending.directory, project=pending.project)
        await self.sessions.broadcast([event])

    async def ask(
        self,
        session_id: str,
        questions: list[Json],
        tool: Json | None = None,
        directory: str | None = None,
        project: str | None = None,
    ) -> list[list[str]]:
        """Waits for the user's answers, one list of chosen labels per question."""
        request: Json = {
            "id": ids.ascending("que"),
            "sessionID": session_id,
            "questions": questions,
        }
        if tool is not None:
            request["tool"] = tool
        future: asyncio.Future[list[list[str]]] = asyncio.get_running_loop().create_future()
        pending = _Pending(request, future, directory, project)
        self.pending[request["id"]] = pending
        try:
            await self._publish(pending, "question.asked", request)
            return await future
        except asyncio.CancelledError:
            if request["id"] in self.pending:
                await asyncio.shield(self._withdraw(pending))
            raise
        finally:
            self.pending.pop(request["id"], None)

    async def _withdraw(self, pending: _Pending) -> None:
        """An aborted prompt's question is gone; a deleted session gets no event after its end."""
        session_id = pending.request["sessionID"]
        if await self.sessions.get_raw(session_id) is None:
            return
        await self._publish(
            pending,
            "question.rejected",
            {"sessionID": session_id, "requestID": pending.request["id"]},
        )

    def _take(self, request_id: str) -> _Pending:
        pending = self.pending.get(request_id)
        if pending is None or pending.future.done():
            raise NotFoundError(f"Question request not found: {request_id}")
        return pending

    async def reply(self, request_id: str, answers: list[list[str]]) -> None:
        pending = self._take(request_id)
        self.pending.pop(request_id, None)
        pending.future.set_result(answers)
        await self._publish(
            pending,
            "question.replied",
            {
                "sessionID": pending.request["sessionID"],
                "requestID": request_id,
                "answers": answers,
            },
        )

    async def reject(self, request_id: str) -> None:
        pending = self._take(request_id)
        self.pending.pop(request_id, None)
        pending.future.set_exception(
            QuestionRejectedError("The user dismissed this question without answering.")
        )
        await self._publish(
            pending,
            "question.rejected",
            {"sessionID": pending.request["sessionID"], "requestID": request_id},
        )


def _v2_question(info: Json) -> Json:
    out: Json = {
        "question": info["question"],
        "header": info["header"],
        "options": [
            {"label": o["label"], "description": o["description"]} for o in info["options"]
        ],
    }
    for key in ("multiple", "custom"):
        if key in info:
            out[key] = info[key]
    return out


def to_v2(request: Json) -> Json:
    """A pending request as the v2 API's `QuestionV2Request` (only the fields it declares)."""
    out: Json = {
        "id": request["id"],
        "sessionID": request["sessionID"],
        "questions": [_v2_question(q) for q in request["questions"]],
    }
    tool = request.get("tool")
    if isinstance(tool, dict) and "messageID" in tool and "callID" in tool:
        out["tool"] = {"messageID": tool["messageID"], "callID": tool["callID"]}
    return out


_SERVICES: weakref.WeakKeyDictionary[SessionService, Questions] = weakref.WeakKeyDictionary()


def service(sessions: SessionService) -> Questions:
    """The one question registry of the server that owns `sessions`."""
    questions = _SERVICES.get(sessions)
    if questions is None:
        questions = _SERVICES[sessions] = Questions(sessions)
    return questions
