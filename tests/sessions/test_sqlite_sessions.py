"""What only the SQLite store promises: a real file, JSON rows, persistence, many processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from scenario_runner.sessions import Event, Session, SqliteSessionService

APP, USER, SID = "app", "alice", "shared"
PER_PROCESS = 300


def _append_from_process(path: str, worker: int, start: threading.Barrier) -> None:
    """Child process: wait until everyone is ready, then append ``PER_PROCESS`` events."""

    async def run() -> None:
        store = SqliteSessionService(path)
        try:
            session = await store.get(APP, USER, SID)
            start.wait()
            for i in range(PER_PROCESS):
                await store.append_event(
                    session,
                    Event(kind="mock_call", data={"worker": worker, "i": i}, author=f"w{worker}"),
                )
        finally:
            store.close()

    asyncio.run(run())


def _open_new_file(folder: str, start: threading.Barrier) -> None:
    """Child process: open each of several new files at the same moment as the others."""
    for n in range(FRESH_FILES):
        start.wait()
        SqliteSessionService(Path(folder) / f"new-{n}.db").close()


FRESH_FILES = 15


def _raw(path: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


async def test_two_processes_keep_sequences_dense(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = SqliteSessionService(path)
    try:
        await store.create(APP, USER, session_id=SID)
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Barrier(3, timeout=60)
        workers = [
            ctx.Process(target=_append_from_process, args=(str(path), n, start)) for n in (1, 2)
        ]
        for process in workers:
            process.start()
        await asyncio.to_thread(start.wait)
        for process in workers:
            await asyncio.to_thread(process.join, 120)
        assert [process.exitcode for process in workers] == [0, 0]

        events = (await store.get(APP, USER, SID)).events
        assert [e.sequence for e in events] == list(range(1, 2 * PER_PROCESS + 1))
        assert len({e.id for e in events}) == 2 * PER_PROCESS
        for worker in (1, 2):
            mine = [e.data["i"] for e in events if e.data["worker"] == worker]
            assert mine == list(range(PER_PROCESS))
        # Timestamps are stamped under the write lock, so they follow the sequence.
        stamps = [e.timestamp for e in events]
        assert stamps == sorted(stamps)
    finally:
        store.close()


def test_processes_opening_a_new_file_at_once_all_get_it(tmp_path: Path) -> None:
    """As the worker processes of a run open the --sessions-db file together."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4, timeout=60)
    workers = [ctx.Process(target=_open_new_file, args=(str(tmp_path), start)) for _ in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0, 0, 0, 0]
    for n in range(FRESH_FILES):
        assert _raw(tmp_path / f"new-{n}.db", "PRAGMA journal_mode") == [("wal",)]


async def test_two_instances_in_one_process_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    first, second = SqliteSessionService(path), SqliteSessionService(path)
    try:
        session_a = await first.create(APP, USER, session_id=SID)
        session_b = await second.get(APP, USER, SID)

        async def pump(store: SqliteSessionService, session: Session, tag: str) -> None:
            for i in range(100):
                await store.append_event(session, Event(kind="k", data={"tag": tag, "i": i}))

        await asyncio.gather(pump(first, session_a, "a"), pump(second, session_b, "b"))
        events = await second.get_events(APP, USER, SID)
        assert [e.sequence for e in events] == list(range(1, 201))
        assert sorted(e.data["tag"] for e in events) == ["a"] * 100 + ["b"] * 100
    finally:
        first.close()
        second.close()


async def test_file_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    store = SqliteSessionService(path)
    session = await store.create(APP, USER, session_id=SID, state={"a": 1})
    await store.append_event(
        session, Event(kind="stub_added", data={"stub": {"id": "x"}}, state_delta={"b": None})
    )
    await store.append_event(session, Event(kind="verification", data={"ok": True}, id="v"))
    before = await store.get(APP, USER, SID)
    store.close()

    reopened = SqliteSessionService(str(path))
    try:
        after = await reopened.get(APP, USER, SID)
        assert after == before
        assert after.state == {"a": 1, "b": None}
        assert [e.kind for e in after.events] == ["stub_added", "verification"]
        assert [s.id for s in await reopened.list(APP)] == [SID]
        # Sequences continue where the old instance stopped.
        more = await reopened.append_event(after, Event(kind="mock_call"))
        assert more.sequence == 3
    finally:
        reopened.close()


async def test_file_uses_wal_json_rows_and_cascade(tmp_path: Path) -> None:
    path = tmp_path / "layout.db"
    store = SqliteSessionService(path)
    try:
        session = await store.create(APP, USER, session_id=SID, state={"k": [1, "two"]})
        await store.append_event(session, Event(kind="mock_call", data={"m": "/a.B/C"}))
        assert _raw(path, "PRAGMA journal_mode") == [("wal",)]
        ((state,),) = _raw(path, "SELECT state FROM sessions")
        assert json.loads(str(state)) == {"k": [1, "two"]}
        ((data, sequence),) = _raw(path, "SELECT data, sequence FROM events")
        assert (json.loads(str(data)), sequence) == ({"m": "/a.B/C"}, 1)
        await store.delete(APP, USER, SID)
        assert _raw(path, "SELECT COUNT(*) FROM events") == [(0,)]
    finally:
        store.close()


async def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    store = SqliteSessionService(tmp_path / "closed.db")
    await store.create(APP, USER, session_id=SID)
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get(APP, USER, SID)


def test_unopenable_path_raises(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        SqliteSessionService(tmp_path / "missing-dir" / "s.db")
