"""A catastrophic-backtracking pattern in `grep` must not stall the server (ripgrep is linear)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply

# Python's backtracking engine needs about 2**n steps for this on n a's and a mismatch: at
# 28 it froze every request for 17.7 s, and each extra character doubles it.
REDOS = "(a+)+$"


def test_redos_grep_leaves_health_answering(
    openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    (agent.project / "evil.txt").write_text("a" * 34 + "!\n" + "a" * 40 + "\n")
    call = {"id": "call_r", "name": "grep", "input": {"pattern": REDOS}}
    openai_fake.script = [Reply(tool_calls=[call]), Reply(text="done")]
    sid = agent.session()
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=agent.server.url, timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                assert client.get("/global/health").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        r = agent.prompt(sid, "search")
    finally:
        # Keep probing a little after the tool ran, then stop (bounded either way).
        time.sleep(0.3)
        stop.set()
        prober.join(15)
    assert r.status_code == 200, r.text
    assert latencies, "health was never probed"
    assert max(latencies) < 1.0, f"health stalled {max(latencies):.2f} s"
    parts = [p for m in agent.messages(sid).json() for p in m["parts"] if p["type"] == "tool"]
    state = parts[0]["state"]
    assert state["status"] == "completed", state
    # Only the all-a line matches `$` after the a's.
    assert f"{agent.project / 'evil.txt'}:2: {'a' * 40}" in state["output"]
    assert ":1:" not in state["output"]
