"""Commands, skills, agents, instructions, the system prompt, tool lists and share, served."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyopencode.config.command import expand, fill, hints
from tests.agent.conftest import provider_config
from tests.agent.fakes import FakeProvider, Reply
from tests.agent.parity import start, system_of, tool_names, with_model
from tests.schema import reference
from tests.serverproc import RunningServer

Json = dict[str, Any]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_commands_from_every_source_are_listed(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    config = {"command": {"deploy": {"template": "Deploy $1 now", "description": "Ship it"}}}
    p = start(server_factory, tmp_path, config)
    _write(
        p.project / ".opencode" / "command" / "hello.md",
        "---\ndescription: Say hello\nagent: plan\nmodel: fake/m1\nsubtask: true\n---\n"
        "Hello $2 and $1, all: $ARGUMENTS\n",
    )
    _write(p.project / ".opencode" / "commands" / "git" / "pr.md", "Open a PR for $ARGUMENTS\n")
    _write(p.home / ".config" / "opencode" / "command" / "mine.md", "Global one\n")
    r = p.client.get("/command")
    assert r.status_code == 200, r.text
    assert reference().response_problems("/command", "get", 200, r.json()) == []
    by_name = {c["name"]: c for c in r.json()}
    assert list(by_name)[:2] == ["init", "review"]
    assert by_name["review"]["subtask"] is True
    assert "$ARGUMENTS" in by_name["init"]["template"]
    assert by_name["hello"] == {
        "name": "hello",
        "description": "Say hello",
        "agent": "plan",
        "model": "fake/m1",
        "source": "command",
        "template": "Hello $2 and $1, all: $ARGUMENTS",
        "subtask": True,
        "hints": ["$1", "$2", "$ARGUMENTS"],
    }
    assert by_name["git/pr"]["template"] == "Open a PR for $ARGUMENTS"
    assert by_name["mine"]["template"] == "Global one"
    assert by_name["deploy"]["description"] == "Ship it"
    assert by_name["deploy"]["hints"] == ["$1"]

    # A broken front matter is a clear 400, not a 500.
    _write(p.project / ".opencode" / "command" / "bad.md", "---\n: [unclosed\n---\nx\n")
    r = p.client.get("/command")
    assert r.status_code == 400, r.text
    assert "bad.md" in r.text


def test_template_expansion(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("readme")
    (tmp_path / "src").mkdir()
    assert fill("a=$1 b=$2", 'one "two words" three') == "a=one b=two words three"
    assert fill("all: $ARGUMENTS", "x y") == "all: x y"
    assert fill("no placeholders", "extra words") == "no placeholders\n\nextra words"
    assert fill("$1|$3", "a") == "a|"
    assert hints("$2 $1 $ARGUMENTS $2") == ["$1", "$2", "$ARGUMENTS"]
    template = "Fix $1 in @README.md and @src, then @missing.txt. Branch: !`echo on-$((1+1))`"
    parts = asyncio.run(expand(template, "bug-42", str(tmp_path)))
    assert parts[0] == {
        "type": "text",
        "text": "Fix bug-42 in @README.md and @src, then @missing.txt. Branch: on-2",
    }
    assert parts[1:] == [
        {
            "type": "file",
            "url": (tmp_path / "README.md").resolve().as_uri(),
            "filename": "README.md",
            "mime": "text/plain",
        },
        {
            "type": "file",
            "url": (tmp_path / "src").resolve().as_uri(),
            "filename": "src",
            "mime": "application/x-directory",
        },
    ]
    agents = asyncio.run(expand("ask @explore", "", str(tmp_path), frozenset({"explore"})))
    assert agents[1:] == [{"type": "agent", "name": "explore"}]


def test_instructions_skills_and_environment_reach_the_model(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    config = {**provider_config(openai_fake), "instructions": ["docs/*.md", "missing.md"]}
    p = start(server_factory, tmp_path, config)
    (p.project / ".git").mkdir()
    sub = p.project / "pkg"
    _write(p.project / "AGENTS.md", "ROOT-AGENTS: run make check\n")
    _write(p.project / "CLAUDE.md", "CLAUDE-IGNORED\n")
    _write(sub / "AGENTS.md", "SUB-AGENTS: pkg rules\n")
    _write(p.project / "docs" / "style.md", "STYLE-GUIDE: tabs\n")
    _write(p.home / ".config" / "opencode" / "AGENTS.md", "GLOBAL-AGENTS: be kind\n")
    _write(
        p.project / ".opencode" / "skill" / "deploy" / "SKILL.md",
        "---\nname: deploy\ndescription: Deploys the app\n---\nRun ./deploy.sh\n",
    )
    _write(p.project / ".opencode" / "skill" / "nodesc" / "SKILL.md", "---\nname: x\n---\nhi\n")
    openai_fake.script = [Reply(text="ok")]
    client = p.client
    client.params = client.params.set("directory", str(sub))
    sid = p.session()
    r = client.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "hi"}]})
    assert r.status_code == 200, r.text
    system = system_of(openai_fake.requests[0])
    assert len(system) > 4000
    for marker in ("ROOT-AGENTS", "SUB-AGENTS", "STYLE-GUIDE", "GLOBAL-AGENTS"):
        assert marker in system
    assert "CLAUDE-IGNORED" not in system
    assert f"Instructions from: {(sub / 'AGENTS.md').resolve()}" in system
    assert f"Working directory: {sub}" in system
    assert "Is directory a git repo: yes" in system
    assert "<name>deploy</name>" in system
    assert "<name>x</name>" not in system
    tools = tool_names(openai_fake.requests[0])
    assert {"question", "skill", "webfetch", "edit", "write", "task", "read"} <= set(tools)
    assert "apply_patch" not in tools and "websearch" not in tools

    r = client.get("/skill")
    assert r.status_code == 200
    assert reference().response_problems("/skill", "get", 200, r.json()) == []
    assert [s["name"] for s in r.json()] == ["deploy"]
    assert r.json()[0]["content"].strip() == "Run ./deploy.sh"
    skills = [c for c in client.get("/command").json() if c["source"] == "skill"]
    assert [c["name"] for c in skills] == ["deploy"]


def test_anthropic_models_get_their_own_base_prompt(
    server_factory: Callable[..., RunningServer], tmp_path: Path, anthropic_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(anthropic_fake))
    _write(p.project / "AGENTS.md", "ANTH-AGENTS\n")
    anthropic_fake.script = [Reply(text="ok")]
    sid = p.session()
    r = p.client.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "hi"}]})
    assert r.status_code == 200, r.text
    system = system_of(anthropic_fake.requests[0])
    assert "# Thinking and tool use" in system and "ANTH-AGENTS" in system
    assert "Is directory a git repo: no" in system


def test_markdown_agent_is_listed_and_used(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    _write(
        p.project / ".opencode" / "agent" / "reviewer.md",
        "---\ndescription: Reviews code\nmode: primary\ntemperature: 0.1\n"
        "permission:\n  edit: deny\n---\nYou are REVIEWER-PROMPT.\n",
    )
    _write(
        p.home / ".config" / "opencode" / "agents" / "helper.md",
        "---\ndescription: Global helper\nmode: subagent\n---\nHELPER\n",
    )
    r = p.client.get("/agent")
    assert r.status_code == 200
    assert reference().response_problems("/agent", "get", 200, r.json()) == []
    agents = {a["name"]: a for a in r.json()}
    assert {"build", "plan", "general", "explore", "title", "summary", "compaction"} <= set(agents)
    assert {"reviewer", "helper"} <= set(agents)
    assert all(agents[n].get("hidden") for n in ("title", "summary", "compaction"))
    assert not agents["build"].get("hidden")
    reviewer = agents["reviewer"]
    assert reviewer["prompt"] == "You are REVIEWER-PROMPT." and reviewer["native"] is False
    assert reviewer["temperature"] == 0.1 and reviewer["mode"] == "primary"
    assert {"permission": "edit", "pattern": "*", "action": "deny"} in reviewer["permission"]
    build = agents["build"]["permission"]
    assert {"permission": "doom_loop", "pattern": "*", "action": "ask"} in build
    assert {"permission": "read", "pattern": "*.env", "action": "ask"} in build
    assert {"permission": "edit", "pattern": "*", "action": "deny"} in agents["plan"]["permission"]

    openai_fake.script = [Reply(text="reviewed")]
    sid = p.session()
    body = {"agent": "reviewer", "parts": [{"type": "text", "text": "review"}]}
    r = p.client.post(f"/session/{sid}/message", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["info"]["agent"] == "reviewer"
    request = openai_fake.requests[0]
    assert system_of(request).startswith("You are REVIEWER-PROMPT.")
    assert request["temperature"] == 0.1
    # The task tool lists the sub-agents, the markdown one included.
    task = next(t for t in request["tools"] if t["function"]["name"] == "task")
    assert "- helper: Global helper" in task["function"]["description"]
    assert "- explore:" in task["function"]["description"]


def test_tool_listing_routes(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    spec = reference()
    r = p.client.get("/experimental/tool/ids")
    assert r.status_code == 200
    assert spec.response_problems("/experimental/tool/ids", "get", 200, r.json()) == []
    assert {"apply_patch", "question", "skill", "webfetch", "task", "bash"} <= set(r.json())
    r = p.client.get("/experimental/tool", params={"provider": "fake", "model": "m1"})
    assert r.status_code == 200
    assert spec.response_problems("/experimental/tool", "get", 200, r.json()) == []
    listed = {t["id"]: t for t in r.json()}
    assert "edit" in listed and "apply_patch" not in listed
    assert listed["webfetch"]["parameters"]["properties"]["format"]["enum"] == [
        "text",
        "markdown",
        "html",
    ]
    assert listed["question"]["parameters"]["required"] == ["questions"]
    gpt = p.client.get("/experimental/tool", params={"provider": "openai", "model": "gpt-5"})
    ids = [t["id"] for t in gpt.json()]
    assert "apply_patch" in ids and "edit" not in ids and "write" not in ids
    assert listed["skill"]["parameters"]["required"] == ["name"]
    r = p.client.get("/experimental/tool", params={"provider": "fake"})
    assert r.status_code == 400


def test_share_is_disabled(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, provider_config(openai_fake))
    sid = p.session()
    before = p.client.get(f"/session/{sid}").json()
    for method in ("POST", "DELETE"):
        r = p.client.request(method, f"/session/{sid}/share")
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["name"] == "BadRequest" and "disabled" in body["data"]["message"]
        op = method.lower() if method == "DELETE" else "post"
        assert reference().response_problems("/session/{sessionID}/share", op, 400, body) == []
        missing = p.client.request(method, "/session/ses_0000000000000000000000000/share")
        assert missing.status_code == 404
        assert missing.json()["name"] == "NotFoundError"
    assert p.client.get(f"/session/{sid}").json() == before


def test_gpt_models_get_apply_patch(
    server_factory: Callable[..., RunningServer], tmp_path: Path, openai_fake: FakeProvider
) -> None:
    p = start(server_factory, tmp_path, with_model(openai_fake, "gpt-5-test"))
    openai_fake.script = [Reply(text="ok")]
    sid = p.session()
    r = p.client.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "x"}]})
    assert r.status_code == 200, r.text
    names = tool_names(openai_fake.requests[0])
    assert "apply_patch" in names and "edit" not in names
