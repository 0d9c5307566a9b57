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
from collections.abc import Mapping
from typing import Any, Protocol, cast

from ..mock.hub import APP_NAME, USER_ID, FinishedCall, SessionHub
from ..sessions import Session, SessionService

GLOBAL = ""  # the scope of stubs and calls that carry no session
GLOBAL_STORE_ID = "(global)"  # the store's id of the global scope's log (reserved)
TTL_METADATA = "x-mock-session-ttl"


class _HeadedCall(FinishedCall, Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


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
    """The session hub of ``scenario-run serve``: notes activity, adopts stored sessions."""

    def __init__(self, service: SessionService, activity: Activity) -> None:
        super().__init__(service)
        self.activity = activity
        self._opening = asyncio.Lock()

    def record_call(self, call: FinishedCall) -> None:
        super().record_call(call)
        self.activity.seen(call.session_id, cast(_HeadedCall, call).headers)

    def call_started(self, session_id: str) -> None:
        super().call_started(session_id)
        self.activity.seen(session_id)

    async def open(self, session_id: str, state: dict[str, Any] | None = None) -> Session:
        if self.live(session_id) is not None:
            return await super().open(session_id, state)
        # Two requests may open a new session at once; the store's create would refuse the
        # second. One at a time, the second finds the first's session live.
        async with self._opening:
            return await super().open(session_id, state)

    def adopt(self, key: str, session: Session) -> None:
        """Serve ``session`` (read from the store) as the live session ``key``."""
        self._live[key] = session

    async def open_global(self) -> None:
        """The global scope's log: the stored one, or a new one."""
        if self.live(GLOBAL) is None:
            session = await self.service.create(APP_NAME, USER_ID, GLOBAL_STORE_ID)
            self.adopt(GLOBAL, session)

    def busy(self, session_id: str) -> bool:
        """Whether the mock is still handling a call of this session."""
        return bool(self._in_flight.get(session_id))

    async def flush_all(self) -> None:
        """Write every queued mock call to the store (a persistent store keeps them then)."""
        for session_id in list(self._queued):
            await self._flush(session_id)
