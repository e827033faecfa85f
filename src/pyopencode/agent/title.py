"""Titles: a short name for a new session, asked of the small model beside its first answer."""

from __future__ import annotations

import asyncio
import logging
import re

from pyopencode import config, provider
from pyopencode.agent.agents import get_agent
from pyopencode.agent.loop import Turn
from pyopencode.errors import BadRequestError, NotFoundError, OpencodeError
from pyopencode.provider import ResolvedModel
from pyopencode.session.service import SessionService
from pyopencode.vocab import Json, now_ms

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 100
# What the first message may contribute to the title request.
MAX_PROMPT_CHARS = 8_000
_DEFAULT = re.compile(
    r"^(New session|Child session) - \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
)
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)

TITLE_PROMPT = """\
You name conversations. Reply with a title for the conversation the user shows you, and \
nothing else: no quotes, no preamble, no trailing punctuation.

The title:
- is one line of at most 50 characters;
- says what the user wants, in the user's language, using their key terms \
(file names, tools, errors);
- reads like a heading, e.g. "Fix flaky login test", "Add CSV export to reports", \
"Explain the retry logic in sync.py";
- for a greeting or a message with no task, is a short plain summary such as "Greeting".

Never answer the message itself and never use tools."""


def is_default(title: str) -> bool:
    return bool(_DEFAULT.match(title))


def clean(answer: str) -> str:
    """The model's answer as a title: its first real line, unquoted, within the limit."""
    text = _THINKING.sub("", answer)
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    line = line.strip("\"'`*# ").strip()
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 3] + "..."
    return line


class _Kept(Exception):
    """The title changed meanwhile (a rename): the generated one is not stored."""


def _model(cfg: Json, fallback: ResolvedModel) -> ResolvedModel:
    small = cfg.get("small_model")
    if isinstance(small, str) and "/" in small:
        provider_id, model_id = small.split("/", 1)
        try:
            return provider.resolve(cfg, provider_id, model_id)
        except OpencodeError:
            log.warning("small_model %s is not configured; titles use the session's model", small)
    return fallback


def _prompt(cfg: Json) -> str:
    """The hidden `title` agent's prompt (config may change it), else ours."""
    try:
        return get_agent(cfg, "title").prompt or TITLE_PROMPT
    except BadRequestError:
        return TITLE_PROMPT


async def _ask(model: ResolvedModel, system: str, text: str) -> str:
    request = "Generate a title for this conversation:\n\n" + text[:MAX_PROMPT_CHARS]
    chunks: list[str] = []
    async for events in provider.stream(model, system, [{"role": "user", "content": request}], []):
        chunks += (e.text for e in events if isinstance(e, provider.TextDelta))
    return "".join(chunks)


async def ensure(sessions: SessionService, turn: Turn) -> str | None:
    """Titles the session when `turn` answers its first prompt and the title is the default.

    Sub-agent sessions keep the title they were created with, as upstream's do. Any failure
    leaves the default title; the answer never waits for this."""
    session = turn.session
    if session.get("parentID") or not is_default(session["title"]):
        return None
    rows = await sessions.messages(session["id"])
    users = [
        r
        for r in rows
        if r["info"]["role"] == "user"
        and any(p["type"] == "text" and not p.get("synthetic") for p in r["parts"])
    ]
    if len(users) != 1 or users[0]["info"]["id"] != turn.user["id"]:
        return None
    text = "\n".join(
        p["text"] for p in users[0]["parts"] if p["type"] == "text" and not p.get("synthetic")
    )
    cfg = await asyncio.to_thread(config.load, session["directory"])
    try:
        title = clean(await _ask(_model(cfg, turn.model), _prompt(cfg), text))
    except provider.ProviderError as exc:
        log.warning("no title for %s: %s", session["id"], exc.message)
        return None
    if not title:
        return None

    def apply(info: Json) -> Json:
        if not is_default(info["title"]):
            raise _Kept
        info["title"] = title
        info["time"]["updated"] = now_ms()
        return info

    try:
        await sessions.update(session["id"], apply)
    except (_Kept, NotFoundError):
        return None
    return title
