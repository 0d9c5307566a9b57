"""Client calls of every RPC kind, with raw bytes on the wire and JSON in and out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
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
    deadline: float | None = None  # the call's own timeout, seconds
    debug: str = ""  # grpc's own error string (connection problems name the cause there)
    # The error's google.rpc.Status details (from grpc-status-details-bin), each an Any as
    # protobuf JSON with its @type; None when the call was not answered with any.
    details: list[dict[str, Any]] | None = None

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
    raw_trailers = await _safe(call.trailing_metadata())
    trailers = _metadata_dict(raw_trailers)
    if code is not grpc.StatusCode.OK and not headers:
        # A failed call answered trailers-only: what the server sent as its headers is there.
        headers = dict(trailers)
    decoded = [registry.response_json(method.output_type.FromString(blob)) for blob in responses]
    return CallResult(
        status=code,
        message=details or "",
        responses=decoded,
        headers=headers,
        trailers=trailers,
        elapsed=time.perf_counter() - started,
        deadline=timeout,
        debug=debug,
        details=status_details_json(registry, raw_trailers),
    )


STATUS_DETAILS_KEY = "grpc-status-details-bin"


def status_details_json(registry: ProtoRegistry, trailers: Any) -> list[dict[str, Any]] | None:
    """The details of a ``grpc-status-details-bin`` trailer as protobuf JSON ``Any`` values
    (``@type`` plus the fields, by proto name); None without that trailer."""
    blob = next((v for k, v in trailers or () if k == STATUS_DETAILS_KEY), None)
    if not isinstance(blob, bytes):
        return None
    from ..mock.stubs import status_class

    try:
        status = status_class(registry).FromString(blob)
    except DecodeError:
        return None
    details = []
    for detail in getattr(status, "details", ()):
        try:
            details.append(
                json_format.MessageToDict(
                    detail, preserving_proto_field_name=True, descriptor_pool=registry.pool
                )
            )
        except (TypeError, KeyError, json_format.Error):
            details.append({"@type": detail.type_url, "value": detail.value.hex()})
    return details


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
