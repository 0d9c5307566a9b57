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
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

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
_UnaryHandler = Callable[[Any, aio.ServicerContext], Awaitable[bytes | None]]
_Body = Callable[["CallRecord", Any, aio.ServicerContext], Awaitable[Any]]
_OK = grpc.StatusCode.OK
_STATUS_NAMES = {code: code.name for code in grpc.StatusCode}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CALLERS_KEPT = 1024  # distinct metadata tuples remembered before starting afresh
_DECODED_KEPT = 4096  # decoded unary requests remembered (all methods), then afresh
_DECODED_SIZE = 1024  # bytes: larger requests are decoded every time
# A call cancelled this close to its deadline (seconds) ended because of the deadline.
_DEADLINE_SLACK = 0.01


class MockCall(NamedTuple):
    """A finished call, as the hub keeps it until its session is read (``data()`` is then
    the ``mock_call`` event's data).

    A tuple of plain values: the garbage collector stops tracking it the first time it sees
    it, so a long history costs no collector time (a tracked record per call did). A unary
    request answered inline is kept as the bytes that came in, with ``decode`` to read them
    again: a fifth of the memory of its JSON form, and growing memory is what a long history
    costs most.
    """

    session_id: str
    finished_at: float  # epoch seconds
    error: str | None  # a harness problem (template), not a stub's answer
    method: str
    headers: dict[str, str]
    stub_id: str | None
    status: str
    message: str
    elapsed: float
    request_key: str  # "request", or "requests" for a client stream
    request: Any
    response_key: str  # "response", or "responses" for a server stream
    response: Any
    decode: Callable[[bytes], dict[str, Any]] | None = None  # set when ``request`` is bytes

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "metadata": self.headers,
            "stub_id": self.stub_id,
            "status": self.status,
            "message": self.message,
            "elapsed": round(self.elapsed, 6),
            self.request_key: self.request if self.decode is None else self.decode(self.request),
            self.response_key: self.response,
        }
        if self.error:
            data["error"] = self.error
        return data


_new_tuple = tuple.__new__  # builds a MockCall without its Python-level __new__


