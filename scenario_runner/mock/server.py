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
import datetime as _dt
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import aio

from ..durations import parse_duration
from ..gotemplate import GoTemplateError, GoTemplateSyntaxError
from ..matchers import metadata_text
from ..protos import MethodInfo, ProtoRegistry, descriptor_of
from ..sessions import Event
from ..sessions.model import DeferredEvent, LazyEvent
from ..status import parse_status, status_number
from ..templating import TemplateProblem, Templates
from .effects import apply_effects
from .gripmock import go_data, not_found_text, parse_documents, split_directive
from .hub import SESSION_HEADER, SESSION_HEADER_ALIAS, SessionHub
from .store import Match, StubStore
from .stubs import Stub, _detail, serialize, status_class, status_details

_Handler = Callable[..., Any]
_UnaryHandler = Callable[[Any, aio.ServicerContext], Awaitable[bytes | None]]
_Body = Callable[["CallRecord", Any, aio.ServicerContext], Awaitable[Any]]
_OK = grpc.StatusCode.OK
_STATUS_NAMES = {code: code.name for code in grpc.StatusCode}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CALLERS_KEPT = 1024  # distinct metadata tuples remembered before starting afresh
_DECODED_KEPT = 4096  # decoded unary requests remembered (all methods), then afresh
_DECODED_SIZE = 1024  # bytes: larger requests are decoded every time
# What a session's history holds of a call, at most (README "Limits"): a message larger
# than this many bytes on the wire is kept as a short preview, and a stream's messages
# beyond the first ones are counted, not kept.
HISTORY_MESSAGE_BYTES = 64 * 1024
HISTORY_STREAM_MESSAGES = 1000
_PREVIEW_CHARS = 256
# A call cancelled this close to its deadline (seconds) ended because of the deadline.
_DEADLINE_SLACK = 0.01


