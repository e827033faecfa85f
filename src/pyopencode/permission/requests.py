"""Pending permission requests: `permission.asked`, a wait, and the user's reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pyopencode import ids
from pyopencode.errors import NotFoundError
from pyopencode.permission.ruleset import Rule, evaluate
from pyopencode.vocab import Json


class RejectedError(Exception):
    """The user refused; the agent loop stops after this tool."""


class DeniedError(Exception):
    """A deny rule refused; the model is told and may try something else."""


@dataclass
class _Pending:
    request: Json
    future: asyncio.Future[str]


@dataclass
class Permissions:
    # Publishes an ephemeral event for a session: (session_id, type, properties).
    publish: Callable[[str, str, Json], None]
    pending: dict[str, _Pending] = field(default_factory=dict)
    # Rules granted with "always", per session.
    approved: dict[str, list[Rule]] = field(default_factory=dict)

    def requests(self) -> list[Json]:
        return [p.request for p in self.pending.values()]

    async def ask(
        self,
        rules: list[Rule],
        session_id: str,
        permission: str,
        patterns: list[str],
        metadata: Json,
        tool: Json | None = None,
        always: list[str] | None = None,
    ) -> None:
        """Returns when every pattern is allowed; raises RejectedError otherwise."""
        effective = rules + self.approved.get(session_id, [])
        needed = []
        for pattern in patterns:
            action = evaluate(effective, permission, pattern)
            if action == "deny":
                raise DeniedError(f"Permission denied by configuration: {permission} {pattern}")
            if action == "ask":
                needed.append(pattern)
        if not needed:
            return
        request: Json = {
            "id": ids.ascending("per"),
            "sessionID": session_id,
            "permission": permission,
            "patterns": needed,
            "metadata": metadata,
            "always": always if always is not None else needed,
        }
        if tool is not None:
            request["tool"] = tool
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending[request["id"]] = _Pending(request, future)
        self.publish(session_id, "permission.asked", request)
        try:
            reply = await future
        except asyncio.CancelledError:
            # Aborted while waiting: tell clients the question is gone.
            self.publish(
                session_id,
                "permission.replied",
                {"sessionID": session_id, "requestID": request["id"], "reply": "reject"},
            )
            raise
        finally:
            self.pending.pop(request["id"], None)
        if reply == "reject":
            raise RejectedError("The user rejected permission to use this specific tool call.")

    def reply(self, request_id: str, reply: str) -> Json:
        pending = self.pending.get(request_id)
        if pending is None or pending.future.done():
            raise NotFoundError(f"Permission request not found: {request_id}")
        request = pending.request
        if reply == "always":
            grants = self.approved.setdefault(request["sessionID"], [])
            for pattern in request["always"]:
                grants.append(
                    {"permission": request["permission"], "pattern": pattern, "action": "allow"}
                )
        pending.future.set_result(reply)
        self.publish(
            request["sessionID"],
            "permission.replied",
            {"sessionID": request["sessionID"], "requestID": request_id, "reply": reply},
        )
        return request

    def forget(self, session_id: str) -> None:
        """Drop a deleted session's grants; its waiting asks end with the loop's cancel."""
        self.approved.pop(session_id, None)
