"""`GET /api/question/request` (v2) while the agent's `question` tool waits: shape and scope."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.reference import require_spec
from tests.schema import reference

require_spec()

TEMPLATE = "/api/question/request"
QUESTION = {
    "question": "Which colour?",
    "header": "Colour",
    "options": [{"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}],
    "multiple": True,
}


def _listed(c: httpx.Client, directory: Path) -> list[dict[str, Any]]:
    r = c.get(TEMPLATE, params={"location[directory]": str(directory)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert reference().response_problems(TEMPLATE, "get", 200, body) == [], body
    assert body["location"]["directory"] == str(directory)
    data: list[dict[str, Any]] = body["data"]
    return data


def test_pending_question_listed_in_v2_shape(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = start_agent(provider_config(openai_fake))
    ask = Reply(tool_calls=[{"id": "q1", "name": "question", "input": {"questions": [QUESTION]}}])
    openai_fake.script = [ask, Reply(text="blue it is")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    c = agent.client
    sid = c.post("/session", json={}).json()["id"]
    assert _listed(c, agent.project) == []
    with agent.events() as rec:
        r = c.post(f"/session/{sid}/prompt_async", json={"parts": [{"type": "text", "text": "?"}]})
        assert r.status_code == 204, r.text
        asked = rec.wait_for(lambda e: e["type"] == "question.asked")["properties"]
        pending = _listed(c, agent.project)
        assert len(pending) == 1
        assert pending[0]["id"] == asked["id"] and pending[0]["sessionID"] == sid
        assert pending[0]["questions"] == [QUESTION]
        assert pending[0]["tool"]["callID"] == "q1"
        assert pending[0]["tool"]["messageID"].startswith("msg")
        # Asked in the agent's project: another location has none pending.
        assert _listed(c, elsewhere) == []
        r = c.post(f"/question/{asked['id']}/reply", json={"answers": [["Blue"]]})
        assert r.status_code == 200, r.text
        rec.wait_idle(sid)
    assert _listed(c, agent.project) == []
