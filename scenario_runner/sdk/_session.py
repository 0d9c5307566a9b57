"""One test's mock session: its stubs, its calls, its checks.

``AsyncMock`` does the work on an event loop; ``Mock`` is its synchronous twin, which runs
each operation on the loop of its ``MockHost`` (a thread of its own).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc import aio

from ..errors import Location
from ..ids import random_hex
from ..mock.backend import register_stubs
from ..mock.stubs import Stub
from ..runner.calls import invoke
from ..sessions.model import clone_json
from ._channels import session_aio_channel, session_channel
from ._core import Core
from ._errors import CallError, SdkError
from ._stubs import AsyncStubBuilder, StubBuilder
from ._verify import AsyncMethodCheck, MethodCheck, all_used_outcome, held, unmatched_outcome

SESSION_HEADER = "x-mock-session"
TTL_HEADER = "x-mock-session-ttl"
_METADATA_VALUE = re.compile(r"[\x20-\x7e]+")

T = TypeVar("T")


def new_session_id(prefix: str = "sdk") -> str:
    return f"{prefix}-{random_hex(12)}"


class AsyncMock:
    """A mock session, for ``async`` tests: ``async with sdk.run_async(...) as mock``."""

    def __init__(self, core: Core, session: str | None = None, ttl: float | None = None) -> None:
        self._core = core
        self.session = session or new_session_id()
        if not _METADATA_VALUE.fullmatch(self.session):
            raise SdkError(
                f"session {self.session!r} cannot be sent as gRPC metadata: use printable "
                "ASCII (letters, digits, '-', '_', '.')"
            )
        self.ttl = ttl
        self._stubs: list[Stub] = []
        self._channel: aio.Channel | None = None
        self._opened = False

    # -- where and how to call ------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the mock (give it to the service under test)."""
        return self._core.backend.address

    @property
    def metadata(self) -> list[tuple[str, str]]:
        """What every call of this session must carry (the channels add it)."""
        pairs = [(SESSION_HEADER, self.session)]
        if self.ttl is not None:
            pairs.append((TTL_HEADER, f"{self.ttl:g}s"))
        return pairs

    def channel(self) -> grpc.Channel:
        """A synchronous grpc channel to the mock whose calls carry the session."""
        return session_channel(self.address, self.metadata)

    def aio_channel(self) -> aio.Channel:
        """A ``grpc.aio`` channel (for the running loop) whose calls carry the session."""
        return session_aio_channel(self.address, self.metadata)

    def message(self, name: str, data: Mapping[str, Any] | None = None) -> Message:
        """A message of the loaded protos built from protobuf JSON: ``mock.message(
        "helloworld.HelloRequest", {"name": "x"})``."""
        registry = self._core.registry
        try:
            message_class = registry.message_class(name)
        except KeyError:
            raise SdkError(f"no message {name!r} in the loaded protos") from None
        try:
            return registry.from_json(message_class, dict(data or {}))
        except ValueError as exc:
            raise SdkError(f"not a valid {name}: {exc}") from exc

    async def call(
        self,
        method: str,
        request: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``pkg.Service/Method`` with protobuf JSON; the answer as JSON (a list for a
        server stream). A client or bidi stream takes a list of requests. ``CallError`` for
        a status other than OK."""
        info = self._core.find_method(method)
        registry = self._core.registry
        items: list[Mapping[str, Any]]
        if isinstance(request, Mapping):
            items = [request]
        elif request is None:
            items = [] if info.client_streaming else [{}]
        else:
            items = list(request)
        try:
            blobs = [
                registry.from_json(info.input_type, dict(i)).SerializeToString() for i in items
            ]
        except ValueError as exc:
            raise SdkError(f"not a valid {info.input_type.DESCRIPTOR.full_name}: {exc}") from exc
        if self._channel is None:
            self._channel = aio.insecure_channel(self.address)
        pairs = [(str(k).lower(), str(v)) for k, v in (metadata or {}).items()]
        result = await invoke(
            self._channel, registry, info, blobs, [*pairs, *self.metadata], timeout
        )
        answer = result.responses if info.server_streaming else result.response
        if result.status != grpc.StatusCode.OK:
            raise CallError(info.full_name, result.status, result.message, answer)
        return answer

    # -- stubs ----------------------------------------------------------------------------

    def stub(self, service: str, method: str, *, id: str | None = None) -> AsyncStubBuilder:
        """A stub of ``service`` (full or short name) and ``method``; ``await .commit()``."""
        return AsyncStubBuilder(service, method, self._commit, id)

    async def _commit(self, raw: dict[str, Any], where: Location) -> str:
        stub = self._core.build_stub(raw, where)
        await self.open()
        self._stubs.append(stub)
        await register_stubs(self._core.backend, self.session, [stub])
        return stub.id

    # -- what the mock received -----------------------------------------------------------

    async def history(self) -> list[dict[str, Any]]:
        """The session's calls, oldest first, as plain dicts (method, metadata, request(s),
        response(s), stub_id, status, message, elapsed)."""
        return [clone_json(call) for call in await self._core.backend.calls(self.session)]

    def verify(self) -> AsyncVerify:
        return AsyncVerify(self)

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        if not self._opened:
            self._opened = True
            await self._core.backend.open_session(self.session, {}, self.ttl)

    async def close(self) -> None:
        """Remove the session's stubs and history (on the server too, when remote)."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        if self._opened:
            self._opened = False
            await self._core.backend.close_session(self.session)


