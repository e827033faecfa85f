"""Commands, skills, tools and a question answered, driven by the official JS SDK (v2 client)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import jssdk
from tests.agent.conftest import provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.parity import start
from tests.serverproc import RunningServer

SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const session = await client.session.create({}, { throwOnError: true });
const sessionID = session.data.id;
const prompt = client.session.prompt({ sessionID, parts: [{ type: "text", text: "ask me" }] });
let pending = [];
for (let i = 0; i < 200 && pending.length === 0; i++) {
  pending = (await client.question.list({}, { throwOnError: true })).data;
  if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
}
const replied = await client.question.reply(
  { requestID: pending[0].id, answers: [["Yes"]] }, { throwOnError: true });
const reply = (await prompt).data;
const commands = (await client.command.list({}, { throwOnError: true })).data;
const skills = (await client.app.skills({}, { throwOnError: true })).data;
const ids = (await client.tool.ids({}, { throwOnError: true })).data;
const listed = await client.tool.list({ provider: "fake", model: "m1" }, { throwOnError: true });
const tools = listed.data;
const share = await client.session.share({ sessionID });
console.log(JSON.stringify({
  sessionID, pending, replied: replied.data, reply, commands, skills, ids,
  tools: tools.map((t) => t.id), shareError: share.error,
}));
"""


def test_parity_through_js_sdk(
    js_sdk: Path,
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    openai_fake: FakeProvider,
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    cmd = p.project / ".opencode" / "command" / "hello.md"
    cmd.parent.mkdir(parents=True)
    cmd.write_text("---\ndescription: Greets\n---\nHello $ARGUMENTS\n")
    skill = p.project / ".opencode" / "skill" / "lint" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text("---\nname: lint\ndescription: Lints\n---\nRun ruff.\n")
    question = {
        "question": "Proceed?",
        "header": "Proceed",
        "options": [{"label": "Yes", "description": "go"}, {"label": "No", "description": "stop"}],
    }
    openai_fake.script = [
        Reply(tool_calls=[{"id": "q", "name": "question", "input": {"questions": [question]}}]),
        Reply(text="proceeding"),
    ]
    out = jssdk.run(js_sdk, SCRIPT, p.server.url, p.project)
    assert out["pending"][0]["questions"] == [question]
    assert out["replied"] is True
    assert [x["text"] for x in out["reply"]["parts"] if x["type"] == "text"] == ["proceeding"]
    tool = next(
        x
        for m in p.client.get(f"/session/{out['sessionID']}/message").json()
        for x in m["parts"]
        if x["type"] == "tool"
    )
    assert tool["state"]["status"] == "completed" and "Yes" in tool["state"]["output"]
    names = [c["name"] for c in out["commands"]]
    assert names[:2] == ["init", "review"] and "hello" in names and "lint" in names
    assert [s["name"] for s in out["skills"]] == ["lint"]
    assert {"question", "skill", "webfetch", "apply_patch"} <= set(out["ids"])
    assert "question" in out["tools"] and "apply_patch" not in out["tools"]
    assert out["shareError"]["name"] == "BadRequest"
