"""What the shared stores (PostgreSQL, SQLite) promise the replicas of ``serve`` beyond the
session contract: versions and tails, batches, activity and the TTL sweep under a lock,
and the message bus with who is alive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenario_runner.sessions import Event, SessionNotFoundError
from scenario_runner.sessions.shared import SharedSessionService
from scenario_runner.sessions.sqlite_shared import SharedSqliteSessionService

APP, USER = "app", "u"


def _open(kind: str, where: str) -> SharedSessionService:
    if kind == "postgresql":
        from scenario_runner.sessions.postgres import PostgresSessionService

        return PostgresSessionService(where)
    return SharedSqliteSessionService(where)


@pytest.fixture(params=["postgresql", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[SharedSessionService]]:
    """Two stores on one database, as two replicas have them."""
    kind = str(request.param)
    where = request.getfixturevalue("pg_url") if kind == "postgresql" else str(tmp_path / "s.db")
    opened = [_open(kind, where), _open(kind, where)]
    yield opened
    for store in opened:
        store.close()


async def test_heads_and_tails_follow_appends_from_either_store(
    stores: list[SharedSessionService],
) -> None:
    one, two = stores
    session = await one.create(APP, USER, "s")
    other_view = await two.get(APP, USER, "s")
    await one.append_event(session, Event(kind="stub_added", data={"n": 1}))
    await two.append_event(other_view, Event(kind="mock_call", data={"n": 2}))
    heads = await one.heads(APP, USER)
    assert heads["s"].version == 2
    tail = await one.tail(APP, USER, "s", 1)
    assert [(e.sequence, e.data) for e in tail.events] == [(2, {"n": 2})]
    assert (tail.version, tail.create_time) == (2, heads["s"].create_time)
    await two.delete(APP, USER, "s")
    with pytest.raises(SessionNotFoundError):
        await one.tail(APP, USER, "s", 0)
    again = await one.create(APP, USER, "s")
    assert (await one.heads(APP, USER))["s"].create_time != heads["s"].create_time
    assert again.events == []


async def test_append_many_writes_a_batch_and_names_sessions_gone(
    stores: list[SharedSessionService],
) -> None:
    one, two = stores
    kept = await one.create(APP, USER, "kept")
    gone = await one.create(APP, USER, "gone")
    await two.delete(APP, USER, "gone")
    batch = [
        (kept, [Event(kind="mock_call", data={"i": i}, timestamp=100.0 + i) for i in range(3)]),
        (gone, [Event(kind="mock_call", data={"i": 9})]),
    ]
    assert await one.append_many(batch) == ["gone"]
    assert [e.sequence for e in kept.events] == [1, 2, 3]
    stored = await two.get(APP, USER, "kept")
    assert [e.data["i"] for e in stored.events] == [0, 1, 2]
    assert stored.last_update_time == 102.0


async def test_expire_removes_idle_sessions_once_whoever_sweeps(
    stores: list[SharedSessionService],
) -> None:
    one, two = stores
    now = time.time()
    for sid in ("idle", "seen"):
        await one.create(APP, USER, sid)
    await two.note_activity(APP, USER, {"seen": now + 100})
    cutoffs = {"idle": now + 50, "seen": now + 50}
    results = await asyncio.gather(
        *(store.expire(APP, USER, cutoffs) for store in (one, two, one, two))
    )
    removed = [sid for result in results for sid in result]
    assert removed == ["idle"], results  # one sweep removed it; "seen" was seen later
    assert set(await one.heads(APP, USER)) == {"seen"}


async def test_the_bus_delivers_in_order_and_tells_who_listens(
    stores: list[SharedSessionService],
) -> None:
    one, two = stores
    messages = one.messages("replica-a")
    received: list[str | None] = []

    async def listen() -> None:
        async for message in messages:
            received.append(message)

    task = asyncio.create_task(listen())
    try:
        deadline = time.monotonic() + 10
        while "replica-a" not in await two.peers():
            assert time.monotonic() < deadline, "the listening replica never showed up"
            await asyncio.sleep(0.05)
        for n in range(5):
            await two.publish(f"m{n}")
        while len(received) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert received == [f"m{n}" for n in range(5)]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await messages.aclose()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while "replica-a" in await two.peers():
        assert time.monotonic() < deadline, "a replica that stopped listening is still listed"
        await asyncio.sleep(0.05)
