"""One prompt through the official JavaScript SDK, `@opencode-ai/sdk`, run by node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node or npm is not installed, so the JS SDK cannot run")
    root = tmp_path_factory.mktemp("jssdk")
    (root / "package.json").write_text('{"name": "sdk-probe", "private": true, "type": "module"}')
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "@opencode-ai/sdk"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install @opencode-ai/sdk timed out")
    if done.returncode != 0:
        pytest.skip(f"npm install @opencode-ai/sdk failed: {done.stderr.strip()[-300:]}")
    (root / "prompt.mjs").write_text(SCRIPT)
    return root


def test_prompt_through_js_sdk(
    js_sdk: Path, openai_fake: FakeProvider, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(provider_config(openai_fake))
    openai_fake.script = [Reply(text="Hello from the fake model")]
    done = subprocess.run(
        ["node", "prompt.mjs"],
        cwd=js_sdk,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BASE_URL": agent.server.url, "DIR": str(agent.project)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    reply = out["reply"]
    assert reply["info"]["role"] == "assistant"
    assert reply["info"]["sessionID"] == out["session"]["id"]
    assert [p["text"] for p in reply["parts"] if p["type"] == "text"] == [
        "Hello from the fake model"
    ]
    assert out["providers"]["default"] == {"fake": "m1"}
