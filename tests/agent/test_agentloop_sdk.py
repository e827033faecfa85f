"""Title, summarize and shell through the official JavaScript SDK (v2 client), run by node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from tests import jssdk
from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply

SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const opts = { throwOnError: true };
const session = await client.session.create({}, opts);
const sessionID = session.data.id;
await client.session.prompt(
  { sessionID, parts: [{ type: "text", text: "OLD-QUESTION" }] }, opts);
const summarized = await client.session.summarize(
  { sessionID, providerID: "fake", modelID: "m1" }, opts);
const shell = await client.session.shell(
  { sessionID, agent: "build", command: "echo from-sdk" }, opts);
const missing = await client.session.shell(
  { sessionID: "ses_nope", agent: "build", command: "true" });
let title = "";
for (let i = 0; i < 100 && !title.startsWith("SDK"); i++) {
  title = (await client.session.get({ sessionID }, opts)).data.title;
  await new Promise((r) => setTimeout(r, 50));
}
const messages = await client.session.messages({ sessionID }, opts);
console.log(JSON.stringify({
  summarized: summarized.data, shell: shell.data, missing: missing.response.status, title,
  messages: messages.data,
}));
"""


def test_summarize_and_shell_through_js_sdk(
    js_sdk: Path, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.title = "SDK session"
    openai_fake.script = [Reply(text="old answer"), Reply(text="THE-SUMMARY")]
    out = jssdk.run(js_sdk, SCRIPT, agent.server.url, agent.project)
    assert out["summarized"] is True
    assert out["title"] == "SDK session"
    part = out["shell"]["parts"][0]
    assert (part["tool"], part["state"]["status"], part["state"]["output"]) == (
        "bash",
        "completed",
        "from-sdk\n",
    )
    assert out["missing"] == 404
    summaries = [m for m in out["messages"] if m["info"].get("summary")]
    assert len(summaries) == 1
    assert "OLD-QUESTION" in orjson.dumps(openai_fake.requests[1]).decode()
