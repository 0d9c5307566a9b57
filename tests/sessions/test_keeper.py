"""Sessions a run keeps, written in batches: the file ends up as when every event was
written at once, ids already kept are refused at open, nothing is lost at the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from call_support import Call

from scenario_runner.mock.hub import APP_NAME, USER_ID, SessionHub
from scenario_runner.sessions import AlreadyExistsError, Event, SqliteSessionService
from scenario_runner.sessions.keeper import SessionKeeper
from scenario_runner.sessions.sqlite import KeptSession


async def _story(hub: SessionHub, name: str) -> None:
    """What a scenario does to its session: state, runner events, mock calls, a save."""
    await hub.open(name, state={"user": "ann", "temp:scratch": 1})
    await hub.record(name, "stub_added", {"stub_id": "s1", "method": "a.B/C"})
    hub.record_call(Call(name, finished_at=time.time()))
    await hub.record(
        name,
        "client_call",
        {"step": "steps[0]", "response": {"n": [1, 2], "text": "héllo ✓"}, "elapsed": 0.1234567},
    )
    await hub.record(
        name, "state_saved", {"step": "save"}, state_delta={"order": 7, "temp:x": "gone"}
    )
    hub.record_call(Call(name, method="a.B/D", error="boom", finished_at=time.time()))
    await hub.record(name, "verification", {"index": 0, "ok": True, "summary": "ok"})
    await hub.close(name, keep=True)


def _rows(session: Any) -> tuple[Any, ...]:
    events = [
        (e.sequence, e.kind, e.author, e.data, e.state_delta, e.timestamp > 0, bool(e.id))
        for e in session.events
    ]
    return (session.id, session.state, events)


async def test_a_kept_session_is_stored_as_when_each_event_was_written_at_once(
    tmp_path: Path,
) -> None:
    direct = SqliteSessionService(tmp_path / "direct.db")
    batched = SqliteSessionService(tmp_path / "batched.db")
    hub = SessionHub(keeper=SessionKeeper(batched))
    try:
        await _story(SessionHub(direct), "scenario-1")
        await _story(hub, "scenario-1")
        assert await batched.list(APP_NAME) == [], "written once the batch is due, not before"
        await hub.aclose()
        want = await direct.get(APP_NAME, USER_ID, "scenario-1")
        got = await batched.get(APP_NAME, USER_ID, "scenario-1")
        assert _rows(got) == _rows(want)
        assert got.state == {"user": "ann", "temp:scratch": 1, "order": 7}
        assert got.last_update_time == got.events[-1].timestamp
    finally:
        direct.close()
        batched.close()


async def test_many_sessions_are_all_kept_with_their_events_in_order(tmp_path: Path) -> None:
    store = SqliteSessionService(tmp_path / "s.db")
    hub = SessionHub(keeper=SessionKeeper(store))
    try:
        for n in range(120):
            await _story(hub, f"s{n}")
        await hub.aclose()
        stored = await store.list(APP_NAME)
        assert len(stored) == 120
        events = await store.get_events(APP_NAME, USER_ID, "s77")
        assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
        assert [e.kind for e in events][:2] == ["stub_added", "mock_call"]
    finally:
        store.close()


async def test_an_id_already_kept_is_refused_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    earlier = SqliteSessionService(path)
    await earlier.create(APP_NAME, USER_ID, "fixed")
    earlier.close()
    store = SqliteSessionService(path)
    hub = SessionHub(keeper=SessionKeeper(store))
    try:
        with pytest.raises(AlreadyExistsError, match="fixed"):
            await hub.open("fixed")
        await _story(hub, "mine")
        with pytest.raises(AlreadyExistsError, match="mine"):
            await hub.open("mine")  # kept by this run, even before it is written
        await hub.aclose()
        assert sorted(s.id for s in await store.list(APP_NAME)) == ["fixed", "mine"]
    finally:
        store.close()


async def test_sessions_still_open_at_the_end_are_kept(tmp_path: Path) -> None:
    store = SqliteSessionService(tmp_path / "s.db")
    hub = SessionHub(keeper=SessionKeeper(store))
    try:
        hub.record_call(Call("stray", finished_at=time.time()))  # a call nobody opened
        await hub.record("stray", "note", {"x": 1})
        await hub.aclose()
        stored = await store.get(APP_NAME, USER_ID, "stray")
        assert [e.kind for e in stored.events] == ["mock_call", "note"]
    finally:
        store.close()


async def test_a_session_that_cannot_be_written_is_said_and_the_others_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SqliteSessionService(tmp_path / "s.db")
    try:
        await store.create(APP_NAME, USER_ID, "taken")  # as another process would, meanwhile
        sessions = [
            KeptSession(APP_NAME, USER_ID, "taken", {}, 1.0, 1.0, [Event("x", {}, id="e1")]),
            KeptSession(APP_NAME, USER_ID, "odd", {}, 1.0, 1.0, [Event("x", {"v": object()})]),
            KeptSession(APP_NAME, USER_ID, "fine", {"a": 1}, 1.0, 2.0, [Event("x", id="e2")]),
        ]
        refused = store.save_batch(sessions).result()
        assert len(refused) == 2
        taken, odd = sorted(refused, key=lambda why: "'odd'" in why)
        assert "'taken'" in taken and "another process" in taken
        assert "'odd'" in odd and "not JSON serializable" in odd
        assert await store.get_events(APP_NAME, USER_ID, "taken") == []
        fine = await store.get(APP_NAME, USER_ID, "fine")
        assert fine.state == {"a": 1} and [e.id for e in fine.events] == ["e2"]
    finally:
        store.close()


@pytest.mark.parametrize("bulk", [True, False], ids=["json rows", "row by row"])
async def test_a_batch_reads_back_exactly_as_it_was_written(tmp_path: Path, bulk: bool) -> None:
    # A batch goes to SQLite as one JSON array of rows; a name holding a NUL (which SQLite's
    # JSON functions would cut short) sends its batch row by row instead. Either way every
    # value comes back as it was: names, floats to the last bit, nested JSON, any text.
    store = SqliteSessionService(tmp_path / "s.db")
    name = "nul\x00in the id" if not bulk else 'ünï ✓ "quoted" \\ back'
    data = {"text": "nul\x00 tab\t ünï 🚀 \\u0000", "n": [1, 2.5, -3e-9], "deep": {"a": None}}
    times = [time.time() + k / 7 for k in range(3)]
    try:
        kept = KeptSession(
            APP_NAME,
            USER_ID,
            name,
            {"user": "ann", "x": 0.1 + 0.2},
            times[0],
            times[1],
            [
                Event("mock_call", data, author="mock", id="e1", sequence=1, timestamp=times[1]),
                Event("note", {}, id="e2", sequence=2, timestamp=times[2]),
            ],
        )
        assert store.save_batch([kept]).result() == []
        stored = await store.get(APP_NAME, USER_ID, name)
        assert stored.state == {"user": "ann", "x": 0.1 + 0.2}
        assert stored.last_update_time == times[1]
        assert [(e.id, e.kind, e.author, e.data, e.timestamp) for e in stored.events] == [
            ("e1", "mock_call", "mock", data, times[1]),
            ("e2", "note", "runner", {}, times[2]),
        ]
    finally:
        store.close()
