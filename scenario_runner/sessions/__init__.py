"""The session store (SPEC §5): ADK-style sessions with an append-only event log.

Two backends pass one contract suite: :class:`InMemorySessionService` (default) and
:class:`SqliteSessionService` (``--sessions-db``). Both satisfy :class:`SessionService`.
"""

from scenario_runner.sessions.base import SessionService
from scenario_runner.sessions.memory import InMemorySessionService
from scenario_runner.sessions.model import (
    AlreadyExistsError,
    DuplicateEventError,
    Event,
    Session,
    SessionNotFoundError,
)
from scenario_runner.sessions.sqlite import SqliteSessionService

__all__ = [
    "AlreadyExistsError",
    "DuplicateEventError",
    "Event",
    "InMemorySessionService",
    "Session",
    "SessionNotFoundError",
    "SessionService",
    "SqliteSessionService",
]