class CallRecord:
    """What one call is doing while the mock handles it; ``finish()`` makes it a ``MockCall``.

    A single request or response is held as it is, a list only for the streaming side(s)
    of the method.
    """

    __slots__ = (
        "error",
        "headers",
        "message",
        "method",
        "request",
        "requests",
        "response",
        "responses",
        "session_id",
        "started",
        "status",
        "stub_id",
    )

    def __init__(self, method: MethodInfo, headers: dict[str, str], session_id: str) -> None:
        self.method = method
        self.headers = headers
        self.session_id = session_id
        self.started = time.perf_counter()
        self.request: dict[str, Any] | None = None
        self.requests: list[dict[str, Any]] | None = [] if method.client_streaming else None
        self.response: Any = None
        self.responses: list[Any] | None = [] if method.server_streaming else None
        self.stub_id: str | None = None
        self.status = _OK
        self.message = ""
        self.error: str | None = None

    def add_request(self, message: dict[str, Any]) -> None:
        if self.requests is None:
            self.request = message
        else:
            self.requests.append(message)

    def add_response(self, data: Any) -> None:
        if self.responses is None:
            self.response = data
        else:
            self.responses.append(data)

    def finish(self) -> MockCall:
        """The call is over: what it did, with its duration and end time."""
        requests, responses = self.requests, self.responses
        return _new_tuple(
            MockCall,
            (
                self.session_id,
                time.time(),
                self.error,
                self.method.full_name,
                self.headers,
                self.stub_id,
                _STATUS_NAMES[self.status],
                self.message,
                time.perf_counter() - self.started,
                "request" if requests is None else "requests",
                self.request if requests is None else requests,
                "response" if responses is None else "responses",
                self.response if responses is None else responses,
                None,
            ),
        )


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
        # Calls from one client carry the same metadata: they share one (read-only) headers
        # dict, which every call record of the session keeps.
        self._callers: dict[tuple[Any, ...], tuple[dict[str, str], str]] = {}
        self._unary_handlers: dict[str, Callable[..., Any]] = {}
        # Unary requests whose bytes were seen before (the same request from many scenarios,
        # each in its own session, or a client repeating itself) are decoded once. The
        # decoded form is only matched and rendered, never changed; call records decode
        # their own copy.
        self._decoded: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._status_class: Any = None
        self._build_handlers()
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(
        self,
        address: str = "127.0.0.1:0",
        *,
        services: Sequence[Callable[[aio.Server], None]] = (),
    ) -> int:
        """Listen on ``HOST:PORT`` (port 0: any free one) and return the bound port.

        ``services`` add other services (reflection, health) to the server before it
        starts; the mock answers its own methods first. ``OSError`` saying why when the
        address cannot be bound (a port in use, a host not of this machine).
        """
        check_bindable(address)
        server = aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((_Router(self._handlers, self._unary_handlers),))
        for add_service in services:
            add_service(server)
        try:
            port: int = server.add_insecure_port(address)
        except RuntimeError as exc:  # grpc's "Failed to bind to address"
            raise OSError(f"cannot listen on {address}") from exc
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
                self._unary_handlers[path] = self._unary_handler(method)
                continue
            self._handlers[path] = handler

    def _wrap(self, method: MethodInfo, body: _Body) -> _Handler:
        """The grpc handler: run ``body``, turn its problems into statuses, record the call."""

        async def handle(request: Any, context: aio.ServicerContext) -> Any:
            headers, session_id = self._caller(context)
            hub = self.hub
            hub.call_started(session_id)
            call = CallRecord(method, headers, session_id)
            try:
                return await body(call, request, context)
            except BaseException as exc:
                await self._failed(call, context, exc)
            finally:
                hub.record_call(call.finish())
                hub.call_finished(session_id)
            return None

        return handle

    def _unary_handler(self, method: MethodInfo) -> _Handler:
        """The unary handler. The common case, a request some stub answers with a static
        reply, is answered and recorded inline: no await, so nothing can come between
        taking the call and recording it, and no call record object is made. Everything
        else goes the general way (``_unary``)."""
        path = method.path
        name = method.full_name
        read = self._readers[path]
        decoded = self._decoded
        general = cast(_UnaryHandler, self._wrap(method, self._unary))

        async def handle(
            metadata: tuple[Any, ...], request: bytes, context: aio.ServicerContext
        ) -> bytes | None:
            started = time.perf_counter()
            caller = self._callers.get(metadata)
            headers, session_id = caller if caller is not None else self._caller_of(metadata)
            try:
                key = (path, request)
                message = decoded.get(key)
                if message is None:
                    message = read(request)
                    if len(request) <= _DECODED_SIZE:
                        if len(decoded) >= _DECODED_KEPT:
                            decoded.clear()
                        decoded[key] = message
                match = self.store.match(session_id, path, message, headers)
            except Exception:
                return await general(request, context)  # which reports what went wrong
            if match is None:
                return await general(request, context)  # NOT_FOUND, with the closest stub
            stub = match.stub
            output = stub.output
            reply = output.static_reply
            if reply is None:  # a template, an error, a delay or headers to send
                return await general(_Matched(request, message, match), context)
            if output.trailers:
                context.set_trailing_metadata(output.trailers)
            self.hub.record_call(
                _new_tuple(
                    MockCall,
                    (
                        session_id,
                        time.time(),
                        None,
                        name,
                        headers,
                        stub.id,
                        "OK",
                        "",
                        time.perf_counter() - started,
                        "request",
                        request,
                        "response",
                        output.data if output.data is not None else {},
                        read,
                    ),
                )
            )
            return reply

        return handle

    async def _unary(
        self, call: CallRecord, request: bytes | _Matched, context: aio.ServicerContext
    ) -> bytes | None:
        if isinstance(request, _Matched):
            message, match = request.message, request.match
            call.request = self._readers[call.method.path](request.raw)  # the record's own
        else:
            message = self._decode(call.method, request, call)
            found = self.store.match(call.session_id, call.method.path, message, call.headers)
            if found is None:
                await self._not_found(call, context, message)
                return None
            match = found
        return await self._answer_single(call, match, message, context)

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

    def _caller(self, context: aio.ServicerContext) -> tuple[dict[str, str], str]:
        """The call's headers and session id."""
        return self._caller_of(context.invocation_metadata() or ())

    def _caller_of(self, metadata: tuple[Any, ...]) -> tuple[dict[str, str], str]:
        known = self._callers.get(metadata)
        if known is None:
            headers = headers_of(metadata)
            session_id = headers.get(SESSION_HEADER) or headers.get(SESSION_HEADER_ALIAS) or ""
            if len(self._callers) >= _CALLERS_KEPT:
                self._callers.clear()
            known = self._callers[metadata] = (headers, session_id)
        return known

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
            add_response = call.add_response
            for data, blob in items:
                if delay:
                    await asyncio.sleep(delay)
                await write(blob)
                add_response(data)
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
                call.add_response(data)
            if output.is_error and (not output.stream or index >= len(output.stream) - 1):
                await self._finish(call, match, message, context)
            index += 1
        if last is not None:
            await self._finish(call, last, {}, context)

    # -- answering -----------------------------------------------------------------------

    def _decode(self, method: MethodInfo, raw: bytes, call: CallRecord) -> dict[str, Any]:
        message = self._readers[method.path](raw)  # DecodeError: INVALID_ARGUMENT
        call.add_request(message)
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
        call.response = data if data is not None else {}
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


