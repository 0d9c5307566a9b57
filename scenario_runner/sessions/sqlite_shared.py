"""The SQLite store as a shared store (``sessions.shared``), for the ``serve`` processes of
one machine (``--workers N``, or several started by hand on one file).

Three tables of its own beside the store's: ``activity`` (when a session was last seen),
``replicas`` (who is alive: host and process id) and ``bus`` (messages, read by polling,
in the order they were written: SQLite has one writer at a time, so ids never commit out of
order). The TTL sweep runs inside ``BEGIN IMMEDIATE``, the database's write lock.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scenario_runner.sessions.model import (
    Event,
    Session,
    SessionNotFoundError,
    apply_to_live,
    session_key_text,
)
from scenario_runner.sessions.shared import Head, Tail
from scenario_runner.sessions.sqlite import SqliteSessionService

POLL_INTERVAL = 0.01  # seconds between reads of the bus
BUS_KEPT = 60.0  # seconds a message stays in the bus table

_SCHEMA = """
CREATE TABLE IF NOT EXISTS activity (
    app_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (app_name, user_id, id),
    FOREIGN KEY (app_name, user_id, id)
        REFERENCES sessions (app_name, user_id, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS bus (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    message TEXT NOT NULL
);
"""
_KEY = "app_name = ? AND user_id = ? AND id = ?"
# a call's data cut to what a replica counts: its method and stub
_LIGHT_DATA = (
    "CASE WHEN kind = 'mock_call' THEN json_object('stub_id', json_extract(data, '$.stub_id'),"
    " 'method', json_extract(data, '$.method')) ELSE data END"
)
_LAST_SEQUENCE = (
    "COALESCE((SELECT MAX(sequence) FROM events e WHERE e.app_name = s.app_name"
    " AND e.user_id = s.user_id AND e.session_id = s.id), 0)"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedSqliteSessionService(SqliteSessionService):
    """The SQLite store, shareable by the ``serve`` processes of one machine."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._host = socket.gethostname()
        self._run_sync(lambda: self._conn.executescript(_SCHEMA))

    def _run_sync(self, fn: Any) -> Any:
        return self._executor.submit(fn).result()

    async def heads(self, app_name: str, user_id: str) -> dict[str, Head]:
        def read() -> dict[str, Head]:
            rows = self._conn.execute(
                f"SELECT id, create_time, {_LAST_SEQUENCE} FROM sessions s"
                " WHERE app_name = ? AND user_id = ?",
                (app_name, user_id),
            ).fetchall()
            return {sid: Head(float(created), int(version)) for sid, created, version in rows}

        return await self._run(read)

    async def tail(
        self, app_name: str, user_id: str, session_id: str, after: int, light: bool = False
    ) -> Tail:
        key = (app_name, user_id, session_id)
        data = _LIGHT_DATA if light else "data"

        def read() -> Tail:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    f"SELECT create_time, state, {_LAST_SEQUENCE} FROM sessions s WHERE {_KEY}",
                    key,
                ).fetchone()
                if row is None:
                    raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
                rows = conn.execute(
                    f"SELECT id, sequence, kind, author, timestamp, {data}, state_delta FROM events"
                    " WHERE app_name = ? AND user_id = ? AND session_id = ? AND sequence > ?"
                    " ORDER BY sequence",
                    (*key, after),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            events = [
                Event(kind, json.loads(data), json.loads(delta), author, eid, seq, ts)
                for eid, seq, kind, author, ts, data, delta in rows
            ]
            return Tail(float(row[0]), int(row[2]), json.loads(row[1]), events)

        return await self._run(read)

    async def append_many(
        self, batch: Sequence[tuple[Session, Sequence[Event]]]
    ) -> builtins.list[str]:
        for _, events in batch:
            for event in events:
                if event.state_delta:
                    raise ValueError("append_many takes events without a state_delta")
                event.id = event.id or uuid.uuid4().hex

        def write() -> builtins.list[tuple[int, float] | None]:
            conn = self._conn
            results: builtins.list[tuple[int, float] | None] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for session, events in batch:
                    key = (session.app_name, session.user_id, session.id)
                    found = conn.execute(
                        f"SELECT {_LAST_SEQUENCE} FROM sessions s WHERE {_KEY}", key
                    ).fetchone()
                    if found is None:
                        results.extend([None] * len(events))
                        continue
                    sequence = int(found[0])
                    last = 0.0
                    for event in events:
                        sequence += 1
                        last = event.timestamp or time.time()
                        conn.execute(
                            "INSERT INTO events (app_name, user_id, session_id, id, sequence,"
                            " kind, author, timestamp, data, state_delta)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')",
                            (
                                *key,
                                event.id,
                                sequence,
                                event.kind,
                                event.author,
                                last,
                                json.dumps(event.data, separators=(",", ":")),
                            ),
                        )
                        results.append((sequence, last))
                    if events:
                        conn.execute(
                            f"UPDATE sessions SET last_update_time = ? WHERE {_KEY}", (last, *key)
                        )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return results

        results = await self._run(write)
        missing: builtins.list[str] = []
        position = 0
        for session, events in batch:
            for event in events:
                result = results[position]
                position += 1
                if result is None:
                    continue
                event.sequence, event.timestamp = result
                apply_to_live(session, event, {})
            if events and results[position - 1] is None:
                missing.append(session.id)
        return missing

    async def note_activity(self, app_name: str, user_id: str, seen: Mapping[str, float]) -> None:
        if not seen:
            return
        rows = [(app_name, user_id, sid, ts, app_name, user_id, sid) for sid, ts in seen.items()]

        def write() -> None:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO activity (app_name, user_id, id, last_seen)"
                    " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE "
                    + _KEY
                    + ") ON CONFLICT DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(write)

    async def expire(
        self, app_name: str, user_id: str, cutoffs: Mapping[str, float]
    ) -> builtins.list[str]:
        if not cutoffs:
            return []

        def sweep() -> builtins.list[str]:
            conn = self._conn
            removed = []
            conn.execute("BEGIN IMMEDIATE")  # the database's write lock: one sweep at a time
            try:
                for sid, cutoff in cutoffs.items():
                    cursor = conn.execute(
                        f"DELETE FROM sessions WHERE {_KEY} AND MAX(last_update_time, COALESCE("
                        "(SELECT last_seen FROM activity a WHERE a.app_name = sessions.app_name"
                        " AND a.user_id = sessions.user_id AND a.id = sessions.id), 0)) <= ?",
                        (app_name, user_id, sid, cutoff),
                    )
                    if cursor.rowcount:
                        removed.append(sid)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return removed

        return await self._run(sweep)

    async def publish(self, message: str) -> None:
        def write() -> None:
            now = time.time()
            self._conn.execute("INSERT INTO bus (at, message) VALUES (?, ?)", (now, message))
            if int(now * 10) % 100 == 0:  # now and then: forget old messages
                self._conn.execute("DELETE FROM bus WHERE at < ?", (now - BUS_KEPT,))

        await self._run(write)

    async def peers(self) -> set[str]:
        def read() -> set[str]:
            rows = self._conn.execute("SELECT id, host, pid FROM replicas").fetchall()
            gone = [rid for rid, host, pid in rows if host == self._host and not _alive(pid)]
            if gone:
                self._conn.executemany("DELETE FROM replicas WHERE id = ?", [(g,) for g in gone])
            return {rid for rid, _, _ in rows if rid not in gone}

        return await self._run(read)

    async def messages(self, replica_id: str) -> AsyncIterator[str | None]:
        def join() -> int:
            self._conn.execute(
                "INSERT OR REPLACE INTO replicas (id, host, pid, started) VALUES (?, ?, ?, ?)",
                (replica_id, self._host, os.getpid(), time.time()),
            )
            row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM bus").fetchone()
            return int(row[0])

        def read(after: int) -> builtins.list[tuple[int, str]]:
            return self._conn.execute(
                "SELECT id, message FROM bus WHERE id > ? ORDER BY id", (after,)
            ).fetchall()

        last = await self._run(join)
        try:
            while True:
                try:
                    rows = await self._run(read, last)
                except sqlite3.Error:
                    rows = []
                for number, message in rows:
                    last = number
                    yield message
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            if not self._closed:
                await self._run(
                    lambda: self._conn.execute("DELETE FROM replicas WHERE id = ?", (replica_id,))
                )
