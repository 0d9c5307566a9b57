"""The SQLite session store (``--sessions-db``): stdlib ``sqlite3``, JSON columns, WAL."""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scenario_runner.sessions.model import (
    AlreadyExistsError,
    DuplicateEventError,
    Event,
    Session,
    SessionNotFoundError,
    apply_to_live,
    check_get_options,
    clone_json,
    resolve_session_id,
    session_key_text,
    stored_delta,
)

_T = TypeVar("_T")

BUSY_TIMEOUT_SECONDS = 30.0

# JSON is kept in TEXT columns (a declared type "JSON" would get NUMERIC affinity).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    app_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    create_time REAL NOT NULL,
    last_update_time REAL NOT NULL,
    PRIMARY KEY (app_name, user_id, id)
);
CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions (app_name, last_update_time, id);
CREATE TABLE IF NOT EXISTS events (
    app_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    timestamp REAL NOT NULL,
    data TEXT NOT NULL,
    state_delta TEXT NOT NULL,
    FOREIGN KEY (app_name, user_id, session_id)
        REFERENCES sessions (app_name, user_id, id) ON DELETE CASCADE,
    UNIQUE (app_name, user_id, session_id, sequence),
    UNIQUE (app_name, user_id, session_id, id)
);
"""

_EVENT_COLUMNS = "id, sequence, kind, author, timestamp, data, state_delta"


def _columns_of_rows(count: int) -> str:
    """``SELECT`` the first ``count`` items of each row of a JSON array of rows (``?``)."""
    items = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))
    return f"SELECT {items} FROM json_each(?)"


_INSERT_SESSION = (
    "INSERT OR IGNORE INTO sessions"
    " (app_name, user_id, id, state, create_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    f"INSERT INTO events (app_name, user_id, session_id, {_EVENT_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same rows, many at once: one JSON array of rows, each an array of the columns, that
# SQLite takes apart itself (json_each), so a batch is one statement rather than one step per
# row. (Each step of ``executemany`` gives the interpreter's lock back, and waits to take
# it again while the run's loop holds it: thousands of hand-overs per batch.)
_INSERT_SESSIONS = (
    "INSERT OR IGNORE INTO sessions"
    " (app_name, user_id, id, state, create_time, last_update_time) " + _columns_of_rows(6)
)
_INSERT_EVENTS = (
    f"INSERT INTO events (app_name, user_id, session_id, {_EVENT_COLUMNS}) " + _columns_of_rows(10)
)
_ROWS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
# A kept session ready to write: its key, its row, its events' rows.
_Ready = tuple[tuple[str, str, str], tuple[Any, ...], list[tuple[Any, ...]]]
_SESSION_KEY = "app_name = ? AND user_id = ? AND id = ?"
_EVENT_KEY = "app_name = ? AND user_id = ? AND session_id = ?"


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


def _reads_json(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has its JSON functions (built in since 3.38, often before)."""
    try:
        conn.execute("SELECT count(*) FROM json_each('[]')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def _has_nul(heads: builtins.list[tuple[Any, ...]], events: builtins.list[tuple[Any, ...]]) -> bool:
    """Whether a name of these rows (a session's key, an event's id, kind or author) holds
    a NUL character, which JSON carries but SQLite's JSON functions cut short (such rows are
    bound one by one instead). The JSON columns cannot: their NULs are escaped."""
    names = [*(h[i] for h in heads for i in (0, 1, 2)), *(e[i] for e in events for i in (3, 5, 6))]
    return "\x00" in "".join(str(name) for name in names)


def _event_from_row(row: tuple[Any, ...]) -> Event:
    event_id, sequence, kind, author, timestamp, data, delta = row
    return Event(
        kind=kind,
        data=json.loads(data),
        state_delta=json.loads(delta),
        author=author,
        id=event_id,
        sequence=sequence,
        timestamp=timestamp,
    )


@dataclass
class KeptSession:
    """A whole session to write at once (``save_batch``): events final, numbered."""

    app_name: str
    user_id: str
    id: str
    state: dict[str, Any]
    create_time: float
    last_update_time: float
    events: builtins.list[Event]


class SqliteSessionService:
    """Sessions in one SQLite file (or ``":memory:"``).

    Every database call runs on one dedicated worker thread that owns the connection, so calls
    from many asyncio tasks (or event loops) are serialised without blocking the loop. Appends
    assign the sequence inside ``BEGIN IMMEDIATE``, so several processes sharing one file keep
    dense, unique sequence numbers (they wait up to ``busy_timeout`` for the write lock).
    ``synchronous=NORMAL`` (WAL): a crash of the process loses nothing, a power cut may lose
    the last commits. ``close()`` is synchronous and idempotent.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sessions-sqlite")
        self._closed = False
        try:
            self._conn = self._executor.submit(self._connect, busy_timeout).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=busy_timeout, isolation_level=None)
        deadline = time.monotonic() + busy_timeout
        try:
            while True:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("PRAGMA foreign_keys=ON")
                    conn.executescript(_SCHEMA)
                    self._bulk = _reads_json(conn)
                    break
                except sqlite3.OperationalError as exc:
                    # Processes opening a new file at once: the switch to WAL and the schema
                    # may find the file locked without SQLite's busy handler waiting.
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise RuntimeError("SqliteSessionService is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    @property
    def path(self) -> str:
        return self._path

    async def keys(self) -> set[tuple[str, str, str]]:
        """Every session's ``(app_name, user_id, id)``."""
        return await self._run(self._keys_sync)

    def _keys_sync(self) -> set[tuple[str, str, str]]:
        rows = self._conn.execute("SELECT app_name, user_id, id FROM sessions").fetchall()
        return {(str(a), str(u), str(i)) for a, u, i in rows}

    def save_batch(self, sessions: builtins.list[KeptSession]) -> Future[builtins.list[str]]:
        """Write whole sessions in one transaction, on the store's thread. The future's
        result says which were not written and why: the key taken meanwhile (by another
        process), or a value JSON cannot hold."""
        if self._closed:
            raise RuntimeError("SqliteSessionService is closed")
        return self._executor.submit(self._save_batch_sync, sessions)

    def _save_batch_sync(self, sessions: builtins.list[KeptSession]) -> builtins.list[str]:
        refused: builtins.list[str] = []
        ready: builtins.list[_Ready] = []
        for kept in sessions:
            key = (kept.app_name, kept.user_id, kept.id)
            try:
                head = (*key, _dumps(kept.state), kept.create_time, kept.last_update_time)
                rows = [
                    (
                        *key,
                        e.id,
                        e.sequence,
                        e.kind,
                        e.author,
                        e.timestamp,
                        _dumps(e.data),
                        _dumps(e.state_delta) if e.state_delta else "{}",
                    )
                    for e in kept.events
                ]
            except (TypeError, ValueError) as exc:
                refused.append(f"session {session_key_text(*key)}: {exc}")
                continue
            ready.append((key, head, rows))
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Every session at once, then every event: a few calls into SQLite per batch, not
            # two per session (each call gives the interpreter's lock back to the run's loop,
            # and waits to take it again).
            before = conn.total_changes
            heads = [head for _, head, _ in ready]
            events = [row for _, _, rows in ready for row in rows]
            bulk = self._bulk and not _has_nul(heads, events)
            if bulk:
                conn.execute(_INSERT_SESSIONS, (_ROWS(heads),))
            else:
                conn.executemany(_INSERT_SESSION, heads)
            if conn.total_changes - before == len(ready):
                if bulk:
                    conn.execute(_INSERT_EVENTS, (_ROWS(events),))
                else:
                    conn.executemany(_INSERT_EVENT, events)
            else:  # some key was taken meanwhile (by another process): find which, one by one
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                for key, head, rows in ready:
                    if conn.execute(_INSERT_SESSION, head).rowcount == 0:
                        refused.append(
                            f"session {session_key_text(*key)} was kept by another process "
                            "meanwhile"
                        )
                        continue
                    conn.executemany(_INSERT_EVENT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return refused

    def close(self) -> None:
        """Finish pending work and close the connection (blocks briefly)."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._conn.close).result()
        self._executor.shutdown(wait=True)

    async def create(
        self,
        app_name: str,
        user_id: str,
        session_id: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> Session:
        """Create a session; ``AlreadyExistsError`` for a taken key."""
        sid = resolve_session_id(session_id)
        initial = clone_json(state or {})
        now = time.time()
        await self._run(self._create_sync, app_name, user_id, sid, _dumps(initial), now)
        return Session(sid, app_name, user_id, initial, [], now)

    def _create_sync(self, app: str, user: str, sid: str, state: str, now: float) -> None:
        try:
            self._conn.execute(
                "INSERT INTO sessions (app_name, user_id, id, state, create_time, last_update_time)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (app, user, sid, state, now, now),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExistsError(
                f"session {session_key_text(app, user, sid)} already exists"
            ) from None

    async def get(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        num_recent_events: int | None = None,
        after: float | None = None,
    ) -> Session:
        """A snapshot: events with ``timestamp >= after``, then the last ``num_recent_events``."""
        check_get_options(num_recent_events)
        return await self._run(
            self._get_sync, app_name, user_id, session_id, num_recent_events, after
        )

    def _get_sync(
        self, app: str, user: str, sid: str, limit: int | None, after: float | None
    ) -> Session:
        key = (app, user, sid)
        conn = self._conn
        conn.execute("BEGIN")  # one consistent snapshot for both reads
        try:
            row = conn.execute(
                f"SELECT state, last_update_time FROM sessions WHERE {_SESSION_KEY}", key
            ).fetchone()
            if row is None:
                raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
            where = _EVENT_KEY + ("" if after is None else " AND timestamp >= ?")
            params: tuple[Any, ...] = key if after is None else (*key, after)
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} ORDER BY sequence DESC LIMIT ?",
                (*params, -1 if limit is None else limit),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        events = [_event_from_row(item) for item in reversed(rows)]
        return Session(sid, app, user, json.loads(row[0]), events, row[1])

    async def list(self, app_name: str, user_id: str | None = None) -> builtins.list[Session]:
        """Sessions of the app (every user's when ``user_id`` is None), with state, no events."""
        return await self._run(self._list_sync, app_name, user_id)

    def _list_sync(self, app: str, user: str | None) -> builtins.list[Session]:
        query = "SELECT user_id, id, state, last_update_time FROM sessions WHERE app_name = ?"
        params: tuple[str, ...] = (app,)
        if user is not None:
            query += " AND user_id = ?"
            params = (app, user)
        rows = self._conn.execute(
            query + " ORDER BY last_update_time, id, user_id", params
        ).fetchall()
        return [Session(sid, app, uid, json.loads(state), [], ts) for uid, sid, state, ts in rows]

    async def delete(self, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session and (by cascade) its events."""
        await self._run(self._delete_sync, app_name, user_id, session_id)

    def _delete_sync(self, app: str, user: str, sid: str) -> None:
        cursor = self._conn.execute(f"DELETE FROM sessions WHERE {_SESSION_KEY}", (app, user, sid))
        if cursor.rowcount == 0:
            raise SessionNotFoundError(f"session {session_key_text(app, user, sid)} not found")

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store ``event`` and mirror it on ``session`` (the same object is appended there).

        Assigns ``id`` when empty, ``sequence`` always, ``timestamp`` when 0; stores
        ``state_delta`` without ``temp:`` keys (``session`` gets them all). Raises
        ``SessionNotFoundError`` / ``DuplicateEventError`` before changing anything.
        """
        delta = event.state_delta
        kept = stored_delta(delta) if delta else {}
        event_id = event.id or uuid.uuid4().hex
        sequence, timestamp = await self._run(
            self._append_sync,
            (session.app_name, session.user_id, session.id),
            event_id,
            event.kind,
            event.author,
            event.timestamp,
            _dumps(event.data),
            kept,
        )
        event.id = event_id
        event.sequence = sequence
        event.timestamp = timestamp
        event.state_delta = kept
        apply_to_live(session, event, delta)
        return event

    def _append_sync(
        self,
        key: tuple[str, str, str],
        event_id: str,
        kind: str,
        author: str,
        timestamp: float,
        data: str,
        delta: dict[str, Any],
    ) -> tuple[int, float]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(f"SELECT state FROM sessions WHERE {_SESSION_KEY}", key).fetchone()
            if row is None:
                raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
            if conn.execute(
                f"SELECT 1 FROM events WHERE {_EVENT_KEY} AND id = ?", (*key, event_id)
            ).fetchone():
                raise DuplicateEventError(
                    f"event {event_id!r} already in session {session_key_text(*key)}"
                )
            (sequence,) = conn.execute(
                f"SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE {_EVENT_KEY}", key
            ).fetchone()
            # Stamped inside the write lock, so timestamps follow sequence order.
            timestamp = timestamp or time.time()
            conn.execute(
                f"INSERT INTO events (app_name, user_id, session_id, {_EVENT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, event_id, sequence, kind, author, timestamp, data, _dumps(delta)),
            )
            if delta:
                state = json.loads(row[0])
                state.update(delta)
                conn.execute(
                    f"UPDATE sessions SET state = ?, last_update_time = ? WHERE {_SESSION_KEY}",
                    (_dumps(state), timestamp, *key),
                )
            else:
                conn.execute(
                    f"UPDATE sessions SET last_update_time = ? WHERE {_SESSION_KEY}",
                    (timestamp, *key),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return int(sequence), float(timestamp)

    async def get_events(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        kinds: Collection[str] | None = None,
        after_sequence: int = 0,
    ) -> builtins.list[Event]:
        """Events with ``sequence > after_sequence`` (and ``kind in kinds``), oldest first."""
        check_get_options(None, after_sequence)
        kind_list = None if kinds is None else builtins.list(kinds)
        return await self._run(
            self._get_events_sync, (app_name, user_id, session_id), kind_list, after_sequence
        )

    def _get_events_sync(
        self, key: tuple[str, str, str], kinds: builtins.list[str] | None, after_sequence: int
    ) -> builtins.list[Event]:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            if conn.execute(f"SELECT 1 FROM sessions WHERE {_SESSION_KEY}", key).fetchone() is None:
                raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
            if kinds is not None and not kinds:
                return []
            query = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {_EVENT_KEY} AND sequence > ?"
            params: builtins.list[Any] = [*key, after_sequence]
            if kinds is not None:
                query += f" AND kind IN ({', '.join('?' * len(kinds))})"
                params.extend(kinds)
            rows = conn.execute(query + " ORDER BY sequence", params).fetchall()
        finally:
            conn.execute("COMMIT")
        return [_event_from_row(row) for row in rows]
