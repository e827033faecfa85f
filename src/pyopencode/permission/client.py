"""Permission requests raised by clients (`v2.session.permission.create`): decided by the same
rules as the agent's tools, and pending until a reply or until their session is deleted."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError
from pyopencode.permission.ruleset import Action, Rule, evaluate
from pyopencode.vocab import Json, Place

# Pending client requests per server; more are refused rather than kept without bound.
MAX_PENDING = 1024


def decide(rules: list[Rule], permission: str, patterns: list[str]) -> Action:
    """One answer for all `patterns`: any deny denies, any ask asks, else allow."""
    actions = {evaluate(rules, permission, pattern) for pattern in patterns or ["*"]}
    if "deny" in actions:
        return "deny"
    return "ask" if "ask" in actions else "allow"


@dataclass
class ClientRequests:
    bus: Bus
    pending: dict[str, tuple[Json, Place]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type != "session.deleted":
            return
        gone = event.properties.get("sessionID")
        for request_id, (request, _place) in list(self.pending.items()):
            if request["sessionID"] == gone:
                del self.pending[request_id]

    def _publish(self, place: Place, kind: str, properties: Json) -> None:
        event = Event(kind, properties, directory=place.directory, project=place.project)
        self.bus.publish([event])

    def open(self, request: Json, place: Place) -> None:
        """Keep `request` (v1's PermissionRequest shape) pending and announce it."""
        if request["id"] in self.pending:
            raise BadRequestError(f"Permission request already exists: {request['id']}", "id")
        if len(self.pending) >= MAX_PENDING:
            raise BadRequestError("Too many pending permission requests; reply to some first")
        self.pending[request["id"]] = (request, place)
        self._publish(place, "permission.asked", request)

    def of_session(self, session_id: str) -> list[Json]:
        return [
            request for request, _ in self.pending.values() if request["sessionID"] == session_id
        ]

    def reply(self, request_id: str, reply: str, approved: dict[str, list[Rule]]) -> Json | None:
        """Settle a pending request (None when there is none); `always` grants its patterns
        in `approved`, the session's grants that the agent's tools consult too."""
        found = self.pending.pop(request_id, None)
        if found is None:
            return None
        request, place = found
        if reply == "always":
            grants = approved.setdefault(request["sessionID"], [])
            for pattern in request["always"]:
                grants.append(
                    {"permission": request["permission"], "pattern": pattern, "action": "allow"}
                )
        properties = {"sessionID": request["sessionID"], "requestID": request_id, "reply": reply}
        self._publish(place, "permission.replied", properties)
        return request
