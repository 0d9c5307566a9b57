"""A mock_call event kept as its call's record: the same event, whatever reads it."""

from __future__ import annotations

import json
from pathlib import Path

from call_support import Call

from scenario_runner.mock.hub import APP_NAME, USER_ID, SessionHub
from scenario_runner.sessions import Event, InMemorySessionService, SqliteSessionService
from scenario_runner.sessions.model import LazyEvent


def test_data_is_made_from_the_record_until_something_sets_it() -> None:
    call = Call(finished_at=1234.5)
    event = LazyEvent("mock_call", call, "mock", 3)
    assert event.data == {"method": "a.B/C", "error": None}
    assert event.data is not event.data, "made each time: nothing is kept"
    assert (event.kind, event.author, event.timestamp, event.id) == (
        "mock_call",
        "mock",
        1234.5,
        "mock_call-3",
    )
    assert event.state_delta == {}
    event.data = {"set": True}
    event.id = "given"
    event.state_delta = {"k": 1}
    made = len(call.made)
    assert (event.data, event.id, event.state_delta) == ({"set": True}, "given", {"k": 1})
    assert len(call.made) == made, "a set value replaces the record's"


def test_it_is_an_event_to_whatever_copies_compares_or_dumps_it() -> None:
    event = LazyEvent("mock_call", Call(finished_at=1234.5), "mock", "abc")
    event.sequence = 2
    plain = Event(
        "mock_call",
        {"method": "a.B/C", "error": None},
        {},
        "mock",
        "abc",
        2,
        1234.5,
    )
    assert isinstance(event, Event)
    assert event == plain and event.copy() == plain
    assert json.dumps(event.to_dict()) == json.dumps(plain.to_dict())


async def test_memory_and_sqlite_stores_keep_it_as_the_event_it_is(tmp_path: Path) -> None:
    sqlite = SqliteSessionService(tmp_path / "s.db")
    try:
        for service in (InMemorySessionService(), sqlite):
            hub = SessionHub(service)
            await hub.open("s")
            await hub.record("s", "stub_added", {"stub_id": "x"})
            hub.record_call(Call())
            hub.record_call(Call(error="template failed"))
            events = await hub.events("s")
            assert [e.kind for e in events] == ["stub_added", "mock_call", "mock_call"]
            assert [e.sequence for e in events] == [1, 2, 3]
            assert len({e.id for e in events}) == 3
            stored = await service.get(APP_NAME, USER_ID, "s")
            assert [(e.id, e.data) for e in stored.events] == [(e.id, e.data) for e in events]
            assert hub.take_problems("s") == ["template failed"]
    finally:
        sqlite.close()
