"""Hosts of SDK mocks: one mock (embedded or remote) that many test sessions share.

``MockHost`` runs its event loop in a thread of its own, so plain synchronous tests can use
it; ``AsyncMockHost`` lives on the caller's loop. ``run`` and ``run_async`` are the one-test
shortcuts: a host and one session, both gone when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._core import DEFAULT_TTL, Core
from ._session import AsyncMock, Mock

T = TypeVar("T")


class AsyncMockHost:
    """A mock on the running event loop (``await AsyncMockHost.start(...)``)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @classmethod
    async def start(
        cls,
        *,
        protos: Sequence[str | Path] = ("protos",),
        import_paths: Sequence[str | Path] = (),
        stubs: str | Path | None = None,
        listen: str = "127.0.0.1:0",
        remote: str | None = None,
        admin: str | None = None,
        admin_token: str | None = None,
    ) -> AsyncMockHost:
        core = await Core.start(
            protos=protos,
            import_paths=import_paths,
            stubs=stubs,
            listen=listen,
            remote=remote,
            admin=admin,
            admin_token=admin_token,
        )
        return cls(core)

    @property
    def address(self) -> str:
        return self.core.backend.address

    @contextlib.asynccontextmanager
    async def session(
        self, session: str | None = None, ttl: float | None = DEFAULT_TTL
    ) -> AsyncIterator[AsyncMock]:
        """A session of its own; its stubs and history are removed when the block ends."""
        mock = AsyncMock(self.core, session, ttl)
        await mock.open()
        try:
            yield mock
        finally:
            await mock.close()

    async def aclose(self) -> None:
        await self.core.aclose()


class MockHost:
    """A mock served from a background thread, for synchronous tests."""

    def __init__(
        self,
        *,
        protos: Sequence[str | Path] = ("protos",),
        import_paths: Sequence[str | Path] = (),
        stubs: str | Path | None = None,
        listen: str = "127.0.0.1:0",
        remote: str | None = None,
        admin: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.default_ttl: float | None = DEFAULT_TTL  # of sessions given no ttl
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="scenario-run-sdk", daemon=True
        )
        self._thread.start()
        try:
            self._host = self.run(
                AsyncMockHost.start(
                    protos=protos,
                    import_paths=import_paths,
                    stubs=stubs,
                    listen=listen,
                    remote=remote,
                    admin=admin,
                    admin_token=admin_token,
                )
            )
        except BaseException:
            self._stop_loop()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the host's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def address(self) -> str:
        return self._host.address

    @contextlib.contextmanager
    def session(
        self, session: str | None = None, ttl: float | None = DEFAULT_TTL
    ) -> Iterator[Mock]:
        """A session of its own; its stubs and history are removed when the block ends."""
        mock = AsyncMock(self._host.core, session, ttl)
        self.run(mock.open())
        try:
            yield Mock(mock, self.run)
        finally:
            self.run(mock.close())

    def close(self) -> None:
        try:
            self.run(self._host.aclose())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> MockHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def run(
    *,
    protos: Sequence[str | Path] = ("protos",),
    import_paths: Sequence[str | Path] = (),
    stubs: str | Path | None = None,
    listen: str = "127.0.0.1:0",
    remote: str | None = None,
    admin: str | None = None,
    admin_token: str | None = None,
    session: str | None = None,
    ttl: float | None = DEFAULT_TTL,
) -> Iterator[Mock]:
    """A mock and one session of it, for one test.

    Embedded (``protos=``, ``import_paths=``, ``stubs=`` a folder of GripMock files,
    ``listen=`` its address) or remote (``remote="host:4770", admin="http://host:4771"``).
    ``session`` defaults to a new unique id; ``ttl`` (seconds) is how long the remote server
    keeps the session idle. Leaving the block removes the session's stubs and history, also
    when the test failed.
    """
    host = MockHost(
        protos=protos,
        import_paths=import_paths,
        stubs=stubs,
        listen=listen,
        remote=remote,
        admin=admin,
        admin_token=admin_token,
    )
    try:
        with host.session(session, ttl) as mock:
            yield mock
    finally:
        host.close()


@contextlib.asynccontextmanager
async def run_async(
    *,
    protos: Sequence[str | Path] = ("protos",),
    import_paths: Sequence[str | Path] = (),
    stubs: str | Path | None = None,
    listen: str = "127.0.0.1:0",
    remote: str | None = None,
    admin: str | None = None,
    admin_token: str | None = None,
    session: str | None = None,
    ttl: float | None = DEFAULT_TTL,
) -> AsyncIterator[AsyncMock]:
    """``run``'s twin on the running event loop: ``async with sdk.run_async(...) as mock``."""
    host = await AsyncMockHost.start(
        protos=protos,
        import_paths=import_paths,
        stubs=stubs,
        listen=listen,
        remote=remote,
        admin=admin,
        admin_token=admin_token,
    )
    try:
        async with host.session(session, ttl) as mock:
            yield mock
    finally:
        await host.aclose()
