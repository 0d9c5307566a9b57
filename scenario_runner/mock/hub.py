"""Live sessions shared by the mock and the runner, on top of a session store.

The hub keeps one live ``Session`` object per session id, so the mock (recording calls) and
the runner (recording client calls, saved values, verifications) append to the same log.

The mock's per-call path only queues its finished call (``record_call``): a call record is
a fraction of the size of the event made from it, and growing memory is what costs most
per call here. The queue is written to the store, in order, before any other write or any
read of that session (and when a kept session is closed), so the log keeps the order things
happened in and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..ids import random_hex
from ..sessions import Event, InMemorySessionService, Session, SessionService
from ..sessions.model import clone_json

if TYPE_CHECKING:
    from ..gotemplate import FakerRoot
    from ..sessions.keeper import SessionKeeper

APP_NAME = "scenario-run"
USER_ID = "default"
SESSION_HEADER = "x-mock-session"
SESSION_HEADER_ALIAS = "x-gripmock-session"
FAKER_SEED = "faker_seed"  # a session value that seeds the session's faker


class FinishedCall(Protocol):
    """A mock call the mock is done with (the mock's ``MockCall`` or ``AnsweredCall``)."""

    @property
    def session_id(self) -> str: ...

    @property
    def error(self) -> str | None: ...  # a harness problem (a stub's template)

    @property
    def headers(self) -> Mapping[str, str]: ...

    def event(self, id: str | int) -> Event:
        """The ``mock_call`` event of the call, with this id (a number: its place in its
        session); its data is made when read."""
        ...


class SessionHub:
    """Live sessions over ``service``; or, with a ``keeper``, live sessions in memory that
    the keeper writes to its SQLite store when they close (in batches, off the run's path)."""

    def __init__(
        self, service: SessionService | None = None, *, keeper: SessionKeeper | None = None
    ) -> None:
        self.service: SessionService = (
            InMemorySessionService() if keeper is not None else service or InMemorySessionService()
        )
        self._keeper = keeper
        self._opened: dict[str, Any] = {}  # with a keeper: how each live session started
        self._live: dict[str, Session] = {}
        self._problems: dict[str, list[str]] = {}
        # Mock calls still being handled, per session: a client can have its answer before
        # the mock has recorded the call, so readers of the history wait for them.
        self._in_flight: dict[str, int] = {}
        self._settled: dict[str, asyncio.Event] = {}
        self._queued: dict[str, list[FinishedCall]] = {}
        self._fakers: dict[str, FakerRoot] = {}

    def faker(self, session_id: str) -> FakerRoot:
        """The session's ``faker`` for GripMock templates: seeded by the session's
        ``faker_seed`` value when it has one, so its values repeat run after run."""
        root = self._fakers.get(session_id)
        if root is None:
            from ..gotemplate import FakerRoot

            live = self._live.get(session_id)
            seed = live.state.get(FAKER_SEED) if live is not None else None
            root = FakerRoot(
                int(seed)
                if isinstance(seed, (int, str)) and str(seed).lstrip("-").isdigit()
                else None
            )
            self._fakers[session_id] = root
        return root

    async def open(self, session_id: str, state: dict[str, Any] | None = None) -> Session:
        """Create the session (or take over the one a stray call created first)."""
        live = self._live.get(session_id)
        if live is None:
            keeper = self._keeper
            if keeper is not None:
                await keeper.check_new(APP_NAME, USER_ID, session_id)
            live = await self.service.create(APP_NAME, USER_ID, session_id, state)
            self._live[session_id] = live
            if keeper is not None:
                self._opened[session_id] = (clone_json(state or {}), live.last_update_time)
        elif state:
            live.state.update(state)
        return live

    def live(self, session_id: str) -> Session | None:
        return self._live.get(session_id)

    async def record(
        self,
        session_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        author: str = "runner",
        state_delta: dict[str, Any] | None = None,
    ) -> Event:
        await self._flush(session_id)
        session = self._live.get(session_id) or await self.open(session_id)
        # No id: the store gives one (a new one cannot be a duplicate, so none is looked for).
        event = Event(kind=kind, data=data, state_delta=state_delta or {}, author=author)
        return await self.service.append_event(session, event)

    def record_call(self, call: FinishedCall) -> None:
        """Queue a finished mock call (the mock's hot path: no store work here)."""
        session_id = call.session_id
        queue = self._queued.get(session_id)
        if queue is None:
            self._queued[session_id] = [call]
        else:
            queue.append(call)
        if call.error:
            self._problems.setdefault(session_id, []).append(call.error)

    async def _flush(self, session_id: str) -> None:
        queued = self._queued
        queue = queued.pop(session_id, None)
        if not queue:
            return
        if not queued:
            self._queued = {}  # a dict keeps its size once grown: let an empty one go
        session = self._live.get(session_id) or await self.open(session_id)
        # The calls stay as compact as the mock kept them; their data is made when read. In
        # memory, appends happen in turn, so an event's id can be its place in the session.
        numbered = isinstance(self.service, InMemorySessionService)
        for written, call in enumerate(queue):
            number = len(session.events) + 1 if numbered else random_hex()
            try:
                await self.service.append_event(session, call.event(number))
            except BaseException:
                # The store is away (a database restarting): the calls not written wait for
                # the next flush, ahead of any queued meanwhile. None is lost.
                rest = queue[written:] + self._queued.get(session_id, [])
                self._queued[session_id] = rest
                raise

    def call_started(self, session_id: str) -> None:
        """The mock took a call it may not record at once; ``call_finished`` once it has.

        (A call taken and recorded with no await in between needs neither.)
        """
        self._in_flight[session_id] = self._in_flight.get(session_id, 0) + 1

    def call_finished(self, session_id: str) -> None:
        left = self._in_flight.get(session_id, 0) - 1
        if left > 0:
            self._in_flight[session_id] = left
            return
        self._in_flight.pop(session_id, None)
        waiter = self._settled.pop(session_id, None)
        if waiter is not None:
            waiter.set()

    async def settled(self, session_id: str, timeout: float = 5.0) -> None:
        """Wait until the mock has recorded every call of the session it has taken."""
        if not self._in_flight.get(session_id):
            return
        waiter = self._settled.setdefault(session_id, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout)

    def take_problems(self, session_id: str) -> list[str]:
        """Harness problems the mock met answering this session (e.g. a stub template)."""
        return self._problems.pop(session_id, [])

    async def events(self, session_id: str, kinds: Collection[str] | None = None) -> list[Event]:
        """The live session's events (no copies: read them, do not change them)."""
        await self._flush(session_id)
        live = self._live.get(session_id)
        if live is None:
            return []
        if kinds is None:
            return list(live.events)
        return [event for event in live.events if event.kind in kinds]

    async def close(self, session_id: str, *, keep: bool = False) -> None:
        """End a session: forget it, and delete it from the store unless it is to be kept."""
        if keep:
            await self._flush(session_id)
        self._queued.pop(session_id, None)
        self._problems.pop(session_id, None)
        self._fakers.pop(session_id, None)
        live = self._live.pop(session_id, None)
        if live is None:
            return
        keeper = self._keeper
        if keeper is not None:
            started = self._opened.pop(session_id)
            if keep:
                keeper.keep(live, started)
            await self.service.delete(APP_NAME, USER_ID, session_id)  # from memory
        elif not keep:
            await self.service.delete(APP_NAME, USER_ID, session_id)

    async def aclose(self) -> None:
        """With a keeper: keep the sessions still open (a stray call's), write everything."""
        keeper = self._keeper
        if keeper is None:
            return
        for session_id in list(self._live):
            await self.close(session_id, keep=True)
        await keeper.aclose()

    def session_ids(self) -> list[str]:
        return list(self._live)
