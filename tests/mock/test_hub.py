"""The session hub: live sessions shared by the mock and the runner."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from call_support import Call

from scenario_runner.mock.hub import APP_NAME, USER_ID, SessionHub
from scenario_runner.sessions import SqliteSessionService


async def test_settled_waits_for_calls_the_mock_has_not_finished() -> None:
    hub = SessionHub()
    await hub.open("s1")
    hub.call_started("s1")
    waiting = asyncio.create_task(hub.settled("s1"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    hub.record_call(Call("s1", finished_at=time.time()))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "a recorded call is not finished until the mock says so"
    hub.call_finished("s1")
    await asyncio.wait_for(waiting, 1)
    assert [e.kind for e in await hub.events("s1")] == ["mock_call"]


async def test_settled_returns_at_once_without_calls_in_flight() -> None:
    hub = SessionHub()
    await hub.open("s1")
    await asyncio.wait_for(hub.settled("s1"), 0.1)


async def test_queued_calls_are_written_in_order_before_the_next_write() -> None:
    hub = SessionHub()
    await hub.open("s1")
    hub.record_call(Call("s1", method="first", finished_at=1.0))
    hub.record_call(Call("s1", method="second", finished_at=2.0))
    await hub.record("s1", "client_call", {"method": "after"})
    events = await hub.events("s1")
    assert [(e.sequence, e.kind, e.data["method"]) for e in events] == [
        (1, "mock_call", "first"),
        (2, "mock_call", "second"),
        (3, "client_call", "after"),
    ]
    assert [e.timestamp for e in events[:2]] == [1.0, 2.0]


async def test_problems_from_the_mock_are_taken_once_per_session() -> None:
    hub = SessionHub()
    await hub.open("s1")
    await hub.open("s2")
    hub.record_call(Call("s1", error="stub x: template failed"))
    assert hub.take_problems("s2") == []
    assert hub.take_problems("s1") == ["stub x: template failed"]
    assert hub.take_problems("s1") == []


async def test_calls_of_a_session_nobody_reads_wait_for_a_reader_and_none_is_lost() -> None:
    hub = SessionHub()
    for number in range(1000):
        hub.record_call(Call("stray", method=f"call-{number}"))
    await asyncio.sleep(0.01)
    assert hub.live("stray") is None, "queued calls are not written out without a reader"
    events = await hub.events("stray")
    assert [e.data["method"] for e in events] == [f"call-{n}" for n in range(1000)]
    assert [e.sequence for e in events] == list(range(1, 1001))


async def test_close_deletes_the_session_unless_kept_and_a_kept_one_has_every_call(
    tmp_path: Path,
) -> None:
    service = SqliteSessionService(tmp_path / "s.db")
    hub = SessionHub(service)
    try:
        await hub.open("gone", state={"a": 1})
        await hub.open("kept")
        hub.record_call(Call("kept"))
        await hub.close("gone")
        await hub.close("kept", keep=True)
        remaining = [s.id for s in await service.list(APP_NAME)]
        assert remaining == ["kept"]
        stored = await service.get(APP_NAME, USER_ID, "kept")
        assert [e.kind for e in stored.events] == ["mock_call"]
        assert hub.session_ids() == []
    finally:
        service.close()
