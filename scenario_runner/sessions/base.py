"""The session-store contract (after Google ADK's ``BaseSessionService``)."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import Any, Protocol, runtime_checkable

from scenario_runner.sessions.model import Event, Session


@runtime_checkable
class SessionService(Protocol):
    """What every backend provides; the contract test suite is its definition.

    * ``create``: ``session_id`` None or blank -> a new uuid4 hex id (a given id is stripped);
      ``AlreadyExistsError`` for a taken key; ``state`` is deep-copied.
    * ``get``: a deep-copied snapshot; ``SessionNotFoundError`` when missing. ``after`` keeps
      events with ``timestamp >= after`` (inclusive, as ADK's ``after_timestamp``), then
      ``num_recent_events`` keeps the last N of those (0 keeps none).
    * ``list``: sessions of ``app_name`` (of every user when ``user_id`` is None), ordered by
      ``(last_update_time, id, user_id)``; with state, *without events* (use ``get``).
    * ``delete``: removes the session and its events; ``SessionNotFoundError`` when missing.
    * ``append_event``: see the backends; mirrors the change on ``session``.
    * ``get_events``: copies of stored events with ``sequence > after_sequence`` and, when
      ``kinds`` is given, ``kind in kinds``; oldest first.
    * ``close``: releases resources (synchronous, idempotent).
    """

    async def create(
        self,
        app_name: str,
        user_id: str,
        session_id: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> Session: ...

    async def get(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        num_recent_events: int | None = None,
        after: float | None = None,
    ) -> Session: ...

    async def list(self, app_name: str, user_id: str | None = None) -> builtins.list[Session]: ...

    async def delete(self, app_name: str, user_id: str, session_id: str) -> None: ...

    async def append_event(self, session: Session, event: Event) -> Event: ...

    async def get_events(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        kinds: Collection[str] | None = None,
        after_sequence: int = 0,
    ) -> builtins.list[Event]: ...

    def close(self) -> None: ...
