"""SSE resume: every frame has an id; Last-Event-ID replays what was missed, or says resync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.support import Frame, SseReader, connect, start_server, stop_server
from tests.serverproc import RunningServer

HEARTBEAT = 0.5


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("sse")
    server = start_server(base, extra_args=["--heartbeat", str(HEARTBEAT), "--event-buffer", "500"])
    yield server
    stop_server(server)


def _until_heartbeat(reader: SseReader) -> list[Frame]:
    """Frames up to (not including) the first heartbeat: the replay plus anything live."""
    frames = []
    while True:
        frame = reader.next()
        if frame.type == "server.heartbeat":
            return frames
        frames.append(frame)


def _read_past(reader: SseReader, session_id: str) -> list[Frame]:
    """Events until `session_id`'s creation has been seen and the stream then goes quiet.

    Heartbeats can come in the middle when the writer pauses, so they only end the read
    after the last write's event has arrived.
    """
    frames: list[Frame] = []
    reached = False
    while True:
        frame = reader.next()
        if frame.type == "server.heartbeat":
            if reached:
                return frames
            continue
        if frame.type.startswith("server."):
            continue
        frames.append(frame)
        if frame.type == "session.created" and frame.data_info_id == session_id:
            reached = True


def _collect(reader: SseReader, count: int) -> list[Frame]:
    frames = [reader.next() for _ in range(count)]
    return [f for f in frames if not f.type.startswith("server.")]


def _create(client: httpx.Client, directory: Path | None = None) -> str:
    headers = {"x-opencode-directory": str(directory)} if directory else {}
    r = client.post("/session", json={}, headers=headers)
    assert r.status_code == 200
    return str(r.json()["id"])


def test_reconnect_gets_exactly_what_was_missed_in_order(
    sse_server: RunningServer, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    with httpx.Client(base_url=sse_server.url, timeout=30) as client:
        # A witness that stays connected sees every event of this directory.
        witness = connect(sse_server.url, "/event")
        everything = connect(sse_server.url, "/global/event")
        leaver = connect(sse_server.url, "/event")
        _create(client)
        first = leaver.next()
        while first.type.startswith("server."):
            first = leaver.next()
        leaver.close()

        created = []
        for n in range(100):
            created.append(_create(client))
            if n % 10 == 0:
                _create(client, other)  # another directory: not for /event, yes for global

        seen = _read_past(witness, created[-1])
        ids = [f.id for f in seen]
        missed = ids[ids.index(first.id) + 1 :]
        # Each create published at least one event for this directory, in commit order.
        sessions = [f.data_info_id for f in seen if f.type == "session.created"]
        assert sessions[-100:] == created

        resumed = connect(sse_server.url, "/event", {"Last-Event-ID": first.id})
        replay = _until_heartbeat(resumed)
        assert [f.id for f in replay] == missed, "replay must be exactly the missed events"
        assert all(not f.type.startswith("server.") for f in replay)
        # Live events continue after the replay, without repeating any of it.
        live = _create(client)
        after = _collect(resumed, 3)
        assert after[0].data_info_id == live
        assert not {f.id for f in after} & set(missed)
        resumed.close()

        # /global/event resumes with its own filter (none): it includes the other directory.
        global_ids = [f.id for f in _read_past(everything, live)]
        start = global_ids.index(first.id)
        again = connect(sse_server.url, "/global/event", {"Last-Event-ID": first.id})
        global_replay = [f.id for f in _until_heartbeat(again)]
        assert global_replay == global_ids[start + 1 :]
        assert len(global_replay) > len(missed)
        again.close()
        witness.close()
        everything.close()


def test_resume_from_a_heartbeat_id(sse_server: RunningServer) -> None:
    with httpx.Client(base_url=sse_server.url, timeout=30) as client:
        reader = connect(sse_server.url, "/event")
        beat = reader.next()
        while beat.type != "server.heartbeat":
            beat = reader.next()
        reader.close()
        created = [_create(client) for _ in range(5)]
        resumed = connect(sse_server.url, "/event", {"Last-Event-ID": beat.id})
        frames = _until_heartbeat(resumed)
        got = [f.data_info_id for f in frames if f.type == "session.created"]
        assert got == created
        resumed.close()


def test_every_frame_has_its_event_id(sse_server: RunningServer) -> None:
    reader = connect(sse_server.url, "/global/event")
    frame = reader.next()
    assert frame.type == "server.heartbeat"
    assert frame.id == frame.data["payload"]["id"] and frame.id.startswith("evt_")
    reader.close()


def test_an_id_older_than_the_buffer_gets_one_resync_event(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("small")
    server = start_server(base, extra_args=["--heartbeat", str(HEARTBEAT), "--event-buffer", "10"])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            reader = connect(server.url, "/event")
            _create(client)
            old = reader.next()
            reader.close()
            for _ in range(30):
                _create(client)
            for last_id in (old.id, "evt_unknown", "garbage"):
                resumed = connect(server.url, "/event", {"Last-Event-ID": last_id})
                frames = _until_heartbeat(resumed)
                assert [f.type for f in frames] == ["server.resync"]
                assert frames[0].data["properties"]["reason"]
                # Still a live stream afterwards.
                live = _create(client)
                after = _collect(resumed, 2)
                assert after[0].data_info_id == live
                resumed.close()
    finally:
        stop_server(server)
