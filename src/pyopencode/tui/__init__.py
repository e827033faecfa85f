"""UI control: what `/tui/*` asks an attached OpenCode UI to do, and the UI's request queue."""

from __future__ import annotations

import asyncio
from typing import Any

Json = dict[str, Any]

# Command names of the older UI's keybindings, as `/tui/execute-command` accepts them, and the
# command ids the current UI runs. Anything else is passed through unchanged.
COMMAND_ALIASES = {
    "session_new": "session.new",
    "session_share": "session.share",
    "session_interrupt": "session.interrupt",
    "session_compact": "session.compact",
    "messages_page_up": "session.page.up",
    "messages_page_down": "session.page.down",
    "messages_line_up": "session.line.up",
    "messages_line_down": "session.line.down",
    "messages_half_page_up": "session.half.page.up",
    "messages_half_page_down": "session.half.page.down",
    "messages_first": "session.first",
    "messages_last": "session.last",
    "agent_cycle": "agent.cycle",
}

# The command each `/tui/<route>` without a body runs in the UI.
ROUTE_COMMANDS = {
    "open-help": "help.show",
    "open-sessions": "session.list",
    "open-themes": "theme.switch",
    "open-models": "model.list",
    "submit-prompt": "prompt.submit",
    "clear-prompt": "prompt.clear",
}

DEFAULT_TOAST_MS = 5000
# Requests waiting for a UI to take them, and answers waiting for their caller; both bounded.
QUEUE_SIZE = 64


def command(name: str) -> str:
    return COMMAND_ALIASES.get(name, name)


class ControlQueue:
    """Requests for the UI, taken one at a time with `next`, answered in order with `respond`.

    A UI long-polls `GET /tui/control/next` for `{path, body}` and posts its answer to
    `/tui/control/response`; `call` is the in-process side that asks and waits.
    """

    def __init__(self) -> None:
        self._requests: asyncio.Queue[Json] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._responses: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)

    async def next(self) -> Json:
        return await self._requests.get()

    def respond(self, body: Any) -> None:
        if self._responses.full():
            # Nobody is waiting for this many answers: the oldest can no longer matter.
            self._responses.get_nowait()
        self._responses.put_nowait(body)

    async def call(self, path: str, body: Any, timeout: float) -> Any:
        self._requests.put_nowait({"path": path, "body": body})
        return await asyncio.wait_for(self._responses.get(), timeout)
