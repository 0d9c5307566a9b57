"""Channels whose every call carries the mock session's metadata."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc import aio

Metadata = Sequence[tuple[str, str]]


def _with(metadata: Any, extra: Metadata) -> list[tuple[str, str | bytes]]:
    present = list(metadata or ())
    names = {key for key, _ in present}
    return present + [(k, v) for k, v in extra if k not in names]


class _Details(grpc.ClientCallDetails):  # type: ignore[misc]  # grpc ships no types
    def __init__(self, base: Any, metadata: list[tuple[str, str | bytes]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class SessionInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds the session headers to every call of a (synchronous) channel."""

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = list(metadata)

    def _details(self, details: Any) -> _Details:
        return _Details(details, _with(details.metadata, self._metadata))

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)


def session_channel(address: str, metadata: Metadata) -> grpc.Channel:
    return grpc.intercept_channel(grpc.insecure_channel(address), SessionInterceptor(metadata))


def _aio_details(details: aio.ClientCallDetails, extra: Metadata) -> aio.ClientCallDetails:
    return aio.ClientCallDetails(
        details.method,
        details.timeout,
        aio.Metadata(*_with(details.metadata, extra)),
        details.credentials,
        details.wait_for_ready,
    )


class _AioUnaryUnary(aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_details(details, self._metadata), request)


class _AioUnaryStream(aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_details(details, self._metadata), request)


class _AioStreamUnary(aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_aio_details(details, self._metadata), requests)


class _AioStreamStream(aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_aio_details(details, self._metadata), requests)


def session_aio_channel(address: str, metadata: Metadata) -> aio.Channel:
    """A ``grpc.aio`` channel (for the running event loop) that sends the session headers."""
    interceptors = [
        kind(metadata)
        for kind in (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)
    ]
    return aio.insecure_channel(address, interceptors=interceptors)
