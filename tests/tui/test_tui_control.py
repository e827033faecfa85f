"""`/tui/*` drives the official OpenCode UI attached in tmux: the prompt box follows the API."""

from __future__ import annotations

from collections.abc import Callable

from tests.tui.conftest import LoggedServer, Tui, api

Attach = Callable[[str], Tui]


def test_append_prompt_reaches_the_prompt_box(logged_server: LoggedServer, attach: Attach) -> None:
    tui = attach(logged_server.url)
    tui.wait_for(lambda s: "Ask anything" in s and "tab agents" in s, "the home screen")
    with api(logged_server) as client:
        assert client.post("/tui/append-prompt", json={"text": "typed-by-the-api"}).json()
        tui.wait_text("typed-by-the-api", timeout=15)
        assert client.post("/tui/append-prompt", json={"text": " and-more"}).json()
        tui.wait_text("typed-by-the-api and-more", timeout=15)
        assert client.post("/tui/clear-prompt").json() is True
        tui.wait_for(lambda s: "typed-by-the-api" not in s, "the prompt cleared", timeout=15)
        toast = {"title": "From the API", "message": "toast-shown", "variant": "info"}
        assert client.post("/tui/show-toast", json=toast).json() is True
        tui.wait_text("toast-shown", timeout=15)
