"""The session hub: live sessions shared by the mock and the runner."""

from __future__ import annotations

import asyncio

from scenario_runner.mock.hub import SessionHub


async def test_settled_waits_for_calls_the_mock_has_not_recorded_yet() -> None:
    hub = SessionHub()
    await hub.open("s1")
    hub.call_started("s1")
    waiting = asyncio.create_task(hub.settled("s1"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await hub.record("s1", "mock_call", {"method": "a.B/C"}, author="mock")
    await asyncio.wait_for(waiting, 1)
    assert [e.kind for e in hub.events("s1")] == ["mock_call"]


async def test_settled_returns_at_once_without_calls_in_flight() -> None:
    hub = SessionHub()
    await hub.open("s1")
    await asyncio.wait_for(hub.settled("s1"), 0.1)


async def test_problems_from_the_mock_are_taken_once_per_session() -> None:
    hub = SessionHub()
    await hub.open("s1")
    await hub.open("s2")
    await hub.record("s1", "mock_call", {"error": "stub x: template failed"}, author="mock")
    assert hub.take_problems("s2") == []
    assert hub.take_problems("s1") == ["stub x: template failed"]
    assert hub.take_problems("s1") == []


async def test_close_deletes_the_session_unless_kept() -> None:
    hub = SessionHub()
    await hub.open("gone", state={"a": 1})
    await hub.open("kept")
    await hub.close("gone")
    await hub.close("kept", keep=True)
    remaining = [s.id for s in await hub.service.list("scenario-run")]
    assert remaining == ["kept"]
    assert hub.session_ids() == []
