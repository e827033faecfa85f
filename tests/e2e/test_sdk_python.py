"""End-to-end: drive a real `pyopencode serve` with the official OpenCode Python SDK."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import pytest

opencode_ai = pytest.importorskip(
    "opencode_ai",
    reason="official OpenCode Python SDK not installed (pip install 'opencode-ai==0.1.0a36')",
)

from opencode_ai import AsyncOpencode, NotFoundError, Opencode  # noqa: E402
from opencode_ai.types import Session  # noqa: E402

# Upstream OpenCode names a session created without a title "New session - <ISO time>".
DEFAULT_TITLE_PREFIX = "New session - "
CUSTOM_TITLE = "sdk e2e: custom title"
TIMEOUT_S = 30.0


class _Server(Protocol):
    url: str


def _get_session(client: Opencode, session_id: str) -> Session:
    # opencode-ai 0.1.0a36 has no `session.retrieve()`; its generic client.get() sends
    # the same GET /session/{id} that OpenCode's session.get operation serves.
    return client.get(f"/session/{session_id}", cast_to=Session)


async def _aget_session(client: AsyncOpencode, session_id: str) -> Session:
    return await client.get(f"/session/{session_id}", cast_to=Session)


def _assert_not_found(exc: NotFoundError) -> None:
    assert type(exc) is NotFoundError
    assert exc.status_code == 404
    assert exc.response.status_code == 404
    body: Any = exc.body
    assert isinstance(body, dict), f"404 body is not a JSON object: {body!r}"
    assert body.get("name") == "NotFoundError", body


def _assert_session_shape(session: Session) -> None:
    assert isinstance(session, Session)
    assert session.id.startswith("ses")
    assert isinstance(session.title, str) and session.title
    assert isinstance(session.version, str) and session.version
    assert session.time.created > 0
    assert session.time.updated >= session.time.created


def test_sdk_sync_session_lifecycle(server: _Server) -> None:
    # Strict validation makes the SDK reject any response missing a field its models require.
    with Opencode(
        base_url=server.url,
        max_retries=0,
        timeout=TIMEOUT_S,
        _strict_response_validation=True,
    ) as client:
        first = client.session.create()  # POST /session, empty body
        second = client.session.create(extra_body={"title": CUSTOM_TITLE})
        for created in (first, second):
            _assert_session_shape(created)
        assert first.id != second.id
        assert first.title.startswith(DEFAULT_TITLE_PREFIX), first.title
        assert second.title == CUSTOM_TITLE

        listed = client.session.list()
        assert isinstance(listed, list)
        # Subset checks only, so the test also holds if `server` is shared with other tests.
        titles = {s.id: s.title for s in listed}
        assert titles.get(first.id) == first.title, titles
        assert titles.get(second.id) == CUSTOM_TITLE, titles
        for s in listed:
            _assert_session_shape(s)

        got = _get_session(client, second.id)
        _assert_session_shape(got)
        assert got.id == second.id
        assert got.title == CUSTOM_TITLE
        assert got.time.created == second.time.created

        assert client.session.messages(second.id) == []

        deleted = client.session.delete(first.id)
        assert deleted is True  # SDK parses the body text: only `true` yields True

        remaining = {s.id for s in client.session.list()}
        assert first.id not in remaining
        assert second.id in remaining

        with pytest.raises(NotFoundError) as excinfo:
            _get_session(client, first.id)
        _assert_not_found(excinfo.value)

        with pytest.raises(NotFoundError) as excinfo:
            client.session.messages(first.id)
        _assert_not_found(excinfo.value)

        with pytest.raises(NotFoundError) as excinfo:
            client.session.delete(first.id)
        _assert_not_found(excinfo.value)

        # The surviving session is untouched.
        assert _get_session(client, second.id).title == CUSTOM_TITLE


async def _async_lifecycle(url: str) -> None:
    async with AsyncOpencode(base_url=url, max_retries=0, timeout=TIMEOUT_S) as client:
        session = await client.session.create()
        _assert_session_shape(session)
        assert session.id in {s.id for s in await client.session.list()}
        assert (await _aget_session(client, session.id)).id == session.id
        assert await client.session.messages(session.id) == []
        assert await client.session.delete(session.id) is True
        assert session.id not in {s.id for s in await client.session.list()}
        with pytest.raises(NotFoundError) as excinfo:
            await _aget_session(client, session.id)
        _assert_not_found(excinfo.value)
        with pytest.raises(NotFoundError) as excinfo:
            await client.session.delete(session.id)
        _assert_not_found(excinfo.value)


def test_sdk_async_session_lifecycle(server: _Server) -> None:
    asyncio.run(_async_lifecycle(server.url))
