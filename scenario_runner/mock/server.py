"""The embedded gRPC mock: one generic handler that serves every loaded method.

Requests arrive as raw bytes (no per-method generated code); the handler finds the winning
stub for the caller's session, answers with its prepared output, and records the call as a
``mock_call`` event in that session.

Every handler is a coroutine (streams are written with ``context.write``, not yielded from
an async generator), so a call that ends early, cancelled by the client or past its
deadline, raises ``CancelledError`` inside the handler itself: its ``finally`` records the
call at once, with the messages sent so far and the status the call ended with, and no
suspended generator is left for the garbage collector to close.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import aio

from ..protos import MethodInfo, ProtoRegistry, descriptor_of
from ..status import status_number
from ..templating import TemplateProblem, Templates
from .hub import SESSION_HEADER, SESSION_HEADER_ALIAS, SessionHub
from .store import Match, StubStore
from .stubs import Stub, serialize, status_class

_Handler = Callable[..., Any]
_Body = Callable[["CallRecord", Any, aio.ServicerContext], Awaitable[Any]]
_OK = grpc.StatusCode.OK
_STATUS_NAMES = {code: code.name for code in grpc.StatusCode}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# A call cancelled this close to its deadline (seconds) ended because of the deadline.
_DEADLINE_SLACK = 0.01


class CallRecord:
    """What one call did; becomes the ``mock_call`` event."""

    __slots__ = (
        "elapsed",
        "error",
        "finished_at",
        "headers",
        "message",
        "method",
        "name",
        "requests",
        "responses",
        "session_id",
        "started",
        "status",
        "stub_id",
    )

    def __init__(
        self,
        method: MethodInfo,
        headers: dict[str, str],
        session_id: str,
        name: str | None = None,
    ) -> None:
        self.method = method
        self.name = name or method.full_name
        self.headers = headers
        self.session_id = session_id
        self.started = time.perf_counter()
        self.requests: list[dict[str, Any]] = []
        self.responses: list[Any] = []
        self.stub_id: str | None = None
        self.status = _OK
        self.message = ""
        self.error: str | None = None  # a harness problem (template), not a stub's answer
        self.elapsed = 0.0
        self.finished_at = 0.0

    def finish(self) -> None:
        """The call is over: fix its duration and end time (it is written out later)."""
        self.elapsed = time.perf_counter() - self.started
        self.finished_at = time.time()

    def data(self) -> dict[str, Any]:
        method = self.method
        requests, responses = self.requests, self.responses
        data: dict[str, Any] = {
            "method": self.name,
            "metadata": self.headers,
            "stub_id": self.stub_id,
            "status": _STATUS_NAMES[self.status],
            "message": self.message,
            "elapsed": round(self.elapsed, 6),
        }
        if method.client_streaming:
            data["requests"] = requests
        else:
            data["request"] = requests[0] if requests else None
        if method.server_streaming:
            data["responses"] = responses
        else:
            data["response"] = responses[0] if responses else None
        if self.error:
            data["error"] = self.error
        return data


class MockServer:
    def __init__(
        self,
        registry: ProtoRegistry,
        store: StubStore | None = None,
        hub: SessionHub | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.registry = registry
        self.store = store or StubStore()
        self.hub = hub or SessionHub()
        self.templates = templates or Templates()
        self._server: aio.Server | None = None
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._readers: dict[str, Callable[[bytes], dict[str, Any]]] = {}
        self._status_class: Any = None
        self._build_handlers()
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, address: str = "127.0.0.1:0") -> int:
        server = aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((_Router(self._handlers),))
        port: int = server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        await server.start()
        self._server = server
        self.port = port
        return port

    async def stop(self, grace: float | None = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    @property
    def server(self) -> aio.Server | None:
        return self._server

    # -- handlers ------------------------------------------------------------------------

    def _build_handlers(self) -> None:
        for path, method in self.registry.methods.items():
            self._readers[path] = request_reader(self.registry, method.input_type)
            if method.client_streaming and method.server_streaming:
                handler = grpc.stream_stream_rpc_method_handler(self._wrap(method, self._bidi))
            elif method.client_streaming:
                handler = grpc.stream_unary_rpc_method_handler(
                    self._wrap(method, self._client_stream)
                )
            elif method.server_streaming:
                handler = grpc.unary_stream_rpc_method_handler(
                    self._wrap(method, self._server_stream)
                )
            else:
                handler = grpc.unary_unary_rpc_method_handler(self._unary_handler(method))
            self._handlers[path] = handler

    def _wrap(self, method: MethodInfo, body: _Body) -> _Handler:
        """The grpc handler: run ``body``, turn its problems into statuses, record the call."""

        name = method.full_name

        async def handle(request: Any, context: aio.ServicerContext) -> Any:
            call = self._begin(method, context, name)
            try:
                return await body(call, request, context)
            except BaseException as exc:
                await self._failed(call, context, exc)
            finally:
                call.finish()
                self.hub.record_call(call)
            return None

        return handle

    def _unary_handler(self, method: MethodInfo) -> _Handler:
        """The unary handler, with the common case (a static answer) inline: no extra awaits."""
        path = method.path
        name = method.full_name
        read = self._readers[path]

        async def handle(request: bytes, context: aio.ServicerContext) -> bytes | None:
            call = self._begin(method, context, name)
            try:
                message = read(request)
                call.requests.append(message)
                match = self.store.match(call.session_id, path, message, call.headers)
                if match is None:
                    await self._not_found(call, context, message)
                    return None
                output = match.stub.output
                if output.static_reply is None:
                    return await self._answer_single(call, match, message, context)
                call.stub_id = match.stub.id
                if output.trailers:
                    context.set_trailing_metadata(output.trailers)
                call.responses.append(output.data if output.data is not None else {})
                return output.static_reply
            except BaseException as exc:
                await self._failed(call, context, exc)
            finally:
                call.finish()
                self.hub.record_call(call)
            return None

        return handle

    async def _failed(
        self, call: CallRecord, context: aio.ServicerContext, exc: BaseException
    ) -> None:
        """Turn what a handler raised into the call's status; re-raise or abort (never returns)."""
        if isinstance(exc, _Abort):
            call.status, call.message = exc.code, exc.message
            await context.abort(exc.code, exc.message)
        if isinstance(exc, DecodeError):
            call.status = grpc.StatusCode.INVALID_ARGUMENT
            call.message = (
                f"cannot decode the request as {call.method.input_type.DESCRIPTOR.full_name}: {exc}"
            )
            await context.abort(call.status, call.message)
        if isinstance(exc, (asyncio.CancelledError, aio.InternalError)):
            # The client went away or the deadline passed (a failed write is the same).
            if call.status is _OK:
                call.status = _ended_status(context)
            raise exc
        if isinstance(exc, aio.AbortError) or not isinstance(exc, Exception):
            raise exc  # context.abort (the status is recorded already), KeyboardInterrupt, …
        call.error = f"mock error: {type(exc).__name__}: {exc}"
        call.status, call.message = grpc.StatusCode.INTERNAL, call.error
        await context.abort(grpc.StatusCode.INTERNAL, call.error)

    def _begin(
        self, method: MethodInfo, context: aio.ServicerContext, name: str | None = None
    ) -> CallRecord:
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if key in headers:
                # A header sent several times is seen joined with ";" (as GripMock does).
                if isinstance(value, str):
                    headers[key] = f"{headers[key]};{value}"
            elif isinstance(value, str):
                headers[key] = value
        session_id = headers.get(SESSION_HEADER) or headers.get(SESSION_HEADER_ALIAS) or ""
        self.hub.call_started(session_id)
        return CallRecord(method, headers, session_id, name)

    async def _client_stream(
        self, call: CallRecord, requests: AsyncIterator[bytes], context: aio.ServicerContext
    ) -> bytes | None:
        method = call.method
        messages = [self._decode(method, raw, call) async for raw in requests]
        match = self.store.match(call.session_id, method.path, messages, call.headers)
        if match is None:
            shown = messages[-1] if messages else {}
            await self._not_found(call, context, shown, messages)
            return None
        return await self._answer_single(call, match, {"messages": messages}, context)

    async def _server_stream(
        self, call: CallRecord, request: bytes, context: aio.ServicerContext
    ) -> None:
        method = call.method
        message = self._decode(method, request, call)
        match = self.store.match(call.session_id, method.path, message, call.headers)
        if match is None:
            await self._not_found(call, context, message)
            return
        output = match.stub.output
        call.stub_id = match.stub.id
        await self._send_headers(match.stub, context)
        items = self._stream_items(call, match, message)
        delay = output.delay
        if items:
            write = context.write
            responses = call.responses
            for data, blob in items:
                if delay:
                    await asyncio.sleep(delay)
                await write(blob)
                responses.append(data)
        elif delay:
            await asyncio.sleep(delay)  # an error (or empty stream) still comes after the delay
        await self._finish(call, match, message, context)

    async def _bidi(
        self, call: CallRecord, requests: AsyncIterator[bytes], context: aio.ServicerContext
    ) -> None:
        """Answer message i with ``stream[i]`` as it arrives.

        A stub is counted once per call for ``options.times``, however many messages of the
        call it answers. An error stub ends the call with its error once it has sent its last
        ``stream`` item (at once when it has none).
        """
        method = call.method
        headers_sent = False
        last: Match | None = None
        counted: set[str] = set()
        index = 0
        async for raw in requests:
            message = self._decode(method, raw, call)
            match = self.store.match(
                call.session_id, method.path, message, call.headers, index=index, exempt=counted
            )
            if match is None:
                await self._not_found(call, context, message)
                return
            stub = match.stub
            output = stub.output
            counted.add(stub.id)
            last = match
            if not headers_sent:
                await self._send_headers(stub, context)
                headers_sent = True
            call.stub_id = stub.id
            data, blob = self._bidi_reply(call, match, message, index)
            if output.delay:
                await asyncio.sleep(output.delay)
            if blob is not None:
                await context.write(blob)
                call.responses.append(data)
            if output.is_error and (not output.stream or index >= len(output.stream) - 1):
                await self._finish(call, match, message, context)
            index += 1
        if last is not None:
            await self._finish(call, last, {}, context)

    # -- answering -----------------------------------------------------------------------

    def _decode(self, method: MethodInfo, raw: bytes, call: CallRecord) -> dict[str, Any]:
        message = self._readers[method.path](raw)  # DecodeError: INVALID_ARGUMENT
        call.requests.append(message)
        return message

    async def _answer_single(
        self,
        call: CallRecord,
        match: Match,
        request: Mapping[str, Any],
        context: aio.ServicerContext,
    ) -> bytes | None:
        stub = match.stub
        output = stub.output
        call.stub_id = stub.id
        if output.delay:
            await asyncio.sleep(output.delay)
        await self._send_headers(stub, context)
        if output.is_error:
            await self._finish(call, match, request, context)
            return None
        blob: bytes | None
        if output.templated:
            data = self._render(call, match, request, output.data)
            blob = self._serialize(call, stub, data)
        else:
            data, blob = output.data, output.data_bytes
        if output.trailers:
            context.set_trailing_metadata(output.trailers)
        call.responses.append(data if data is not None else {})
        return blob if blob is not None else b""  # no `data`: the empty response message

    def _stream_items(
        self, call: CallRecord, match: Match, request: Mapping[str, Any]
    ) -> list[tuple[Any, bytes]]:
        output = match.stub.output
        items = (
            output.stream
            if output.stream is not None
            else ([output.data] if output.data is not None else [])
        )
        if not output.templated:
            blobs = (
                output.stream_bytes
                if output.stream is not None
                else ([output.data_bytes] if output.data_bytes is not None else [])
            )
            return list(zip(items, blobs or (), strict=True))
        rendered = [self._render(call, match, request, item) for item in items]
        return [(item, self._serialize(call, match.stub, item)) for item in rendered]

    def _bidi_reply(
        self, call: CallRecord, match: Match, request: Mapping[str, Any], index: int
    ) -> tuple[Any, bytes | None]:
        output = match.stub.output
        blob: bytes | None
        if output.stream:
            position = min(index, len(output.stream) - 1)
            item = output.stream[position]
            blob = output.stream_bytes[position] if output.stream_bytes is not None else None
        elif output.data is not None:
            item, blob = output.data, output.data_bytes
        else:
            return None, None
        if blob is None:
            item = self._render(call, match, request, item)
            blob = self._serialize(call, match.stub, item)
        return item, blob

    async def _finish(
        self,
        call: CallRecord,
        match: Match,
        request: Mapping[str, Any],
        context: aio.ServicerContext,
    ) -> None:
        """End the call with the stub's status (and trailers)."""
        output = match.stub.output
        if not output.is_error:
            if output.trailers:
                context.set_trailing_metadata(output.trailers)
            return
        message = output.error or ""
        if output.templated and message:
            message = str(self._render(call, match, request, message))
        call.status, call.message = output.code, message
        trailers: tuple[tuple[str, str | bytes], ...] = output.trailers
        if output.details_bytes:
            trailers = (*trailers, (STATUS_DETAILS_KEY, self._status_bytes(output, message)))
        await context.abort(output.code, message, trailing_metadata=trailers)

    def _status_bytes(self, output: Any, message: str) -> bytes:
        """``google.rpc.Status{code, message, details}`` for the details trailer."""
        if self._status_class is None:
            self._status_class = status_class(self.registry)
        head = self._status_class(code=status_number(output.code), message=message)
        # Serialised messages concatenate into their merge: head + the packed details.
        return bytes(head.SerializeToString()) + bytes(output.details_bytes)

    async def _send_headers(self, stub: Stub, context: aio.ServicerContext) -> None:
        if stub.output.headers:
            await context.send_initial_metadata(stub.output.headers)

    def _render(
        self, call: CallRecord, match: Match, request: Mapping[str, Any], value: Any
    ) -> Any:
        context = {
            **match.stub.context,
            "request": request,
            "headers": call.headers,
            "attempt": match.attempt,
        }
        try:
            return self.templates.render(value, context)
        except TemplateProblem as exc:
            call.error = f"{match.stub.describe()}: {exc}"
            raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc

    def _serialize(self, call: CallRecord, stub: Stub, data: Any) -> bytes:
        try:
            return serialize(self.registry, stub.method, data)
        except ValueError as exc:
            call.error = f"{stub.describe()}: the rendered output does not fit: {exc}"
            raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc

    async def _not_found(
        self,
        call: CallRecord,
        context: aio.ServicerContext,
        request: Mapping[str, Any],
        messages: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        call.status = grpc.StatusCode.NOT_FOUND
        call.message = self._not_found_message(call, request, messages)
        await context.abort(grpc.StatusCode.NOT_FOUND, call.message)

    def _not_found_message(
        self,
        call: CallRecord,
        request: Mapping[str, Any],
        messages: Sequence[Mapping[str, Any]] | None,
    ) -> str:
        shown = json.dumps(list(messages) if messages is not None else request, default=str)
        text = f"no stub for {call.method.full_name} matches request {shown}"
        closest = self.store.closest(call.session_id, call.method.path, request)
        if closest is None:
            return f"{text}; no stub is registered for this method in session {call.session_id!r}"
        stub, _ = closest
        wanted = {k: stub.raw[k] for k in ("headers", "input", "inputs") if stub.raw.get(k)}
        return f"{text}; closest: {stub.describe()} expecting {json.dumps(wanted, default=str)}"


class _Abort(Exception):
    """Raised inside a handler to end the call with a status (turned into context.abort)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def request_reader(
    registry: ProtoRegistry, message_class: type[Message]
) -> Callable[[bytes], dict[str, Any]]:
    """Wire bytes → the request as ``ProtoRegistry.to_json`` shows it (``DecodeError`` if bad),
    with the plain-message fast path chosen once per method instead of once per call."""
    parse = message_class.FromString
    plan = registry.plain_plan(descriptor_of(message_class))
    if plan is None:
        to_json = registry.to_json

        def read(raw: bytes) -> dict[str, Any]:
            return to_json(parse(raw))

        return read
    read_plain = plan.read

    def read_direct(raw: bytes) -> dict[str, Any]:
        return read_plain(parse(raw))

    return read_direct


def _ended_status(context: aio.ServicerContext) -> grpc.StatusCode:
    """Why a call ended before its handler did: its deadline passed, or the client left."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


class _Router(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no types
    """Routes by the HTTP/2 path; unknown methods get UNIMPLEMENTED from grpc itself."""

    def __init__(self, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self._handlers = handlers

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)
