"""Questions and the new tools on PostgreSQL: events reach every instance, parts are stored."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import EventRecorder, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.parity import start
from tests.serverproc import RunningServer

Json = dict[str, Any]


@pytest.fixture
def openai_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


def test_question_on_postgres_reaches_every_instance(
    server_factory: Callable[..., RunningServer],
    fresh_pg_url: str,
    tmp_path: Path,
    openai_fake: FakeProvider,
) -> None:
    args = ["--database", fresh_pg_url]
    a = start(server_factory, tmp_path, provider_config(openai_fake), extra_args=args)
    b = start(server_factory, tmp_path, provider_config(openai_fake), extra_args=args)
    question = {"question": "Go?", "header": "Go", "options": [{"label": "Yes", "description": ""}]}
    openai_fake.script = [
        Reply(tool_calls=[{"id": "q", "name": "question", "input": {"questions": [question]}}]),
        Reply(tool_calls=[{"id": "w", "name": "webfetch", "input": {"url": "ftp://x"}}]),
        Reply(text="done"),
    ]
    sid = a.session()
    out: list[Any] = []
    body = {"parts": [{"type": "text", "text": "ask"}]}
    with EventRecorder(b.server.url, str(b.project)) as rec:
        thread = threading.Thread(
            target=lambda: out.append(
                a.client.post(f"/session/{sid}/message", json=body, timeout=60)
            )
        )
        thread.start()
        asked = rec.wait_for(lambda e: e["type"] == "question.asked")["properties"]
        assert asked["sessionID"] == sid
        r = a.client.post(f"/question/{asked['id']}/reply", json={"answers": [["Yes"]]})
        assert r.status_code == 200
        replied = rec.wait_for(lambda e: e["type"] == "question.replied")["properties"]
        assert replied == {"sessionID": sid, "requestID": asked["id"], "answers": [["Yes"]]}
        thread.join(30)
    assert out[0].status_code == 200, out[0].text
    # Stored in PostgreSQL, so the other instance reads the same parts.
    tools = {
        p["callID"]: p["state"]
        for m in b.client.get(f"/session/{sid}/message").json()
        for p in m["parts"]
        if p["type"] == "tool"
    }
    assert tools["q"]["status"] == "completed" and "Yes" in tools["q"]["output"]
    assert tools["w"]["status"] == "error"
