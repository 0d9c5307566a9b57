"""What a store several ``scenario-run serve`` processes share provides beyond the contract.

The SQLite store (one machine) and the PostgreSQL store (any number of machines) are shared
stores; the in-memory store is one process's own. A replica of the served mock keeps its
sessions in memory and uses these to learn what the others changed:

* ``heads`` / ``tail``: each session's version (its highest event sequence) and the events
  after a given sequence, for the version check and for catching up;
* ``append_many``: a batch of events in one transaction (the mock's call history);
* ``note_activity`` / ``expire``: the last time any replica saw a session, and the TTL sweep
  that deletes idle sessions under a lock in the database, so exactly one sweep removes each;
* ``messages`` / ``publish`` / ``peers``: a message bus between the replicas (PostgreSQL's
  ``LISTEN/NOTIFY``; a polled table in SQLite) and which replicas are alive.
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from scenario_runner.ids import random_hex
from scenario_runner.sessions.base import SessionService
from scenario_runner.sessions.model import Event, Session

BUS_CHANNEL = "scenario_run"


@dataclass(frozen=True)
class Tail:
    """A stored session's identity and version, its state, and the events asked for."""

    create_time: float  # tells a session from another one created later under the same id
    version: int  # its highest event sequence (0: no event yet)
    state: dict[str, Any] = field(default_factory=dict)
    events: builtins.list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Head:
    create_time: float
    version: int


@runtime_checkable
class SharedSessionService(SessionService, Protocol):
    async def heads(self, app_name: str, user_id: str) -> dict[str, Head]:
        """Every session of the user: its identity and version."""
        ...

    async def tail(
        self, app_name: str, user_id: str, session_id: str, after: int, light: bool = False
    ) -> Tail:
        """The session's head and state, and its events with ``sequence > after``;
        ``SessionNotFoundError`` when it is gone. ``light``: a ``mock_call`` event's data
        is only its ``method`` and ``stub_id`` (what a replica counts)."""
        ...

    async def append_many(
        self, batch: Sequence[tuple[Session, Sequence[Event]]]
    ) -> builtins.list[str]:
        """Append each session's events (no ``state_delta``) in one transaction, mirroring
        them on the sessions; returns the ids of the sessions that no longer exist (their
        events are dropped)."""
        ...

    async def note_activity(self, app_name: str, user_id: str, seen: Mapping[str, float]) -> None:
        """Sessions were seen at these times (epoch seconds); the latest time wins."""
        ...

    async def expire(
        self, app_name: str, user_id: str, cutoffs: Mapping[str, float]
    ) -> builtins.list[str]:
        """Delete each session whose last activity (seen or event) is at or before its
        cutoff, holding the store's sweep lock; returns the ids this call deleted. Another
        replica holding the lock makes it return ``[]`` at once."""
        ...

    def messages(self, replica_id: str) -> AsyncIterator[str | None]:
        """The bus, as this replica (alive while iterating): every message published by
        anyone, in order; ``None`` when messages may have been missed (catch up)."""
        ...

    async def publish(self, message: str) -> None: ...

    async def peers(self) -> set[str]:
        """The ids of the replicas iterating ``messages`` now (this one included)."""
        ...


def new_replica_id() -> str:
    """A replica's id: host, process and a random part (at most 44 characters)."""
    host = socket.gethostname().split(".")[0][:20] or "host"
    return f"{host}-{os.getpid()}-{random_hex()[:8]}"
