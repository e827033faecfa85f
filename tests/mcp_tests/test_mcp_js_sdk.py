"""The official JS SDK (v2) sees MCP status, adds a server, and a prompt uses an MCP tool."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tests import jssdk
from tests.agent.conftest import Agent, provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.mcp_tests.conftest import FIXTURE, local

SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const opts = { throwOnError: true };
const status = await client.mcp.status({}, opts);
const added = await client.mcp.add(
  { name: "more", config: { type: "local", command: JSON.parse(process.env.CMD), timeout: 60000 } },
  opts,
);
const off = await client.mcp.disconnect({ name: "more" }, opts);
const missing = await client.mcp.connect({ name: "nope" });
const session = await client.session.create({}, opts);
const reply = await client.session.prompt(
  { sessionID: session.data.id, parts: [{ type: "text", text: "use the tool" }] },
  opts,
);
const ids = await client.tool.ids({}, opts);
console.log(JSON.stringify({
  status: status.data, added: added.data, off: off.data,
  missing: { status: missing.response.status, error: missing.error },
  reply: reply.data, ids: ids.data,
}));
"""


def test_mcp_through_the_js_sdk(
    js_sdk: Path, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent({**provider_config(openai_fake), "mcp": {"fix": local()}})
    openai_fake.script = [
        Reply(tool_calls=[{"id": "c1", "name": "fix_echo", "input": {"text": "from js"}}]),
        Reply(text="done"),
    ]
    cmd = f'["{sys.executable}", "{FIXTURE}"]'
    out = jssdk.run(js_sdk, SCRIPT, agent.server.url, agent.project, CMD=cmd)
    assert out["status"] == {"fix": {"status": "connected"}}
    assert out["added"] == {"fix": {"status": "connected"}, "more": {"status": "connected"}}
    assert out["off"] is True
    assert out["missing"]["status"] == 404
    assert out["missing"]["error"]["_tag"] == "McpServerNotFoundError"
    assert [p["text"] for p in out["reply"]["parts"] if p["type"] == "text"] == ["done"]
    sid = out["reply"]["info"]["sessionID"]
    tool = next(p for m in agent.messages(sid).json() for p in m["parts"] if p["type"] == "tool")
    assert tool["tool"] == "fix_echo" and tool["state"]["output"] == "ECHO: FROM JS"
    assert "fix_echo" in out["ids"] and "more_echo" not in out["ids"]
