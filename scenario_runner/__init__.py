"""scenario-run: declarative gRPC test scenarios with an embedded mock server.

What users import: the SDK (``scenario_runner.sdk``), the session services, and the error
base. Everything else is internal. ``sdk`` and ``SqliteSessionService`` are loaded on
first use, so the command line's start-up does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ScenarioError, ScenarioFileError
from .sessions import (
    AlreadyExistsError,
    Event,
    InMemorySessionService,
    Session,
    SessionNotFoundError,
    SessionService,
)

if TYPE_CHECKING:
    from . import sdk
    from .sessions import SqliteSessionService

__all__ = [
    "AlreadyExistsError",
    "Event",
    "InMemorySessionService",
    "ScenarioError",
    "ScenarioFileError",
    "Session",
    "SessionNotFoundError",
    "SessionService",
    "SqliteSessionService",
    "sdk",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``sdk`` and ``SqliteSessionService`` (with sqlite3) are loaded on first use."""
    import importlib

    if name == "sdk":
        return importlib.import_module(".sdk", __name__)
    if name == "SqliteSessionService":
        return importlib.import_module(".sessions", __name__).SqliteSessionService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
