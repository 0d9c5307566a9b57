"""Live sessions shared by the mock and the runner, on top of a session store.

The hub keeps one live ``Session`` object per session id, so the mock (recording calls) and
the runner (recording client calls, saved values, verifications) append to the same log.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Collection
from typing import Any

from ..sessions import Event, InMemorySessionService, Session, SessionService

APP_NAME = "scenario-run"
USER_ID = "default"
SESSION_HEADER = "x-mock-session"
SESSION_HEADER_ALIAS = "x-gripmock-session"


def _event_id() -> str:
    """A random 128-bit id in uuid4's hex form, without uuid4's system call per event."""
    return f"{random.getrandbits(128):032x}"


class SessionHub:
    def __init__(self, service: SessionService | None = None) -> None:
        self.service: SessionService = service or InMemorySessionService()
        self._live: dict[str, Session] = {}
        self.last_seen: dict[str, float] = {}
        self._problems: dict[str, list[str]] = {}
        # Mock calls still being handled, per session: a client can have its answer before
        # the mock has recorded the call, so readers of the history wait for them.
        self._in_flight: dict[str, int] = {}
        self._settled: dict[str, asyncio.Event] = {}

    async def open(self, session_id: str, state: dict[str, Any] | None = None) -> Session:
        """Create the session (or take over the one a stray call created first)."""
        live = self._live.get(session_id)
        if live is None:
            live = await self.service.create(APP_NAME, USER_ID, session_id, state)
            self._live[session_id] = live
        elif state:
            live.state.update(state)
        self.last_seen[session_id] = time.monotonic()
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
        session = self._live.get(session_id) or await self.open(session_id)
        self.last_seen[session_id] = time.monotonic()
        if kind == "mock_call" and data.get("error"):
            self._problems.setdefault(session_id, []).append(str(data["error"]))
        event = Event(
            kind=kind, data=data, state_delta=state_delta or {}, author=author, id=_event_id()
        )
        try:
            return await self.service.append_event(session, event)
        finally:
            if kind == "mock_call":
                self._call_finished(session_id)

    def call_started(self, session_id: str) -> None:
        """The mock took a call; its ``mock_call`` record ends it."""
        self._in_flight[session_id] = self._in_flight.get(session_id, 0) + 1

    def _call_finished(self, session_id: str) -> None:
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

    def events(self, session_id: str, kinds: Collection[str] | None = None) -> list[Event]:
        """The live session's events (no copies: read them, do not change them)."""
        live = self._live.get(session_id)
        if live is None:
            return []
        if kinds is None:
            return list(live.events)
        return [event for event in live.events if event.kind in kinds]

    async def close(self, session_id: str, *, keep: bool = False) -> None:
        """End a session: forget it, and delete it from the store unless it is to be kept."""
        self.last_seen.pop(session_id, None)
        self._problems.pop(session_id, None)
        if self._live.pop(session_id, None) is not None and not keep:
            await self.service.delete(APP_NAME, USER_ID, session_id)

    def session_ids(self) -> list[str]:
        return list(self._live)
