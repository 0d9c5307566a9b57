"""The embedded gRPC mock: one generic handler that serves every loaded method.

Requests arrive as raw bytes (no per-method generated code); the handler finds the winning
stub for the caller's session, answers with its prepared output, and records the call as a
``mock_call`` event in that session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc import aio

from ..protos import MethodInfo, ProtoRegistry
from ..templating import TemplateProblem, Templates
from .hub import SESSION_HEADER, SESSION_HEADER_ALIAS, SessionHub
from .store import Match, StubStore
from .stubs import Stub, serialize

_Handler = Callable[..., Any]


class CallRecord:
    """What one call did; becomes the ``mock_call`` event."""

    def __init__(self, method: MethodInfo, headers: dict[str, str], session_id: str) -> None:
        self.method = method
        self.headers = headers
        self.session_id = session_id
        self.started = time.perf_counter()
        self.requests: list[dict[str, Any]] = []
        self.responses: list[Any] = []
        self.stub_id: str | None = None
        self.status = grpc.StatusCode.OK
        self.message = ""
        self.error: str | None = None  # a harness problem (template), not a stub's answer

    def data(self) -> dict[str, Any]:
        streaming_in = self.method.client_streaming
        streaming_out = self.method.server_streaming
        data: dict[str, Any] = {
            "method": self.method.full_name,
            "metadata": self.headers,
            "stub_id": self.stub_id,
            "status": self.status.name,
            "message": self.message,
            "elapsed": round(time.perf_counter() - self.started, 6),
        }
        if streaming_in:
            data["requests"] = self.requests
        else:
            data["request"] = self.requests[0] if self.requests else None
        if streaming_out:
            data["responses"] = self.responses
        else:
            data["response"] = self.responses[0] if self.responses else None
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
        self._build_handlers()
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, address: str = "127.0.0.1:0") -> int:
        server = aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((_Router(self._handlers),))
        port = server.add_insecure_port(address)
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
            if method.client_streaming and method.server_streaming:
                handler = grpc.stream_stream_rpc_method_handler(self._bidi(method))
            elif method.client_streaming:
                handler = grpc.stream_unary_rpc_method_handler(self._client_stream(method))
            elif method.server_streaming:
                handler = grpc.unary_stream_rpc_method_handler(self._server_stream(method))
            else:
                handler = grpc.unary_unary_rpc_method_handler(self._unary(method))
            self._handlers[path] = handler

    def _begin(self, method: MethodInfo, context: aio.ServicerContext) -> CallRecord:
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if isinstance(value, str):
                headers[key] = value
        session_id = headers.get(SESSION_HEADER) or headers.get(SESSION_HEADER_ALIAS) or ""
        return CallRecord(method, headers, session_id)

    def _unary(self, method: MethodInfo) -> _Handler:
        async def handle(request: bytes, context: aio.ServicerContext) -> bytes | None:
            call = self._begin(method, context)
            try:
                message = self._decode(method, request, call)
                match = self.store.match(call.session_id, method.path, message, call.headers)
                if match is None:
                    return await self._not_found(call, context, message)
                return await self._answer_single(call, match, message, context)
            except _Abort as exc:
                await context.abort(exc.code, exc.message)
                return None
            finally:
                await self._record(call)

        return handle

    def _client_stream(self, method: MethodInfo) -> _Handler:
        async def handle(requests: AsyncIterator[bytes], context: aio.ServicerContext) -> Any:
            call = self._begin(method, context)
            try:
                messages = [self._decode(method, raw, call) async for raw in requests]
                match = self.store.match(call.session_id, method.path, messages, call.headers)
                if match is None:
                    shown = messages[-1] if messages else {}
                    return await self._not_found(call, context, shown, messages)
                request_view = {"messages": messages}
                return await self._answer_single(call, match, request_view, context)
            except _Abort as exc:
                await context.abort(exc.code, exc.message)
                return None
            finally:
                await self._record(call)

        return handle

    def _server_stream(self, method: MethodInfo) -> _Handler:
        async def handle(request: bytes, context: aio.ServicerContext) -> AsyncIterator[bytes]:
            call = self._begin(method, context)
            try:
                message = self._decode(method, request, call)
                match = self.store.match(call.session_id, method.path, message, call.headers)
                if match is None:
                    await self._not_found(call, context, message)
                    return
                stub = match.stub
                await self._send_headers(stub, context)
                items = self._stream_items(call, match, message)
                for data, blob in items:
                    if stub.output.delay:
                        await asyncio.sleep(stub.output.delay)
                    yield blob
                    call.responses.append(data)
                await self._finish(call, match, message, context)
            except _Abort as exc:
                await context.abort(exc.code, exc.message)
            except asyncio.CancelledError:
                call.status = _ended_status(context)
                raise
            finally:
                await self._record(call)

        return handle

    def _bidi(self, method: MethodInfo) -> _Handler:
        async def handle(
            requests: AsyncIterator[bytes], context: aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            call = self._begin(method, context)
            headers_sent = False
            last: Match | None = None
            try:
                index = 0
                async for raw in requests:
                    message = self._decode(method, raw, call)
                    match = self.store.match(
                        call.session_id, method.path, message, call.headers, index=index
                    )
                    if match is None:
                        await self._not_found(call, context, message)
                        return
                    last = match
                    if not headers_sent:
                        await self._send_headers(match.stub, context)
                        headers_sent = True
                    call.stub_id = match.stub.id
                    data, blob = self._bidi_reply(call, match, message, index)
                    if match.stub.output.delay:
                        await asyncio.sleep(match.stub.output.delay)
                    if blob is not None:
                        yield blob
                        call.responses.append(data)
                    index += 1
                if last is not None:
                    await self._finish(call, last, {}, context, answer_error_only=True)
            except _Abort as exc:
                await context.abort(exc.code, exc.message)
            except asyncio.CancelledError:
                call.status = _ended_status(context)
                raise
            finally:
                await self._record(call)

        return handle

    # -- answering -----------------------------------------------------------------------

    def _decode(self, method: MethodInfo, raw: bytes, call: CallRecord) -> dict[str, Any]:
        message = self.registry.to_json(method.input_type.FromString(raw))
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
        if output.templated:
            data = self._render(call, match, request, output.data)
            blob = self._serialize(call, stub, data, context)
        else:
            data, blob = output.data, output.data_bytes
        if output.trailers:
            context.set_trailing_metadata(output.trailers)
        call.responses.append(data if data is not None else {})
        if blob is None:
            return serialize(self.registry, stub.method, None)
        return blob

    def _stream_items(
        self, call: CallRecord, match: Match, request: Mapping[str, Any]
    ) -> list[tuple[Any, bytes]]:
        output = match.stub.output
        call.stub_id = match.stub.id
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
            return list(zip(items, blobs, strict=True))
        rendered = [self._render(call, match, request, item) for item in items]
        return [(item, serialize(self.registry, match.stub.method, item)) for item in rendered]

    def _bidi_reply(
        self, call: CallRecord, match: Match, request: Mapping[str, Any], index: int
    ) -> tuple[Any, bytes | None]:
        output = match.stub.output
        if output.stream:
            position = min(index, len(output.stream) - 1)
            item = output.stream[position]
            blob = None if output.templated else output.stream_bytes[position]  # type: ignore[index]
        elif output.data is not None:
            item, blob = output.data, output.data_bytes
        else:
            return None, None
        if blob is None:
            item = self._render(call, match, request, item)
            blob = serialize(self.registry, match.stub.method, item)
        return item, blob

    async def _finish(
        self,
        call: CallRecord,
        match: Match,
        request: Mapping[str, Any],
        context: aio.ServicerContext,
        *,
        answer_error_only: bool = False,
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
        await context.abort(output.code, message, trailing_metadata=output.trailers)

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
            call.status, call.message = grpc.StatusCode.INTERNAL, call.error
            raise _Abort(grpc.StatusCode.INTERNAL, call.error) from exc

    def _serialize(
        self, call: CallRecord, stub: Stub, data: Any, context: aio.ServicerContext
    ) -> bytes:
        try:
            return serialize(self.registry, stub.method, data)
        except ValueError as exc:
            call.error = f"{stub.describe()}: the rendered output does not fit: {exc}"
            call.status, call.message = grpc.StatusCode.INTERNAL, call.error
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

    async def _record(self, call: CallRecord) -> None:
        await self.hub.record(call.session_id, "mock_call", call.data(), author="mock")


class _Abort(Exception):
    """Raised inside a handler to end the call with a status (turned into context.abort)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ended_status(context: aio.ServicerContext) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


class _Router(grpc.GenericRpcHandler):
    """Routes by the HTTP/2 path; unknown methods get UNIMPLEMENTED from grpc itself."""

    def __init__(self, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self._handlers = handlers

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)
