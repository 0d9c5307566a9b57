"""Where the runner's mock lives: the one small interface the runner talks to.

A scenario's session is kept where its mock is: the runner opens it, registers its stubs,
writes its own events into it (client calls, saved values, verifications), reads the calls
the mock answered, and closes it. ``EmbeddedMock`` is the in-process mock server; the
remote client of ``scenario-run serve`` implements the same interface, so the runner does
not know which one it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..protos import ProtoRegistry
from ..sessions import Event, SessionService
from ..templating import Templates
from .hub import SessionHub
from .server import MockServer
from .store import StubStore
from .stubs import Stub


class MockBackend(Protocol):
    """A mock the runner can use: embedded (this process) or remote (``serve``)."""

    @property
    def address(self) -> str:
        """``host:port`` where clients call the mock: services under test, and what
        ``{{ mock.address }}`` says."""
        ...

    @property
    def local_address(self) -> str | None:
        """Where this process's own calls reach the mock when not at ``address``: its local
        socket (a cheaper way in than TCP); None when it has none."""
        ...

    async def open_session(
        self, session_id: str, state: dict[str, Any], ttl: float | None = None
    ) -> None: ...

    async def add_stubs(self, session_id: str, stubs: Sequence[Stub]) -> None: ...

    async def record(
        self,
        session_id: str,
        kind: str,
        data: dict[str, Any],
        state_delta: dict[str, Any] | None = None,
    ) -> None:
        """Append one of the runner's own events to the session's log."""
        ...

    async def calls(self, session_id: str) -> list[dict[str, Any]]:
        """The data of every call the mock answered in the session, oldest first; calls the
        mock is still handling are waited for."""
        ...

    async def problems(self, session_id: str) -> list[str]:
        """Harness problems the mock met answering the session since the last ask (a stub
        template that failed, ...), once each."""
        ...

    async def finish(self, session_id: str, *, keep: bool = False) -> list[Event]:
        """End the session: its whole log (the runner's events and the mock's calls, in
        order), then its stubs, history and state removed (``keep``: its record kept in
        the runner's session store)."""
        ...

    async def close_session(self, session_id: str) -> None:
        """Remove the session's stubs, history and state."""
        ...

    async def aclose(self) -> None: ...


async def register_stubs(mock: MockBackend, session_id: str, stubs: Sequence[Stub]) -> None:
    """Give a session its stubs, and say so in its log (``stub_added``, one per stub)."""
    if not stubs:
        return
    await mock.add_stubs(session_id, stubs)
    for stub in stubs:
        await mock.record(
            session_id,
            "stub_added",
            {
                "stub_id": stub.id,
                "method": stub.method.full_name,
                "source": stub.source,
                "priority": stub.priority,
                "times": stub.times,
            },
        )


class EmbeddedMock:
    """The mock server in this process, on the runner's own event loop."""

    def __init__(
        self,
        registry: ProtoRegistry,
        store: SessionService | None = None,
        global_stubs: Sequence[Stub] = (),
        templates: Templates | None = None,
        *,
        keep_in_batches: bool = False,
    ) -> None:
        """``keep_in_batches`` (a run that keeps every session in a SQLite ``store``): live
        sessions stay in memory, and are written to the store in batches once closed."""
        self._store = store
        self.hub = self._hub(store, keep_in_batches)
        self.server = MockServer(registry, StubStore(), self.hub, templates)
        self.server.store.add(None, global_stubs)
        self._host = "127.0.0.1"

    @staticmethod
    def _hub(store: SessionService | None, keep_in_batches: bool) -> SessionHub:
        if keep_in_batches and store is not None:
            from ..sessions.sqlite import SqliteSessionService

            if isinstance(store, SqliteSessionService):
                from ..sessions.keeper import SessionKeeper

                return SessionHub(keeper=SessionKeeper(store))
        return SessionHub(store)

    @property
    def templates(self) -> Templates:
        return self.server.templates

    @property
    def address(self) -> str:
        return f"{self._host}:{self.server.port}"

    @property
    def local_address(self) -> str | None:
        return self.server.local_address

    async def start(self, listen: str = "127.0.0.1:0", *, local_socket: bool = False) -> str:
        """Listen on ``listen`` (``HOST:PORT``, port 0: any free one); the bound address.
        ``local_socket``: also on a Unix socket, for the runner's own calls (Linux).

        ``OSError`` when the address cannot be bound (a port in use)."""
        host = listen.rpartition(":")[0].strip("[]") or "127.0.0.1"
        await self.server.start(listen, local_socket=local_socket)
        # A wildcard address is where the mock listens, not where a client can call it.
        self._host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return self.address

    async def open_session(
        self, session_id: str, state: dict[str, Any], ttl: float | None = None
    ) -> None:
        await self.hub.open(session_id, state=state)

    async def add_stubs(self, session_id: str, stubs: Sequence[Stub]) -> None:
        self.server.store.add(session_id, stubs)

    async def record(
        self,
        session_id: str,
        kind: str,
        data: dict[str, Any],
        state_delta: dict[str, Any] | None = None,
    ) -> None:
        hub = self.hub
        await hub.settled(session_id)  # the mock's calls so far come first in the log
        await hub.record(session_id, kind, data, state_delta=state_delta)

    async def calls(self, session_id: str) -> list[dict[str, Any]]:
        await self.hub.settled(session_id)
        return [e.data for e in await self.hub.events(session_id, kinds=("mock_call",))]

    async def problems(self, session_id: str) -> list[str]:
        await self.hub.settled(session_id)
        return self.hub.take_problems(session_id)

    async def finish(self, session_id: str, *, keep: bool = False) -> list[Event]:
        await self.hub.settled(session_id, timeout=1.0)
        events = await self.hub.events(session_id)
        self.server.store.drop_session(session_id)
        await self.hub.close(session_id, keep=keep)
        return events

    async def close_session(self, session_id: str) -> None:
        self.server.store.drop_session(session_id)
        await self.hub.close(session_id)

    async def aclose(self) -> None:
        await self.server.stop(grace=None)
        await self.hub.aclose()
        if self._store is not None:
            self._store.close()
