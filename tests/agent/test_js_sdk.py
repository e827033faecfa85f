"""One prompt through the official JavaScript SDK, `@opencode-ai/sdk`, run by node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import jssdk
from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply

SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const session = await client.session.create({ body: {}, throwOnError: true });
const reply = await client.session.prompt({
  path: { id: session.data.id },
  body: { parts: [{ type: "text", text: "Say hello" }] },
  throwOnError: true,
});
const providers = await client.config.providers({ throwOnError: true });
const out = { session: session.data, reply: reply.data, providers: providers.data };
console.log(JSON.stringify(out));
"""


def test_prompt_through_js_sdk(
    js_sdk: Path, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="Hello from the fake model")]
    out = jssdk.run(js_sdk, SCRIPT, agent.server.url, agent.project)
    reply = out["reply"]
    assert reply["info"]["role"] == "assistant"
    assert reply["info"]["sessionID"] == out["session"]["id"]
    assert [p["text"] for p in reply["parts"] if p["type"] == "text"] == [
        "Hello from the fake model"
    ]
    assert out["providers"]["default"] == {"fake": "m1"}
