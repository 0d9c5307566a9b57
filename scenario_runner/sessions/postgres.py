"""The PostgreSQL session store (``serve --store postgresql://USER@HOST:PORT/DB``).

psycopg 3, async, on an event loop of its own in one background thread (as the SQLite store
owns a worker thread): callers on any loop or thread await it without sharing a connection,
and ``close()`` stays synchronous. JSON is kept in ``json`` columns (the text as written, so
key order survives), never pickled. The store creates its schema and records its version in
``scenario_run_schema``; a database written by a newer version is refused.

Besides the session contract it is a shared store (``sessions.shared``): replicas of the
served mock on any number of machines use it as one, through ``LISTEN/NOTIFY``, a version
per session and an advisory lock for the TTL sweep. Imported only by ``serve`` with a
``postgresql://`` store.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Collection, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from scenario_runner.sessions import pg_sql as q
from scenario_runner.sessions.model import (
    AlreadyExistsError,
    DuplicateEventError,
    Event,
    Session,
    SessionNotFoundError,
    StoreError,
    apply_to_live,
    check_get_options,
    clone_json,
    resolve_session_id,
    session_key_text,
    stored_delta,
)
from scenario_runner.sessions.shared import BUS_CHANNEL, Head, Tail

_T = TypeVar("_T")
POOL_SIZE = 4
UNAVAILABLE_AFTER = 5.0  # seconds a request waits for a connection before it is refused
CONNECT_TIMEOUT = 10.0  # seconds to reach the server at start
RECONNECT_DELAY = 0.5  # seconds between tries of a lost LISTEN connection
APPLICATION = "scenario-run serve"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _event(row: Sequence[Any]) -> Event:
    event_id, sequence, kind, author, timestamp, data, delta = row
    return Event(
        kind=kind,
        data=data,
        state_delta=delta,
        author=author,
        id=event_id,
        sequence=int(sequence),
        timestamp=float(timestamp),
    )


# an append waiting to be written: its session, statement parameters, state change, result
_Waiting = tuple[tuple[str, str, str], list[Any], dict[str, Any], "asyncio.Future[TupleRow | None]"]


class _LoopThread:
    """An event loop running in a daemon thread; coroutines are handed to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="sessions-postgres", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class PostgresSessionService:
    """Sessions in PostgreSQL; ``url`` is a libpq URL (``postgresql://user@host:5432/db``).

    Appends take the session's row lock (its ``version`` column is the last sequence), so
    any number of processes keep dense, unique sequences, and an append with no state change
    is one statement. ``close()`` is synchronous and idempotent.
    """

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self._closed = False
        self._waiting: builtins.list[_Waiting] = []
        self._writing = False
        self._runner = _LoopThread()
        try:
            self._pool = self._runner.submit(self._open(pool_size)).result()
        except BaseException:
            self._runner.stop()
            raise

    async def _open(self, pool_size: int) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
        # One connection first: it fails fast, saying why (the pool would only retry).
        try:
            first = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {_shown(self.url)}: {exc}") from exc
        async with first:
            await _ensure_schema(first)
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "application_name": "scenario-run store"},
            # A connection is checked before it is lent: after the server restarted, the
            # ones it dropped are replaced instead of failing the next request.
            check=AsyncConnectionPool.check_connection,
            timeout=UNAVAILABLE_AFTER,  # then PoolTimeout: the store is unavailable
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            await pool.close()
            raise StoreError(f"cannot connect to {_shown(self.url)}: {exc}") from exc
        return pool

    async def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._closed:
            coro.close()
            raise RuntimeError("PostgresSessionService is closed")
        try:
            return await asyncio.wrap_future(self._runner.submit(coro))
        except psycopg.OperationalError as exc:  # the server is away (restarting, say)
            raise StoreError(f"the session store {_shown(self.url)} is unavailable: {exc}") from exc

    def close(self) -> None:
        """Close the connections (blocks briefly)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.submit(self._pool.close()).result(30)
        finally:
            self._runner.stop()

    # -- the session contract --------------------------------------------------------------

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
        await self._run(self._create(app_name, user_id, sid, _dumps(initial), now))
        return Session(sid, app_name, user_id, initial, [], now)

    async def _create(self, app: str, user: str, sid: str, state: str, now: float) -> None:
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(q.CREATE, (app, user, sid, state, now, now, now))
            ).fetchone()
        if row is None:
            raise AlreadyExistsError(f"session {session_key_text(app, user, sid)} already exists")

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
        return await self._run(self._get(app_name, user_id, session_id, num_recent_events, after))

    async def _get(
        self, app: str, user: str, sid: str, limit: int | None, after: float | None
    ) -> Session:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(q.GET, (after, after, limit, app, user, sid))
            rows = await cursor.fetchall()
        if not rows:
            raise SessionNotFoundError(f"session {session_key_text(app, user, sid)} not found")
        state, updated = rows[0][0], rows[0][1]
        events = [_event(row[2:]) for row in reversed(rows) if row[2] is not None]
        return Session(sid, app, user, state, events, float(updated))

    async def list(self, app_name: str, user_id: str | None = None) -> builtins.list[Session]:
        """Sessions of the app (every user's when ``user_id`` is None), with state, no events."""
        return await self._run(self._list(app_name, user_id))

    async def _list(self, app: str, user: str | None) -> builtins.list[Session]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(q.LIST, (app, user, user))).fetchall()
        return [Session(sid, app, uid, state, [], float(ts)) for uid, sid, state, ts in rows]

    async def delete(self, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session and (by cascade) its events."""
        await self._run(self._delete(app_name, user_id, session_id))

    async def _delete(self, app: str, user: str, sid: str) -> None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(q.DELETE, (app, user, sid))).fetchone()
        if row is None:
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
        key = (session.app_name, session.user_id, session.id)
        params = [
            *key,
            event_id,
            event.kind,
            event.author,
            event.timestamp or None,
            _dumps(event.data),
            _dumps(kept),
        ]
        sequence, timestamp = await self._run(self._append(key, params, kept))
        event.id = event_id
        event.sequence = sequence
        event.timestamp = timestamp
        event.state_delta = kept
        apply_to_live(session, event, delta)
        return event

    async def _append(
        self, key: tuple[str, str, str], params: builtins.list[Any], delta: dict[str, Any]
    ) -> tuple[int, float]:
        """Appends waiting at the same moment are written together, in the order they came,
        in one transaction and one round trip (on this machine a commit costs more than the
        statements); alone, an append without a state change is one statement."""
        done: asyncio.Future[TupleRow | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, params, delta, done))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_waiting())
        row = await done
        if row is None:
            raise _not_found(key)
        return int(row[0]), float(row[1])

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                rows: builtins.list[TupleRow | None] | None = None
                if len(batch) > 1:
                    try:
                        rows = await self._append_together(batch)
                    except psycopg.Error:
                        rows = None  # one of them is refused: each on its own, to say which
                for position, (key, params, delta, done) in enumerate(batch):
                    if rows is not None:
                        done.set_result(rows[position])
                        continue
                    try:
                        done.set_result(await self._append_one(key, params, delta))
                    except BaseException as exc:  # handed to the caller
                        done.set_exception(exc)
        finally:
            self._writing = False

    async def _append_together(
        self, batch: builtins.list[_Waiting]
    ) -> builtins.list[TupleRow | None]:
        async with self._pool.connection() as conn, conn.transaction():
            states: dict[tuple[str, str, str], dict[str, Any] | None] = {}
            for key, _, delta, _ in batch:
                if delta and key not in states:
                    found = await (await conn.execute(q.LOCK_STATE, key)).fetchone()
                    states[key] = found[0] if found is not None else None
            cursors: builtins.list[psycopg.AsyncCursor[TupleRow] | None] = []
            async with conn.pipeline():
                for key, params, delta, _ in batch:
                    cursor = conn.cursor()
                    if not delta:
                        await cursor.execute(q.APPEND, params)
                    else:
                        state = states[key]
                        if state is None:
                            cursors.append(None)
                            continue
                        state.update(delta)
                        await cursor.execute(q.APPEND_WITH_STATE, [*params, _dumps(state)])
                    cursors.append(cursor)
            return [await cursor.fetchone() if cursor else None for cursor in cursors]

    async def _append_one(
        self, key: tuple[str, str, str], params: builtins.list[Any], delta: dict[str, Any]
    ) -> TupleRow | None:
        async with self._pool.connection() as conn:
            try:
                if not delta:
                    return await (await conn.execute(q.APPEND, params)).fetchone()
                async with conn.transaction():
                    found = await (await conn.execute(q.LOCK_STATE, key)).fetchone()
                    if found is None:
                        return None
                    state = found[0]
                    state.update(delta)
                    return await (
                        await conn.execute(q.APPEND_WITH_STATE, [*params, _dumps(state)])
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise DuplicateEventError(
                    f"event {params[3]!r} already in session {session_key_text(*key)}"
                ) from None

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
        tail = await self._run(
            self._tail((app_name, user_id, session_id), after_sequence, kind_list)
        )
        return tail.events

    async def _tail(
        self,
        key: tuple[str, str, str],
        after: int,
        kinds: builtins.list[str] | None,
        light: bool = False,
    ) -> Tail:
        statement = q.LIGHT_TAIL if light else q.TAIL
        async with self._pool.connection() as conn:
            cursor = await conn.execute(statement, (after, kinds, kinds, *key))
            rows = await cursor.fetchall()
        if not rows:
            raise _not_found(key)
        create_time, version, state = rows[0][:3]
        events = [_event(row[3:]) for row in rows if row[3] is not None]
        return Tail(float(create_time), int(version), state, events)

    # -- shared by replicas ----------------------------------------------------------------

    async def heads(self, app_name: str, user_id: str) -> dict[str, Head]:
        return await self._run(self._heads(app_name, user_id))

    async def _heads(self, app: str, user: str) -> dict[str, Head]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(q.HEADS, (app, user))).fetchall()
        return {sid: Head(float(created), int(version)) for sid, created, version in rows}

    async def tail(
        self, app_name: str, user_id: str, session_id: str, after: int, light: bool = False
    ) -> Tail:
        key = (app_name, user_id, session_id)
        return await self._run(self._tail(key, after, None, light))

    async def append_many(
        self, batch: Sequence[tuple[Session, Sequence[Event]]]
    ) -> builtins.list[str]:
        params: builtins.list[builtins.list[Any]] = []
        for session, events in batch:
            for event in events:
                if event.state_delta:
                    raise ValueError("append_many takes events without a state_delta")
                event.id = event.id or uuid.uuid4().hex
                params.append(
                    [
                        session.app_name,
                        session.user_id,
                        session.id,
                        event.id,
                        event.kind,
                        event.author,
                        event.timestamp or None,
                        _dumps(event.data),
                        "{}",
                    ]
                )
        if not params:
            return []
        results = await self._run(self._append_many(params))
        missing: builtins.list[str] = []
        position = 0
        for session, events in batch:
            gone = False
            for event in events:
                row = results[position]
                position += 1
                if row is None:
                    gone = True
                    continue
                event.sequence, event.timestamp = int(row[0]), float(row[1])
                apply_to_live(session, event, {})
            if gone:
                missing.append(session.id)
        return missing

    async def _append_many(
        self, params: builtins.list[builtins.list[Any]]
    ) -> builtins.list[TupleRow | None]:
        results: builtins.list[TupleRow | None] = []
        async with self._pool.connection() as conn, conn.transaction():
            cursor = conn.cursor()
            await cursor.executemany(q.APPEND, params, returning=True)
            while True:
                results.append(await cursor.fetchone())
                if not cursor.nextset():
                    break
        return results

    async def note_activity(self, app_name: str, user_id: str, seen: Mapping[str, float]) -> None:
        if seen:
            ids, times = builtins.list(seen), builtins.list(seen.values())
            await self._run(self._execute(q.NOTE_ACTIVITY, (ids, times, app_name, user_id)))

    async def _execute(self, statement: str, params: Sequence[Any]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(statement, params)

    async def expire(
        self, app_name: str, user_id: str, cutoffs: Mapping[str, float]
    ) -> builtins.list[str]:
        if not cutoffs:
            return []
        ids, times = builtins.list(cutoffs), builtins.list(cutoffs.values())
        return await self._run(self._expire(ids, times, app_name, user_id))

    async def _expire(
        self, ids: builtins.list[str], times: builtins.list[float], app: str, user: str
    ) -> builtins.list[str]:
        async with self._pool.connection() as conn, conn.transaction():
            locked = await (await conn.execute(q.TRY_SWEEP_LOCK)).fetchone()
            if not locked or not locked[0]:
                return []
            rows = await (await conn.execute(q.EXPIRE, (ids, times, app, user))).fetchall()
        return [row[0] for row in rows]

    async def publish(self, message: str) -> None:
        await self._run(self._execute(q.NOTIFY, (BUS_CHANNEL, message)))

    async def peers(self) -> set[str]:
        return await self._run(self._peers())

    async def _peers(self) -> set[str]:
        prefix = APPLICATION + " "
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(q.PEERS, (prefix + "%",))).fetchall()
        return {str(name)[len(prefix) :] for (name,) in rows}

    async def messages(self, replica_id: str) -> AsyncIterator[str | None]:
        """Listen on the bus (one connection, named after the replica, so ``peers`` sees it
        while it is open); a lost connection is opened again, then ``None`` is yielded."""
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def hand(item: str | None) -> None:
            caller.call_soon_threadsafe(queue.put_nowait, item)

        listening = self._runner.submit(self._listen(replica_id, hand))
        try:
            while True:
                yield await queue.get()
        finally:
            listening.cancel()

    async def _listen(self, replica_id: str, hand: Any) -> None:
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url,
                    autocommit=True,
                    application_name=f"{APPLICATION} {replica_id}",
                    connect_timeout=int(CONNECT_TIMEOUT),
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(BUS_CHANNEL)))
                    if not first:
                        hand(None)  # what was said while we were away is lost: catch up
                    first = False
                    async for notify in conn.notifies():
                        hand(notify.payload)
            except psycopg.Error:
                first = False
                await asyncio.sleep(RECONNECT_DELAY)


async def _ensure_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the tables, or check that the stored schema is one this code knows."""
    async with conn.transaction():
        await conn.execute(q.SCHEMA_LOCK)
        await conn.execute(q.SCHEMA_TABLE)
        row = await (await conn.execute(q.SCHEMA_VERSION_GET)).fetchone()
        stored = int(row[0]) if row and row[0] is not None else 0
        if stored > q.SCHEMA_VERSION:
            raise StoreError(
                f"the database's session schema is version {stored}, newer than this "
                f"scenario-run's ({q.SCHEMA_VERSION}): upgrade scenario-run"
            )
        for version in range(stored + 1, q.SCHEMA_VERSION + 1):
            for statement in q.MIGRATIONS[version]:
                await conn.execute(statement)
        if stored < q.SCHEMA_VERSION:
            await conn.execute(q.SCHEMA_VERSION_SET, (q.SCHEMA_VERSION,))


def _not_found(key: tuple[str, str, str]) -> SessionNotFoundError:
    return SessionNotFoundError(f"session {session_key_text(*key)} not found")


def _shown(url: str) -> str:
    """The URL without a password."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"