class AsyncVerify:
    def __init__(self, mock: AsyncMock) -> None:
        self._mock = mock

    def method(self, service: str, method: str | None = None) -> AsyncMethodCheck:
        """Calls of one method: ``.called(n)``, ``.at_least(n)``, ``.at_most(n)``, after an
        optional ``.with_request({...})``."""
        return AsyncMethodCheck(self._mock._core.find_method(service, method), self._mock.history)

    async def unmatched(self, expected: int = 0) -> None:
        """Exactly ``expected`` calls found no stub."""
        held(unmatched_outcome(expected, await self._mock.history()))

    async def all_stubs_used(self) -> None:
        """Every stub of the session answered (exactly ``times`` when it has one)."""
        held(all_used_outcome(self._mock._stubs, await self._mock.history()))


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


class Mock:
    """A mock session, for plain (synchronous) tests: ``with sdk.run(...) as mock``."""

    def __init__(self, session: AsyncMock, run: Runner) -> None:
        self._async = session
        self._run = run

    def _wait(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        result: T = self._run(wrapped())
        return result

    @property
    def session(self) -> str:
        return self._async.session

    @property
    def ttl(self) -> float | None:
        return self._async.ttl

    @property
    def address(self) -> str:
        return self._async.address

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return self._async.metadata

    def channel(self) -> grpc.Channel:
        return self._async.channel()

    def aio_channel(self) -> aio.Channel:
        return self._async.aio_channel()

    def message(self, name: str, data: Mapping[str, Any] | None = None) -> Message:
        return self._async.message(name, data)

    def call(
        self,
        method: str,
        request: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        return self._wait(self._async.call(method, request, metadata=metadata, timeout=timeout))

    def stub(self, service: str, method: str, *, id: str | None = None) -> StubBuilder:
        """A stub of ``service`` (full or short name) and ``method``; ``.commit()`` it."""

        def commit(raw: dict[str, Any], where: Location) -> str:
            return self._wait(self._async._commit(raw, where))

        return StubBuilder(service, method, commit, id)

    def history(self) -> list[dict[str, Any]]:
        return self._wait(self._async.history())

    def verify(self) -> Verify:
        return Verify(self)

    def close(self) -> None:
        self._wait(self._async.close())


class Verify:
    def __init__(self, mock: Mock) -> None:
        self._mock = mock

    def method(self, service: str, method: str | None = None) -> MethodCheck:
        core = self._mock._async._core
        return MethodCheck(core.find_method(service, method), self._mock.history)

    def unmatched(self, expected: int = 0) -> None:
        held(unmatched_outcome(expected, self._mock.history()))

    def all_stubs_used(self) -> None:
        held(all_used_outcome(self._mock._async._stubs, self._mock.history()))
