"""Which sessions of the shared mock are alive, and when each was last seen.

The mock records every call through its session hub; the served mock's hub
(:class:`ServeHub`) also notes the time, so any call carrying a session keeps it alive. That
costs a dict write per call, and only here: the embedded runner's mock uses the plain
:class:`~scenario_runner.mock.hub.SessionHub`, which knows nothing of TTLs.

Calls that carry no session belong to the global scope (key ``""``). Its log is kept in the
store under :data:`GLOBAL_STORE_ID`, so that the global stubs and history posted over the
admin API survive a restart like any session's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..ids import random_hex
from ..mock.hub import APP_NAME, USER_ID, FinishedCall, SessionHub
from ..sessions import AlreadyExistsError, Event, Session, SessionNotFoundError, SessionService
from ..sessions.shared import SharedSessionService

GLOBAL = ""  # the scope of stubs and calls that carry no session
GLOBAL_STORE_ID = "(global)"  # the store's id of the global scope's log (reserved)
TTL_METADATA = "x-mock-session-ttl"


def store_id(key: str) -> str:
    """The store's id of a scope's log."""
    return GLOBAL_STORE_ID if key == GLOBAL else key


def scope_key(session_id: str) -> str:
    """The scope of a stored log."""
    return GLOBAL if session_id == GLOBAL_STORE_ID else session_id


class Activity:
    """When each session was last seen (epoch seconds), and the TTL its calls asked for.

    Only dict writes: it is on the served mock's per-call path. A TTL asked for in call
    metadata is applied (and stored) by the next sweep.
    """

    def __init__(self) -> None:
        self.last_seen: dict[str, float] = {}
        self.asked_ttl: dict[str, str] = {}  # the last x-mock-session-ttl text of a call

    def seen(self, session_id: str, headers: Mapping[str, str] | None = None) -> None:
        self.last_seen[session_id] = time.time()
        if headers:
            text = headers.get(TTL_METADATA)
            if text is not None:
                self.asked_ttl[session_id] = text

    def forget(self, session_id: str) -> None:
        self.last_seen.pop(session_id, None)
        self.asked_ttl.pop(session_id, None)


class ServeHub(SessionHub):
    """The session hub of ``scenario-run serve``: notes activity, adopts stored sessions.

    On a shared store (several ``serve`` processes on one database) the mock's calls are
    written in batches (``flush_queued``, one transaction for every session), a session
    another process created first is taken over (``on_exists``), and one another process
    deleted is forgotten here (``on_gone``).
    """

    def __init__(self, service: SessionService, activity: Activity) -> None:
        super().__init__(service)
        self.activity = activity
        self._opening = asyncio.Lock()
        self._writing = asyncio.Lock()  # one batch of calls at a time, in order
        self.shared = service if isinstance(service, SharedSessionService) else None
        self.on_exists: Callable[[str], Awaitable[Session | None]] | None = None
        self.on_gone: Callable[[str], None] | None = None

    def record_call(self, call: FinishedCall) -> None:
        super().record_call(call)
        self.activity.seen(call.session_id, call.headers)

    def call_started(self, session_id: str) -> None:
        super().call_started(session_id)
        self.activity.seen(session_id)

    async def open(self, session_id: str, state: dict[str, Any] | None = None) -> Session:
        if self.live(session_id) is not None:
            return await super().open(session_id, state)
        # Two requests may open a new session at once; the store's create would refuse the
        # second. One at a time, the second finds the first's session live.
        async with self._opening:
            try:
                return await super().open(session_id, state)
            except AlreadyExistsError:
                # Another process sharing the store created it first: serve its session.
                found = await self.on_exists(session_id) if self.on_exists else None
                if found is None:
                    raise
                return found

    async def record(
        self,
        session_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        author: str = "runner",
        state_delta: dict[str, Any] | None = None,
    ) -> Event:
        try:
            return await super().record(
                session_id, kind, data, author=author, state_delta=state_delta
            )
        except SessionNotFoundError:
            self._gone(session_id)  # removed by another process meanwhile
            raise

    async def _flush(self, session_id: str) -> None:
        if self.shared is None:
            await super()._flush(session_id)
            return
        async with self._writing:
            queue = self._queued.pop(session_id, None)
            if queue:
                await self._write_or_keep({session_id: queue})

    async def flush(self, session_id: str) -> None:
        """Write the session's queued calls now."""
        await self._flush(session_id)

    async def flush_queued(self) -> list[str]:
        """Write every queued call in one batch; the scopes written to."""
        if self.shared is None:
            await self.flush_all()
            return []
        async with self._writing:
            queued, self._queued = self._queued, {}
            if queued:
                await self._write_or_keep(queued)
            return list(queued)

    async def _write_or_keep(self, queued: dict[str, list[FinishedCall]]) -> None:
        """Write the calls (one transaction: all of them, or none); when the store is away
        (restarting, say) they wait for the next write, ahead of the calls queued meanwhile:
        nothing the mock answered is lost."""
        try:
            await self._write(queued)
        except BaseException:
            for session_id, calls in self._queued.items():
                queued.setdefault(session_id, []).extend(calls)
            self._queued = queued
            raise

    async def _write(self, queued: dict[str, list[FinishedCall]]) -> None:
        assert self.shared is not None
        batch = []
        for session_id, calls in queued.items():
            session = self._live.get(session_id) or await self.open(session_id)
            events = [call.event(random_hex()) for call in calls]
            batch.append((session, events))
        for missing in await self.shared.append_many(batch):
            self._gone(scope_key(missing))

    def _gone(self, session_id: str) -> None:
        if self.on_gone is not None:
            self.on_gone(session_id)

    def forget(self, session_id: str) -> None:
        """Drop a session from memory only (the store no longer has it)."""
        self._live.pop(session_id, None)
        self._queued.pop(session_id, None)
        self._problems.pop(session_id, None)
        self._fakers.pop(session_id, None)

    def adopt(self, key: str, session: Session) -> None:
        """Serve ``session`` (read from the store) as the live session ``key``."""
        self._live[key] = session

    async def open_global(self) -> None:
        """The global scope's log: the stored one, or a new one."""
        if self.live(GLOBAL) is None:
            try:
                session = await self.service.create(APP_NAME, USER_ID, GLOBAL_STORE_ID)
            except AlreadyExistsError:  # another process sharing the store made it first
                if self.on_exists is None or await self.on_exists(GLOBAL) is None:
                    raise
                return
            self.adopt(GLOBAL, session)

    def busy(self, session_id: str) -> bool:
        """Whether the mock is still handling a call of this session."""
        return bool(self._in_flight.get(session_id))

    async def flush_all(self) -> None:
        """Write every queued mock call to the store (a persistent store keeps them then)."""
        for session_id in list(self._queued):
            await self._flush(session_id)
