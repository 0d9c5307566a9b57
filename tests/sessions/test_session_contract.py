"""The session-store contract (SPEC §5): one suite, run against every backend."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenario_runner.errors import ScenarioError
from scenario_runner.sessions import (
    AlreadyExistsError,
    DuplicateEventError,
    Event,
    InMemorySessionService,
    Session,
    SessionNotFoundError,
    SessionService,
    SqliteSessionService,
)

APP = "app"
USER = "alice"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(params=["memory", "sqlite-file", "sqlite-memory", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionService]:
    """Every backend, fresh for each test (PostgreSQL: a new database of a throwaway cluster)."""
    store: SessionService
    if request.param == "memory":
        store = InMemorySessionService()
    elif request.param == "sqlite-file":
        store = SqliteSessionService(tmp_path / "s.db")
    elif request.param == "postgresql":
        from scenario_runner.sessions.postgres import PostgresSessionService

        store = PostgresSessionService(request.getfixturevalue("pg_url"))
    else:
        store = SqliteSessionService(":memory:")
    yield store
    store.close()


async def _append(
    service: SessionService, session: Session, kind: str = "mock_call", **fields: object
) -> Event:
    return await service.append_event(session, Event(kind=kind, **fields))  # type: ignore[arg-type]


def _sequences(events: list[Event]) -> list[int]:
    return [event.sequence for event in events]


# --- model -------------------------------------------------------------------------------------


def test_error_classes_belong_to_the_error_tree() -> None:
    for cls in (AlreadyExistsError, SessionNotFoundError, DuplicateEventError):
        assert issubclass(cls, ScenarioError)
        assert not issubclass(cls, KeyError)
        assert str(cls("boom")) == "boom"


def test_event_round_trips_through_json() -> None:
    event = Event(
        kind="mock_call",
        data={"method": "/pkg.Svc/Do", "request": {"n": [1, 2.5, None, True]}},
        state_delta={"k": {"nested": "v"}},
        author="mock",
        id="e1",
        sequence=7,
        timestamp=1700000000.25,
    )
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    assert Event.from_dict({"kind": "verification"}) == Event(kind="verification")


def test_session_round_trips_through_json() -> None:
    session = Session("s", APP, USER, {"a": [1]}, [Event(kind="k", id="e", sequence=1)], 12.5)
    assert Session.from_dict(json.loads(json.dumps(session.to_dict()))) == session


def test_both_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    sqlite = SqliteSessionService(tmp_path / "p.db")
    try:
        assert isinstance(InMemorySessionService(), SessionService)
        assert isinstance(sqlite, SessionService)
    finally:
        sqlite.close()


# --- create ------------------------------------------------------------------------------------


async def test_create_generates_unique_hex_ids(service: SessionService) -> None:
    before = time.time()
    first = await service.create(APP, USER)
    second = await service.create(APP, USER, session_id="   ")
    assert HEX_ID.fullmatch(first.id) and HEX_ID.fullmatch(second.id)
    assert first.id != second.id
    assert (first.app_name, first.user_id, first.state, first.events) == (APP, USER, {}, [])
    assert before <= first.last_update_time <= time.time()
    fetched = await service.get(APP, USER, second.id)
    assert fetched.id == second.id


async def test_create_with_given_id_and_state(service: SessionService) -> None:
    created = await service.create(APP, USER, session_id="s1", state={"a": 1, "b": [1, 2]})
    assert created.id == "s1"
    assert created.state == {"a": 1, "b": [1, 2]}
    fetched = await service.get(APP, USER, "s1")
    assert fetched.state == {"a": 1, "b": [1, 2]}
    assert fetched.last_update_time == created.last_update_time
    assert (await service.create(APP, USER, session_id=" s2 ")).id == "s2"


async def test_create_refuses_a_taken_key(service: SessionService) -> None:
    await service.create(APP, USER, session_id="s1", state={"v": 1})
    with pytest.raises(AlreadyExistsError):
        await service.create(APP, USER, session_id="s1", state={"v": 2})
    assert (await service.get(APP, USER, "s1")).state == {"v": 1}
    # The key is (app, user, id): the same id elsewhere is a different session.
    await service.create(APP, "bob", session_id="s1")
    await service.create("other", USER, session_id="s1")
    assert len(await service.list(APP)) == 2


async def test_concurrent_creates_of_one_id_admit_exactly_one(service: SessionService) -> None:
    results = await asyncio.gather(
        *(service.create(APP, USER, session_id="race", state={"n": n}) for n in range(10)),
        return_exceptions=True,
    )
    winners = [result for result in results if isinstance(result, Session)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyExistsError) for r in results if r not in winners)
    assert (await service.get(APP, USER, "race")).state == winners[0].state


async def test_initial_state_is_copied_not_aliased(service: SessionService) -> None:
    initial: dict[str, Any] = {"nested": {"list": [1]}}
    created = await service.create(APP, USER, session_id="s", state=initial)
    initial["nested"]["list"].append(2)
    initial["new"] = True
    assert created.state == {"nested": {"list": [1]}}
    created.state["nested"]["list"].append(3)
    assert (await service.get(APP, USER, "s")).state == {"nested": {"list": [1]}}


# --- get ---------------------------------------------------------------------------------------


async def test_get_missing_session_raises(service: SessionService) -> None:
    await service.create(APP, USER, session_id="s")
    for app, user, sid in [("nope", USER, "s"), (APP, "nope", "s"), (APP, USER, "nope")]:
        with pytest.raises(SessionNotFoundError):
            await service.get(app, user, sid)


async def test_get_returns_a_snapshot(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    await _append(service, session, data={"x": [1]}, state_delta={"k": 1})
    snapshot = await service.get(APP, USER, "s")
    await _append(service, session, state_delta={"k": 2, "j": 3})
    assert _sequences(snapshot.events) == [1]
    assert snapshot.state == {"k": 1}
    # Mutating the snapshot leaves the store alone.
    snapshot.events[0].data["x"].append(2)
    snapshot.state["k"] = "changed"
    snapshot.events.clear()
    again = await service.get(APP, USER, "s")
    assert again.events[0].data == {"x": [1]}
    assert again.state == {"k": 2, "j": 3}
    assert _sequences(again.events) == [1, 2]


async def test_get_num_recent_events(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    for _ in range(5):
        await _append(service, session)
    assert _sequences((await service.get(APP, USER, "s", num_recent_events=2)).events) == [4, 5]
    everything = await service.get(APP, USER, "s", num_recent_events=9)
    assert _sequences(everything.events) == list(range(1, 6))
    assert (await service.get(APP, USER, "s", num_recent_events=0)).events == []
    with pytest.raises(ValueError):
        await service.get(APP, USER, "s", num_recent_events=-1)


async def test_get_after_is_inclusive_like_adk(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    for ts in (100.0, 200.0, 300.0, 400.0):
        await _append(service, session, timestamp=ts)

    async def stamps(**options: float | int) -> list[float]:
        got = await service.get(APP, USER, "s", **options)  # type: ignore[arg-type]
        return [event.timestamp for event in got.events]

    assert await stamps(after=200.0) == [200.0, 300.0, 400.0]
    assert await stamps(after=250.0) == [300.0, 400.0]
    assert await stamps(after=401.0) == []
    assert await stamps(after=0.0) == [100.0, 200.0, 300.0, 400.0]
    assert await stamps(after=150.0, num_recent_events=2) == [300.0, 400.0]
    assert await stamps(after=350.0, num_recent_events=3) == [400.0]


# --- list --------------------------------------------------------------------------------------


async def test_list_orders_by_last_update_time(service: SessionService) -> None:
    a = await service.create(APP, USER, session_id="a", state={"who": "a"})
    b = await service.create(APP, "bob", session_id="b")
    c = await service.create(APP, USER, session_id="c")
    await service.create("other-app", USER, session_id="x")
    await _append(service, c, timestamp=1000.0)
    await _append(service, a, timestamp=3000.0)
    await _append(service, b, timestamp=2000.0)

    everyone = await service.list(APP)
    assert [s.id for s in everyone] == ["c", "b", "a"]
    assert [s.last_update_time for s in everyone] == [1000.0, 2000.0, 3000.0]
    assert {s.user_id for s in everyone} == {USER, "bob"}
    assert everyone[2].state == {"who": "a"}
    # Documented choice: listed sessions carry state but no events.
    assert all(s.events == [] for s in everyone)

    assert [s.id for s in await service.list(APP, USER)] == ["c", "a"]
    assert [s.id for s in await service.list(APP, "bob")] == ["b"]
    assert await service.list(APP, "nobody") == []
    assert await service.list("no-such-app") == []


async def test_list_breaks_ties_by_id(service: SessionService) -> None:
    for sid in ("m", "z", "a"):
        session = await service.create(APP, USER, session_id=sid)
        await _append(service, session, timestamp=500.0)
    assert [s.id for s in await service.list(APP)] == ["a", "m", "z"]


async def test_list_returns_copies(service: SessionService) -> None:
    await service.create(APP, USER, session_id="s", state={"k": [1]})
    (listed,) = await service.list(APP)
    listed.state["k"].append(2)
    assert (await service.get(APP, USER, "s")).state == {"k": [1]}


# --- delete ------------------------------------------------------------------------------------


async def test_delete_removes_session_and_events(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s", state={"k": 1})
    await _append(service, session)
    await _append(service, session)
    keep = await service.create(APP, USER, session_id="keep")
    await _append(service, keep)

    await service.delete(APP, USER, "s")
    with pytest.raises(SessionNotFoundError):
        await service.get(APP, USER, "s")
    with pytest.raises(SessionNotFoundError):
        await service.get_events(APP, USER, "s")
    assert [s.id for s in await service.list(APP)] == ["keep"]
    assert len((await service.get(APP, USER, "keep")).events) == 1

    again = await service.create(APP, USER, session_id="s")
    fetched = await service.get(APP, USER, "s")
    assert fetched.events == [] and fetched.state == {}
    assert await service.get_events(APP, USER, "s") == []
    # The re-created session starts its own sequence.
    assert (await _append(service, again)).sequence == 1


async def test_delete_missing_session_raises(service: SessionService) -> None:
    with pytest.raises(SessionNotFoundError):
        await service.delete(APP, USER, "nope")
    await service.create(APP, USER, session_id="s")
    await service.delete(APP, USER, "s")
    with pytest.raises(SessionNotFoundError):
        await service.delete(APP, USER, "s")


# --- append_event ------------------------------------------------------------------------------


async def test_append_assigns_id_sequence_and_timestamp(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    before = time.time()
    first = await _append(service, session, data={"method": "/a.B/C"}, sequence=99)
    after = time.time()
    assert HEX_ID.fullmatch(first.id)
    assert first.sequence == 1
    assert before <= first.timestamp <= after
    given = await _append(service, session, id="mine", timestamp=1234.5, author="mock")
    assert (given.id, given.sequence, given.timestamp, given.author) == ("mine", 2, 1234.5, "mock")
    third = await _append(service, session, kind="verification")
    assert third.sequence == 3

    stored = (await service.get(APP, USER, "s")).events
    assert [(e.id, e.sequence, e.kind) for e in stored] == [
        (first.id, 1, "mock_call"),
        ("mine", 2, "mock_call"),
        (third.id, 3, "verification"),
    ]
    assert stored[0].data == {"method": "/a.B/C"}
    assert stored[1].author == "mock" and stored[1].timestamp == 1234.5


async def test_append_mirrors_on_the_live_session(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    event = Event(kind="state_saved", state_delta={"k": "v"}, timestamp=4242.0)
    returned = await service.append_event(session, event)
    assert returned is event
    assert session.events == [event]
    assert session.state == {"k": "v"}
    assert session.last_update_time == 4242.0
    assert (await service.get(APP, USER, "s")).last_update_time == 4242.0


async def test_append_applies_state_delta_and_stores_none(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s", state={"a": 1, "b": 2})
    await _append(service, session, state_delta={"a": 10, "c": {"d": [1]}})
    await _append(service, session, state_delta={"b": None})
    stored = await service.get(APP, USER, "s")
    assert stored.state == {"a": 10, "b": None, "c": {"d": [1]}}
    assert "b" in stored.state
    assert session.state == stored.state
    assert [e.state_delta for e in stored.events] == [{"a": 10, "c": {"d": [1]}}, {"b": None}]


async def test_state_delta_is_not_aliased(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    delta = {"list": [1]}
    await _append(service, session, state_delta=delta)
    delta["list"].append(2)
    session.state["list"].append(3)
    assert (await service.get(APP, USER, "s")).state == {"list": [1]}


async def test_temp_keys_live_on_the_session_only(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    event = await _append(service, session, state_delta={"temp:scratch": 1, "kept": 2})
    assert session.state == {"temp:scratch": 1, "kept": 2}
    stored = await service.get(APP, USER, "s")
    assert stored.state == {"kept": 2}
    assert stored.events[0].state_delta == {"kept": 2}
    assert event.state_delta == {"kept": 2}
    assert all("temp:scratch" not in s.state for s in await service.list(APP))


async def test_append_to_unknown_or_deleted_session_fails(service: SessionService) -> None:
    ghost = Session("ghost", APP, USER)
    with pytest.raises(SessionNotFoundError):
        await _append(service, ghost)
    assert ghost.events == []

    session = await service.create(APP, USER, session_id="s")
    await _append(service, session)
    await service.delete(APP, USER, "s")
    with pytest.raises(SessionNotFoundError):
        await _append(service, session, state_delta={"k": 1}, timestamp=9.0)
    assert len(session.events) == 1 and session.state == {}
    assert session.last_update_time != 9.0
    with pytest.raises(SessionNotFoundError):
        await service.get(APP, USER, "s")


async def test_duplicate_event_id_is_refused_and_changes_nothing(
    service: SessionService,
) -> None:
    session = await service.create(APP, USER, session_id="s")
    await _append(service, session, id="e1", state_delta={"k": 1}, timestamp=10.0)
    duplicate = Event(kind="mock_call", id="e1", state_delta={"k": 2, "x": 3}, timestamp=20.0)
    with pytest.raises(DuplicateEventError):
        await service.append_event(session, duplicate)
    assert duplicate.sequence == 0
    assert session.state == {"k": 1} and len(session.events) == 1
    assert session.last_update_time == 10.0
    stored = await service.get(APP, USER, "s")
    assert stored.state == {"k": 1}
    assert [(e.id, e.sequence) for e in stored.events] == [("e1", 1)]
    assert stored.last_update_time == 10.0
    # The id is only unique per session, and the next sequence is not burnt.
    other = await service.create(APP, USER, session_id="t")
    assert (await _append(service, other, id="e1")).sequence == 1
    assert (await _append(service, session)).sequence == 2


async def test_sessions_are_isolated(service: SessionService) -> None:
    one = await service.create(APP, USER, session_id="one")
    two = await service.create(APP, USER, session_id="two")
    await _append(service, one, data={"s": 1}, state_delta={"k": 1})
    await _append(service, two, data={"s": 2})
    await _append(service, one, data={"s": 1})
    assert [e.data["s"] for e in (await service.get(APP, USER, "one")).events] == [1, 1]
    fetched_two = await service.get(APP, USER, "two")
    assert [e.data["s"] for e in fetched_two.events] == [2]
    assert fetched_two.state == {}


# --- get_events --------------------------------------------------------------------------------


async def test_get_events_filters_by_kind_and_sequence(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    kinds = ["stub_added", "mock_call", "client_call", "mock_call", "verification"]
    for kind in kinds:
        await _append(service, session, kind=kind, data={"kind": kind})

    assert [e.kind for e in await service.get_events(APP, USER, "s")] == kinds
    calls = await service.get_events(APP, USER, "s", kinds={"mock_call"})
    assert _sequences(calls) == [2, 4]
    assert _sequences(await service.get_events(APP, USER, "s", after_sequence=3)) == [4, 5]
    assert _sequences(
        await service.get_events(
            APP, USER, "s", kinds=["mock_call", "verification"], after_sequence=2
        )
    ) == [4, 5]
    assert await service.get_events(APP, USER, "s", kinds=()) == []
    assert await service.get_events(APP, USER, "s", after_sequence=5) == []
    with pytest.raises(SessionNotFoundError):
        await service.get_events(APP, USER, "nope")


async def test_get_events_returns_copies(service: SessionService) -> None:
    session = await service.create(APP, USER, session_id="s")
    await _append(service, session, data={"req": {"n": [1]}})
    (copy,) = await service.get_events(APP, USER, "s")
    copy.data["req"]["n"].append(2)
    copy.sequence = 42
    (again,) = await service.get_events(APP, USER, "s")
    assert again.data == {"req": {"n": [1]}} and again.sequence == 1


# --- concurrency -------------------------------------------------------------------------------


async def test_concurrent_appends_lose_nothing(service: SessionService) -> None:
    tasks, per_task = 50, 200
    session = await service.create(APP, USER, session_id="busy")

    async def worker(task: int) -> None:
        for i in range(per_task):
            await service.append_event(
                session,
                Event(kind="mock_call", data={"task": task, "i": i}, state_delta={f"t{task}": i}),
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker(task) for task in range(tasks)))
    elapsed = time.perf_counter() - started

    total = tasks * per_task
    stored = await service.get(APP, USER, "busy")
    assert _sequences(stored.events) == list(range(1, total + 1))
    assert len({e.id for e in stored.events}) == total
    assert sorted((e.data["task"], e.data["i"]) for e in stored.events) == [
        (t, i) for t in range(tasks) for i in range(per_task)
    ]
    # Each task's own events keep their order.
    for task in range(tasks):
        mine = [e.data["i"] for e in stored.events if e.data["task"] == task]
        assert mine == list(range(per_task))
    assert stored.state == {f"t{task}": per_task - 1 for task in range(tasks)}
    assert _sequences(session.events) == list(range(1, total + 1))
    assert stored.last_update_time == stored.events[-1].timestamp
    assert elapsed < 10.0, f"{total} appends took {elapsed:.1f}s"
