"""Client calls of every RPC kind, with raw bytes on the wire and JSON in and out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio

from ..protos import MethodInfo, ProtoRegistry


@dataclass
class CallResult:
    status: grpc.StatusCode
    message: str
    responses: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    debug: str = ""  # grpc's own error string (connection problems name the cause there)

    @property
    def response(self) -> dict[str, Any] | None:
        return self.responses[0] if self.responses else None

    def view(self) -> dict[str, Any]:
        """What ``save`` paths and templates see: response, responses, headers, …"""
        return {
            "response": self.response,
            "responses": self.responses,
            "headers": self.headers,
            "trailers": self.trailers,
            "status": self.status.name,
            "message": self.message,
        }


async def invoke(
    channel: aio.Channel,
    registry: ProtoRegistry,
    method: MethodInfo,
    requests: Sequence[bytes],
    metadata: Sequence[tuple[str, str]],
    timeout: float | None,
) -> CallResult:
    """Make one call of the method's kind and collect everything it answered."""
    started = time.perf_counter()
    responses: list[bytes] = []
    call: Any
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(method.path)(
            iter(requests), metadata=metadata, timeout=timeout
        )
    elif method.client_streaming:
        call = channel.stream_unary(method.path)(iter(requests), metadata=metadata, timeout=timeout)
    elif method.server_streaming:
        call = channel.unary_stream(method.path)(requests[0], metadata=metadata, timeout=timeout)
    else:
        call = channel.unary_unary(method.path)(requests[0], metadata=metadata, timeout=timeout)
    try:
        if method.server_streaming:
            async for blob in call:
                responses.append(blob)
        else:
            responses.append(await call)
        code, details = await call.code(), await call.details()
        debug = ""
    except aio.AioRpcError as exc:
        code, details, debug = exc.code(), exc.details() or "", exc.debug_error_string() or ""
    headers = _metadata_dict(await _safe(call.initial_metadata()))
    trailers = _metadata_dict(await _safe(call.trailing_metadata()))
    decoded = [registry.to_json(method.output_type.FromString(blob)) for blob in responses]
    return CallResult(
        status=code,
        message=details or "",
        responses=decoded,
        headers=headers,
        trailers=trailers,
        elapsed=time.perf_counter() - started,
        debug=debug,
    )


async def _safe(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (aio.AioRpcError, aio.UsageError):
        return None


def _metadata_dict(metadata: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, bytes):
            continue  # binary (-bin) metadata is not compared
        result[key] = f"{result[key]},{value}" if key in result else value
    return result
