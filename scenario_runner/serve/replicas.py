"""Several ``serve`` processes on one store acting as one mock.

Each replica keeps what it serves in memory (stub indexes, use counts, the session logs), so
matching a call never waits on the database. What the others change reaches it over the
store's message bus (PostgreSQL ``LISTEN/NOTIFY``; a polled table in SQLite):

* an admin change (a stub posted or removed, a TTL, a history cleared, a session deleted or
  swept) is written to the session's log, then every live replica is asked to catch up on
  that session, and the request is answered once they all have (or are gone): a stub posted
  on one replica answers on every replica when its POST returns;
* the mock's calls are written in batches (every ``FLUSH_INTERVAL``), and the others are told
  which sessions grew, so stub use counts (``options.times``) follow within that time (they
  read the calls in short: method and stub, no request or response);
* before ``verify``, ``/api/history`` or ``GET /api/sessions/{id}`` answer, every replica is
  asked to write the session's calls (after those it is still handling), then the log is
  read from the store: a verification sees the calls made on every replica;
* every ``RESYNC_INTERVAL`` the sessions' versions in the store are compared with what the
  replica holds, which catches anything a lost notification did not say;
* the TTL sweep pushes when sessions were last seen here and deletes, in the database and
  under its lock, those idle everywhere: exactly one sweep removes each.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from bisect import insort
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from typing import TYPE_CHECKING

from ..ids import random_hex
from ..mock.hub import APP_NAME, USER_ID
from ..sessions import Event, Session, SessionNotFoundError
from ..sessions.shared import SharedSessionService, new_replica_id
from . import records
from .sessions import GLOBAL, scope_key, store_id
from .stub_input import StubInputError, rebuild

if TYPE_CHECKING:
    from .core import SharedMock

FLUSH_INTERVAL = 0.02  # seconds between writes of the mock's calls (and of activity)
RESYNC_INTERVAL = 1.0  # seconds between version checks
SYNC_TIMEOUT = 2.0  # seconds a change waits for the other replicas to catch up
FLUSH_TIMEOUT = 7.0  # seconds a read waits for them to write their calls
PRESENCE_CHECK = 0.25  # seconds between looks at who is still alive, while waiting


def dense_prefix(events: Sequence[Event]) -> int:
    """The highest n such that events 1..n are all here (they are sorted by sequence)."""
    count = len(events)
    if not count or events[-1].sequence == count:
        return count
    for position, event in enumerate(events):
        if event.sequence != position + 1:
            return position
    return count


class Replica:
    def __init__(self, mock: SharedMock, store: SharedSessionService) -> None:
        self.id = new_replica_id()
        self.mock = mock
        self.store = store
        self.ready = asyncio.Event()
        self._waiting: dict[str, tuple[set[str], asyncio.Event]] = {}
        self._pushed: dict[str, float] = {}
        self._incarnation: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduled: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._messages: AsyncIterator[str | None] | None = None
        hub = mock.hub
        hub.on_exists = self._taken_over
        hub.on_gone = self.forget

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen (before the store is read back, so nothing said meanwhile is lost)."""
        self._messages = self.store.messages(self.id)
        self._tasks.append(asyncio.create_task(self._listen(self._messages)))

    def serving(self) -> None:
        """The store was read back: handle messages, write calls, check versions."""
        self.ready.set()
        self._tasks.append(asyncio.create_task(self._flusher()))
        self._tasks.append(asyncio.create_task(self._resyncer()))

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._messages is not None:
            with contextlib.suppress(Exception):
                await self._messages.aclose()  # type: ignore[attr-defined]

    # -- what this replica says ----------------------------------------------------------

    async def changed(self, key: str) -> None:
        """The scope's log changed here: every replica catches up before this returns."""
        await self._ask("sync", key, SYNC_TIMEOUT)

    async def gather(self, key: str) -> None:
        """Before reading a scope's log: every replica's calls of it are written."""
        await self.mock.hub.settled(key, FLUSH_TIMEOUT - 2)
        await self.mock.hub.flush(key)
        await self._ask("flush", key, FLUSH_TIMEOUT)
        await self.sync(key)

    async def events(self, key: str, kinds: Collection[str] | None = None) -> list[Event]:
        """The scope's whole log, read from the store (this replica holds the calls of the
        others in short: method and stub only)."""
        try:
            return await self.store.get_events(APP_NAME, USER_ID, store_id(key), kinds)
        except SessionNotFoundError:
            return []

    async def _ask(self, op: str, key: str, timeout: float) -> None:
        expected = await self.store.peers()
        expected.discard(self.id)
        if not expected:
            return
        token = random_hex(12)
        answered: set[str] = set()
        wake = asyncio.Event()
        self._waiting[token] = (answered, wake)
        try:
            await self.store.publish(f"req {self.id} {token} {op} {store_id(key)}")
            deadline = time.monotonic() + timeout
            while not expected <= answered:
                left = deadline - time.monotonic()
                if left <= 0:
                    late = ", ".join(sorted(expected - answered))
                    _warn(f"replica(s) {late} did not answer a {op} of {_shown(key)} in {timeout}s")
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), min(PRESENCE_CHECK, left))
                if not wake.is_set():
                    expected &= await self.store.peers()  # the gone are not waited for
                wake.clear()
        finally:
            self._waiting.pop(token, None)

    # -- what the others say -------------------------------------------------------------

    async def _listen(self, messages: AsyncIterator[str | None]) -> None:
        async for message in messages:
            if message is None:
                self._spawn(self._resync())
                continue
            kind, _, rest = message.partition(" ")
            sender, _, rest = rest.partition(" ")
            if sender == self.id:
                continue
            if kind == "ack":
                waiting = self._waiting.get(rest)
                if waiting is not None:
                    waiting[0].add(sender)
                    waiting[1].set()
            elif kind == "req":
                token, _, rest = rest.partition(" ")
                op, _, session_id = rest.partition(" ")
                self._spawn(self._answer(token, op, scope_key(session_id)))
            elif kind == "note":
                for session_id in rest.split("\n"):
                    self.schedule(scope_key(session_id))

    async def _answer(self, token: str, op: str, key: str) -> None:
        await self.ready.wait()
        try:
            if op == "flush":
                await self.mock.hub.settled(key, FLUSH_TIMEOUT - 2)
                await self.mock.hub.flush(key)
            else:
                await self.sync(key)
        finally:
            await self.store.publish(f"ack {self.id} {token}")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.create_task(self._logged(coro))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _logged(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store problem may be passing; the version check follows
            _warn(f"replica sync failed: {type(exc).__name__}: {exc}")

    def schedule(self, key: str) -> None:
        """Catch up on a scope soon (once, however many times it is asked meanwhile)."""
        if key in self._scheduled:
            return
        self._scheduled.add(key)

        async def run() -> None:
            await self.ready.wait()
            self._scheduled.discard(key)
            await self.sync(key)

        self._spawn(run())

    # -- catching up ---------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the scope up to its stored log: new events applied, a gone session dropped."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            hub = self.mock.hub
            live = hub.live(key)
            after = dense_prefix(live.events) if live is not None else 0
            try:
                tail = await self.store.tail(APP_NAME, USER_ID, store_id(key), after, light=True)
            except SessionNotFoundError:
                if key != GLOBAL:
                    self.forget(key)
                return
            known = self._incarnation.get(key)
            if live is not None and known is not None and known != tail.create_time:
                self.forget(key)  # deleted and created again: start afresh
                live = None
                tail = await self.store.tail(APP_NAME, USER_ID, store_id(key), 0, light=True)
            self._incarnation[key] = tail.create_time
            if live is None:
                session = Session(store_id(key), APP_NAME, USER_ID, tail.state, [], 0.0)
                session.events = tail.events
                if tail.events:
                    session.last_update_time = tail.events[-1].timestamp
                self.mock.load(key, session)
                return
            self._apply(key, live, tail.events)

    def _apply(self, key: str, live: Session, events: Sequence[Event]) -> None:
        """Events another replica wrote: their effect on this one's memory, then the log."""
        mock = self.mock
        present = {event.sequence for event in live.events[dense_prefix(live.events) :]}
        uses = mock.store.session(key).uses
        for event in events:
            if event.sequence in present:
                continue
            kind, data = event.kind, event.data
            if kind == records.MOCK_CALL and data.get("stub_id"):
                stub_id = str(data["stub_id"])
                uses[stub_id] = uses.get(stub_id, 0) + 1
            elif kind == records.STUB_ADDED and isinstance(data.get("stub"), dict):
                try:
                    mock.register(key, [rebuild(data["stub"], mock.registry, mock.templates)])
                except StubInputError as exc:
                    _warn(f"a stub of {_shown(key)} from another replica dropped: {exc}")
            elif kind == records.STUB_REMOVED:
                mock.unregister(key, [str(data.get("stub_id"))])
            elif kind == records.STUBS_CLEARED:
                mock.unregister(key, list(mock.scope(key).stubs))
            elif kind == records.SESSION_TTL:
                ttl = data.get("ttl")
                mock.scope(key).ttl = float(ttl) if isinstance(ttl, (int, float)) else None
            insort(live.events, event, key=lambda item: item.sequence)
            live.last_update_time = max(live.last_update_time, event.timestamp)

    async def _taken_over(self, key: str) -> Session | None:
        await self.sync(key)
        return self.mock.hub.live(key)

    def forget(self, key: str) -> None:
        """The session is gone from the store: drop it here too."""
        if key == GLOBAL:
            return
        self.mock.forget(key)
        self._incarnation.pop(key, None)
        self._pushed.pop(key, None)
        self._locks.pop(key, None)

    async def _resync(self) -> None:
        """The version check: the store's heads against what this replica holds."""
        await self.ready.wait()
        heads = await self.store.heads(APP_NAME, USER_ID)
        hub = self.mock.hub
        held = {*hub.session_ids(), *self.mock.activity.last_seen}
        for key in held:
            if key != GLOBAL and store_id(key) not in heads and key not in hub._queued:
                self.forget(key)
        for session_id, head in heads.items():
            key = scope_key(session_id)
            live = hub.live(key)
            known = self._incarnation.get(key)
            if (
                live is None
                or dense_prefix(live.events) < head.version
                or (known is not None and known != head.create_time)
            ):
                self.schedule(key)

    async def _resyncer(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL)
            await self._logged(self._resync())

    # -- writing -------------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._logged(self.flush())

    async def flush(self) -> None:
        """Write the queued calls (one batch) and tell the others; push activity."""
        written = await self.mock.hub.flush_queued()
        if written:
            await self.store.publish(
                f"note {self.id} " + "\n".join(store_id(key) for key in written)
            )
        await self.push_activity()

    async def push_activity(self) -> None:
        now = time.time()
        hub = self.mock.hub
        seen = {
            key: at
            for key, at in self.mock.activity.last_seen.items()
            if key != GLOBAL and self._pushed.get(key) != at
        }
        for key in list(hub._in_flight):
            if key != GLOBAL:
                seen[key] = now  # a call still being handled keeps its session alive
        if seen:
            await self.store.note_activity(APP_NAME, USER_ID, seen)
            self._pushed.update(seen)

    async def sweep(self, now: float) -> list[str]:
        """Remove the sessions idle on every replica past their TTL (one replica's sweep
        removes each); returns those this one removed."""
        mock = self.mock
        await self.push_activity()
        cutoffs: dict[str, float] = {}
        for key, seen in list(mock.activity.last_seen.items()):
            ttl = mock.ttl_of(key) if key != GLOBAL else None
            if ttl is None or now - seen <= ttl or mock.hub.busy(key):
                continue
            cutoffs[store_id(key)] = now - ttl
        removed = [scope_key(sid) for sid in await self.store.expire(APP_NAME, USER_ID, cutoffs)]
        for key in removed:
            ttl = mock.ttl_of(key)
            self.forget(key)
            _warn(f"session {_shown(key)} expired (idle for more than its TTL of {ttl:g}s)")
            await self.changed(key)
        return removed


def _shown(key: str) -> str:
    return "the global scope" if key == GLOBAL else repr(key)


def _warn(message: str) -> None:
    print(f"scenario-run serve: {message}", file=sys.stderr, flush=True)