class _Matched(NamedTuple):
    """A unary request already read and matched (by the inline path), to answer in full."""

    raw: bytes
    message: dict[str, Any]
    match: Match


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
    if plan is not None:
        return plan.parser(parse)
    to_json = registry.to_json

    def read(raw: bytes) -> dict[str, Any]:
        return to_json(parse(raw))

    return read


def check_bindable(address: str) -> None:
    """Bind ``HOST:PORT`` once with a plain socket, to say why it cannot be used (gRPC only
    says that it failed, and logs the reason to stderr)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) == 0:
        return
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            raise OSError(f"{address}: {exc.strerror or exc}") from exc


def headers_of(metadata: Sequence[tuple[str, str | bytes]]) -> dict[str, str]:
    """Request metadata as the mock matches and records it: text values only, a header sent
    several times joined with ";" (as GripMock does)."""
    headers: dict[str, str] = {}
    for key, value in metadata:
        if not isinstance(value, str):
            continue
        headers[key] = f"{headers[key]};{value}" if key in headers else value
    return headers


def _ended_status(context: aio.ServicerContext) -> grpc.StatusCode:
    """Why a call ended before its handler did: its deadline passed, or the client left."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


class _Router(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no types
    """Routes by the HTTP/2 path; unknown methods get UNIMPLEMENTED from grpc itself.

    A unary call's handler is made for the call, bound to the request metadata gRPC has
    already read to route it: asking the call's context again would build it a second time.
    """

    def __init__(
        self,
        handlers: Mapping[str, grpc.RpcMethodHandler],
        unary: Mapping[str, Callable[..., Any]],
    ) -> None:
        self._handlers = handlers
        self._unary = unary

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        path = handler_call_details.method
        unary = self._unary.get(path)
        if unary is None:
            return self._handlers.get(path)
        bound = partial(unary, handler_call_details.invocation_metadata)
        return _new_tuple(_HANDLER, (False, False, None, None, bound, None, None, None))


_HANDLER = type(grpc.unary_unary_rpc_method_handler(print))  # grpc's RpcMethodHandler tuple