class MockCall(NamedTuple):
    """A finished call, as the hub keeps it until its session is read (``data()`` is then
    the ``mock_call`` event's data).

    A tuple of plain values: the garbage collector stops tracking it the first time it sees
    it, so a long history costs no collector time (a tracked record per call did).
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

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "metadata": self.headers,
            "stub_id": self.stub_id,
            "status": self.status,
            "message": self.message,
            "elapsed": round(self.elapsed, 6),
            self.request_key: self.request,
            self.response_key: self.response,
        }
        if self.error:
            data["error"] = self.error
        return data

    def event(self, id: str | int) -> Event:
        return LazyEvent("mock_call", self, "mock", id)


class _InlineMethod(NamedTuple):
    """What the inline answers of one method share: its name, and how to read a request."""

    name: str
    read: Callable[[bytes], dict[str, Any]]


class AnsweredCall(DeferredEvent):
    """A unary call answered inline with a stub's static reply: the call's record and its
    ``mock_call`` event in one object, the request kept as the bytes that came in and read
    again when the event's data is. Two thirds of the memory of a ``MockCall`` and its
    event, and growing memory is what a long history costs most."""

    __slots__ = ("elapsed", "headers", "method", "request", "response", "session_id", "stub_id")

    error = None  # an inline answer has no template that could fail

    def __init__(
        self,
        session_id: str,
        headers: dict[str, str],
        stub_id: str,
        response: Any,
        elapsed: float,
        request: bytes,
        method: _InlineMethod,
    ) -> None:
        self.kind = "mock_call"
        self.author = "mock"
        self.sequence = 0
        self.timestamp = time.time()
        self.session_id = session_id
        self.headers = headers
        self.stub_id = stub_id
        self.response = response
        self.elapsed = elapsed
        self.request = request
        self.method = method

    def event(self, id: str | int) -> Event:
        self.identify(id)
        return self

    def made_data(self) -> dict[str, Any]:
        method = self.method
        return {
            "method": method.name,
            "metadata": self.headers,
            "stub_id": self.stub_id,
            "status": "OK",
            "message": "",
            "elapsed": round(self.elapsed, 6),
            "request": method.read(self.request),
            "response": self.response,
        }


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

    def add_request(self, message: dict[str, Any], size: int = 0) -> None:
        kept = message if size <= HISTORY_MESSAGE_BYTES else truncated(message, size)
        if self.requests is None:
            self.request = kept
        else:
            _append_bounded(self.requests, kept)

    def add_response(self, data: Any, size: int = 0) -> None:
        kept = data if size <= HISTORY_MESSAGE_BYTES else truncated(data, size)
        if self.responses is None:
            self.response = kept
        else:
            _append_bounded(self.responses, kept)

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
            ),
        )


def truncated(message: Any, size: int) -> dict[str, Any]:
    """What the history keeps of a message too large to keep: its size and a preview."""
    text = json.dumps(message, default=str, ensure_ascii=False)
    return {"$truncated": {"bytes": size, "preview": text[:_PREVIEW_CHARS]}}


def _append_bounded(items: list[Any], item: Any) -> None:
    """Keep the first ``HISTORY_STREAM_MESSAGES`` messages of a stream, then a count."""
    if len(items) < HISTORY_STREAM_MESSAGES:
        items.append(item)
    elif len(items) == HISTORY_STREAM_MESSAGES:
        items.append({"$truncated": {"messages": 1}})
    else:
        items[-1]["$truncated"]["messages"] += 1


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
        self.local_address: str | None = None  # the local socket, when ``start`` opened one

    # -- lifecycle -----------------------------------------------------------------------

    async def start(
        self,
        address: str = "127.0.0.1:0",
        *,
        services: Sequence[Callable[[aio.Server], None]] = (),
        reuse_port: bool = False,
        local_socket: bool = False,
    ) -> int:
        """Listen on ``HOST:PORT`` (port 0: any free one) and return the bound port.

        ``services`` add other services (reflection, health) to the server before it
        starts; the mock answers its own methods first. ``OSError`` saying why when the
        address cannot be bound (a port in use, a host not of this machine). ``reuse_port``:
        bind with SO_REUSEPORT, so several processes share the port. ``local_socket``: also
        listen on a Unix socket of this machine, for clients in this process
        (``local_address``; None where there is none).
        """
        if not reuse_port:  # with SO_REUSEPORT, other processes listen on it too
            check_bindable(address)
        server = aio.server(options=[("grpc.so_reuseport", int(reuse_port))])
        server.add_generic_rpc_handlers((_Router(self._handlers, self._unary_handlers),))
        for add_service in services:
            add_service(server)
        try:
            port: int = server.add_insecure_port(address)
        except RuntimeError as exc:  # grpc's "Failed to bind to address"
            raise OSError(f"cannot listen on {address}") from exc
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        local = _local_socket_name() if local_socket else None
        if local is not None and not _binds(server, local):
            local = None
        await server.start()
        self._server = server
        self.port = port
        self.local_address = local
        return port

    async def stop(self, grace: float | None = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
            self.local_address = None

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
        taking the call and recording it, and what is recorded is the call's event itself
        (``AnsweredCall``), not a record to make one from. Everything else goes the general
        way (``_unary``)."""
        path = method.path
        read = self._readers[path]
        inline = _InlineMethod(method.full_name, read)
        decoded = self._decoded
        general = cast(_UnaryHandler, self._wrap(method, self._unary))

        async def handle(
            metadata: tuple[Any, ...], request: bytes, context: aio.ServicerContext
        ) -> bytes | None:
            started = time.perf_counter()
            if len(request) > HISTORY_MESSAGE_BYTES:
                return await general(request, context)  # recorded as a preview, not whole
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
                AnsweredCall(
                    session_id,
                    headers,
                    stub.id,
                    output.data if output.data is not None else {},
                    time.perf_counter() - started,
                    request,
                    inline,
                )
            )
            return reply

        return handle

    async def _unary(
        self, call: CallRecord, request: bytes | _Matched, context: aio.ServicerContext
    ) -> bytes | None:
        if isinstance(request, _Matched):
            message, match = request.message, request.match
            # The record's own copy: the decoded message is shared with other calls.
            call.add_request(self._readers[call.method.path](request.raw), len(request.raw))
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
        stub = match.stub
        call.stub_id = stub.id
        self._apply_effects(call, stub)
        view = _View(message, None, 0)
        delay = self._delay(call, match, view)
        if not stub.output.is_error:
            await self._send_headers(call, match, view, context)
        items = self._stream_items(call, match, view)
        if items:
            write = context.write
            add_response = call.add_response
            for data, blob, directive in items:
                wait = _directive_delay(directive, delay)
                if wait:
                    await asyncio.sleep(wait)
                if _ends_stream(directive):
                    await self._fail_at(call, match, view, directive, context)
                    return
                await write(blob)
                add_response(data, len(blob))
        elif delay:
            await asyncio.sleep(delay)  # an error (or empty stream) still comes after the delay
        await self._finish(call, match, view, context)

    async def _bidi(
        self, call: CallRecord, requests: AsyncIterator[bytes], context: aio.ServicerContext
    ) -> None:
        """Answer each message as it arrives.

        A stub with ``inputs`` answers message i with ``stream[i]`` (its last element once the
        conversation is longer); a stub with a single ``input`` sends its whole ``stream`` for
        every message it matches, as GripMock does. A stub is counted once per call for
        ``options.times``, however many messages of the call it answers. An error stub ends
        the call with its error once it has sent what it answers.
        """
        method = call.method
        headers_sent = False
        last: Match | None = None
        last_view = _View({}, None, 0)
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
            if stub.id not in counted:
                self._apply_effects(call, stub)
            counted.add(stub.id)
            last = match
            view = last_view = _View(message, call.requests, index)
            if not headers_sent and not output.is_error:
                await self._send_headers(call, match, view, context)
                headers_sent = True
            call.stub_id = stub.id
            delay = self._delay(call, match, view)
            replies = self._bidi_replies(call, match, view, index)
            if not replies and delay:
                await asyncio.sleep(delay)
            for data, blob, directive in replies:
                wait = _directive_delay(directive, delay)
                if wait:
                    await asyncio.sleep(wait)
                if _ends_stream(directive):
                    await self._fail_at(call, match, view, directive, context)
                    return
                await context.write(blob)
                call.add_response(data, len(blob))
            whole = stub.input is not None and stub.inputs is None
            if output.is_error and (whole or not output.stream or index >= len(output.stream) - 1):
                await self._finish(call, match, view, context)
            index += 1
        if last is not None:
            await self._finish(call, last, last_view, context)

    # -- answering -----------------------------------------------------------------------

    def _decode(self, method: MethodInfo, raw: bytes, call: CallRecord) -> dict[str, Any]:
        message = self._readers[method.path](raw)  # DecodeError: INVALID_ARGUMENT
        call.add_request(message, len(raw))
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
        self._apply_effects(call, stub)
        messages = call.requests
        view = (
            _View(messages[-1] if messages else {}, messages, 0)
            if messages is not None
            else (_View(request, None, 0))
        )
        delay = self._delay(call, match, view)
        if delay:
            await asyncio.sleep(delay)
        if output.is_error:
            await self._finish(call, match, view, context)
            return None
        await self._send_headers(call, match, view, context)
        blob: bytes | None
        if output.document is not None:
            items = self._document_items(call, match, view)
            data, blob = items[0][0], items[0][1]
        elif output.templated:
            data = self._render(call, match, view, output.data)
            blob = self._serialize(call, stub, data, lenient=output.go)
        else:
            data, blob = output.data, output.data_bytes
        if output.trailers:
            context.set_trailing_metadata(output.trailers)
        call.add_response(data if data is not None else {}, len(blob) if blob else 0)
        return blob if blob is not None else b""  # no `data`: the empty response message

    def _delay(self, call: CallRecord, match: Match, view: _View) -> float:
        """The stub's delay for this match: rendered when it is a template, shortened by
        ``delay_step`` for each earlier match when it is regressive."""
        output = match.stub.output
        delay = output.delay
        if output.delay_text is not None:
            rendered = self._render(call, match, view, output.delay_text)
            try:
                delay = parse_duration(rendered)
            except ValueError as exc:
                call.error = f"{match.stub.describe()}: delay {rendered!r}: {exc}"
                raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc
        if output.delay_step:
            delay = max(0.0, delay - (match.attempt - 1) * output.delay_step)
        return delay

    def _stream_items(
        self, call: CallRecord, match: Match, view: _View
    ) -> list[tuple[Any, bytes, Mapping[str, Any] | None]]:
        output = match.stub.output
        if output.document is not None:
            return self._document_items(call, match, view)
        items = (
            output.stream
            if output.stream is not None
            else ([output.data] if output.data is not None else [])
        )
        directives = output.directives or [None] * len(items)
        if not output.templated:
            blobs = (
                output.stream_bytes
                if output.stream is not None
                else ([output.data_bytes] if output.data_bytes is not None else [])
            )
            return list(zip(items, blobs or (), directives, strict=True))
        rendered = [self._render(call, match, view, item) for item in items]
        return [
            (
                item,
                b"" if _ends_stream(d) else self._serialize(call, match.stub, item, lenient=True),
                d,
            )
            for item, d in zip(rendered, directives, strict=True)
        ]

    def _document_items(
        self, call: CallRecord, match: Match, view: _View
    ) -> list[tuple[Any, bytes, Mapping[str, Any] | None]]:
        """The messages a response template (``template: true`` / ``dataTemplate``) prints."""
        stub = match.stub
        output = stub.output
        text = self._render(call, match, view, output.document_text, force_go=True)
        import yaml  # only dataTemplate stubs need it

        try:
            if output.document == "yaml":
                loaded = yaml.safe_load(text)
                if not isinstance(loaded, dict):
                    raise ValueError("a dataTemplate must render to a YAML mapping")
                documents: list[Any] = [loaded]
            else:
                documents = parse_documents(text, stream=output.document == "stream")
        except (ValueError, yaml.YAMLError) as exc:
            call.error = f"{stub.describe()}: {exc}"
            raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc
        items = []
        for document in documents:
            data, directive = split_directive(document)
            blob = (
                b"" if _ends_stream(directive) else self._serialize(call, stub, data, lenient=True)
            )
            items.append((data, blob, directive))
        if not items and output.document != "stream":
            items.append(({}, b"", None))
        return items

    def _bidi_replies(
        self, call: CallRecord, match: Match, view: _View, index: int
    ) -> list[tuple[Any, bytes, Mapping[str, Any] | None]]:
        stub = match.stub
        output = stub.output
        if output.document is not None:
            return self._document_items(call, match, view)
        if output.stream and stub.input is not None and stub.inputs is None:
            return self._stream_items(call, match, view)  # `input` + `stream`: all of it
        if output.stream:
            position = min(index, len(output.stream) - 1)
            item = output.stream[position]
            directive = output.directives[position] if output.directives else None
            if output.stream_bytes is not None:
                return [(item, output.stream_bytes[position], directive)]
            item = self._render(call, match, view, item)
            blob = (
                b"" if _ends_stream(directive) else self._serialize(call, stub, item, lenient=True)
            )
            return [(item, blob, directive)]
        if output.data is not None:
            if output.data_bytes is not None:
                return [(output.data, output.data_bytes, None)]
            item = self._render(call, match, view, output.data)
            return [(item, self._serialize(call, stub, item, lenient=True), None)]
        return []

    async def _fail_at(
        self,
        call: CallRecord,
        match: Match,
        view: _View,
        directive: Mapping[str, Any] | None,
        context: aio.ServicerContext,
    ) -> None:
        """End a stream at a ``_gripmock`` marker with its status."""
        directive = directive or {}
        code = grpc.StatusCode.UNKNOWN
        if directive.get("code") is not None:
            code = parse_status(directive["code"])
        message = str(directive.get("error") or "")
        if message and Templates.is_template(message):
            message = str(self._render(call, match, view, message))
        trailers: tuple[tuple[str, str | bytes], ...] = match.stub.output.trailers
        details = directive.get("details")
        if isinstance(details, list) and details:
            packed = status_details(self.registry, [_detail(d) for d in details])
            if self._status_class is None:
                self._status_class = status_class(self.registry)
            head = self._status_class(code=status_number(code), message=message)
            trailers = (*trailers, (STATUS_DETAILS_KEY, bytes(head.SerializeToString()) + packed))
        call.status, call.message = code, message
        await context.abort(code, message, trailing_metadata=trailers)

    async def _finish(
        self,
        call: CallRecord,
        match: Match,
        view: _View,
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
            message = str(self._render(call, match, view, message))
        call.status, call.message = output.code, message
        # An error sends no initial metadata of its own: the stub's headers go with the
        # trailers (a trailers-only answer), where clients read an error's metadata.
        trailers: tuple[tuple[str, str | bytes], ...] = (
            *self._headers(call, match, view),
            *output.trailers,
        )
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

    def _headers(self, call: CallRecord, match: Match, view: _View) -> tuple[tuple[str, str], ...]:
        output = match.stub.output
        if output.go_headers is None:
            return output.headers
        rendered = self._render(call, match, view, output.go_headers)
        return tuple((k, metadata_text(v)) for k, v in rendered.items())

    async def _send_headers(
        self, call: CallRecord, match: Match, view: _View, context: aio.ServicerContext
    ) -> None:
        headers = self._headers(call, match, view)
        if headers:
            await context.send_initial_metadata(headers)

    def _apply_effects(self, call: CallRecord, stub: Stub) -> None:
        """GripMock ``effects``: upsert or delete stubs in the caller's session."""
        if not stub.effects:
            return
        problem = apply_effects(self.store, self.registry, call.session_id, stub)
        if problem:
            call.error = f"{stub.describe()}: {problem}"
            raise _Abort(grpc.StatusCode.INTERNAL, call.error)

    def _render(
        self,
        call: CallRecord,
        match: Match,
        view: _View,
        value: Any,
        *,
        force_go: bool = False,
    ) -> Any:
        stub = match.stub
        request: Mapping[str, Any] = view.request
        if (
            view.requests is not None
            and view.position == 0
            and call.method.client_streaming
            and (not call.method.server_streaming)
        ):
            request = {"messages": view.requests}
        context = {
            **stub.context,
            "request": request,
            "headers": call.headers,
            "attempt": match.attempt,
        }
        go = self._go_renderer(call, match, view) if stub.output.go else None
        try:
            if force_go:
                assert go is not None
                return go(value)
            return self.templates.render(value, context, go)
        except TemplateProblem as exc:
            call.error = f"{stub.describe()}: {exc}"
            raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc

    def _go_renderer(self, call: CallRecord, match: Match, view: _View) -> Callable[[str], str]:
        stub = match.stub
        data = go_data(
            request=view.request,
            requests=view.requests,
            headers=call.headers,
            message_index=view.position,
            attempt=match.attempt,
            stub_id=stub.id,
            times=stub.times,
            started=_dt.datetime.now(_dt.timezone.utc),
        )
        faker = self.hub.faker(call.session_id)
        from ..gotemplate import compile_template

        def render(text: str) -> str:
            try:
                return compile_template(text).render(data, faker)
            except (GoTemplateError, GoTemplateSyntaxError) as exc:
                raise TemplateProblem(f"template {text!r}: {exc}") from exc

        return render

    def _serialize(
        self, call: CallRecord, stub: Stub, data: Any, *, lenient: bool = False
    ) -> bytes:
        try:
            return serialize(self.registry, stub.method, data, lenient=lenient)
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
        """GripMock's text: ``No matching stub found``, service, method, the request input
        (without defaults) and the closest stub's matchers or ``No similar stubs found.``"""
        closest = self.store.closest(call.session_id, call.method.path, request)
        wanted = None
        closest_id = ""
        if closest is not None:
            stub, _ = closest
            closest_id = stub.id
            wanted = {}
            for key in ("headers", "input"):
                for section, value in (stub.raw.get(key) or {}).items():
                    label = section if key == "input" else f"headers.{section}"
                    wanted[label] = value
            for position, matcher in enumerate(stub.raw.get("inputs") or []):
                wanted[f"inputs[{position}]"] = matcher
        shown = list(messages) if messages is not None else [request]
        method = call.method
        return not_found_text(method.service, method.name, call.headers, shown, wanted, closest_id)


class _View(NamedTuple):
    """What the answer is rendered from: the message being answered, every message of a
    client stream so far (None for a single request), and the message's position."""

    request: Mapping[str, Any]
    requests: Sequence[Mapping[str, Any]] | None
    position: int


def _ends_stream(directive: Mapping[str, Any] | None) -> bool:
    return bool(directive) and (
        directive.get("error") is not None or directive.get("code") is not None  # type: ignore[union-attr]
    )


def _directive_delay(directive: Mapping[str, Any] | None, default: float) -> float:
    if directive and directive.get("delay") is not None:
        try:
            return parse_duration(directive["delay"])
        except ValueError:
            return default
    return default


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


def _local_socket_name() -> str | None:
    """A Unix socket in Linux's abstract namespace, named for this process and server: no
    file to remove, gone with the process. None elsewhere (macOS has no abstract sockets)."""
    if not sys.platform.startswith("linux"):
        return None
    return f"unix-abstract:scenario-run-{os.getpid()}-{os.urandom(6).hex()}"


def _binds(server: aio.Server, address: str) -> bool:
    try:
        return bool(server.add_insecure_port(address))
    except RuntimeError:  # grpc's "Failed to bind to address"
        return False


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
