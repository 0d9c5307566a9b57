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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scenario_runner.sessions.sqlite import SqliteSessionService


def __getattr__(name: str) -> object:
    """``SqliteSessionService`` is imported when first asked for (sqlite3 with it): a run
    without ``--sessions-db`` and a mock never load them."""
    if name == "SqliteSessionService":
        from scenario_runner.sessions.sqlite import SqliteSessionService

        return SqliteSessionService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
