"""Fluent stubs: ``mock.stub("pkg.Service", "Method").when(...).reply(...).commit()``.

A builder only collects a GripMock stub object; ``commit()`` checks it against the protos
exactly as a stub in a scenario file is checked (the JSON Schema, field names, method,
output types), with the test's own ``file:line`` in the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..durations import parse_duration
from ..errors import Location

_MATCHER_KEYS = frozenset({"equals", "contains", "matches", "ignoreArrayOrder", "glob", "anyOf"})

B = TypeVar("B", bound="StubSpec")


class StubSpec:
    """The GripMock stub object a builder has collected so far."""

    def __init__(self, service: str, method: str, stub_id: str | None = None) -> None:
        self.raw: dict[str, Any] = {"service": service, "method": method}
        if stub_id is not None:
            self.raw["id"] = stub_id

    def when(
        self: B,
        *,
        equals: Mapping[str, Any] | None = None,
        contains: Mapping[str, Any] | None = None,
        matches: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        ignore_array_order: bool | None = None,
    ) -> B:
        """What the request must look like: ``equals`` / ``contains`` / ``matches``
        (regexes) on the message, ``headers`` on its metadata (a mapping of header values,
        or a matcher such as ``{"contains": {...}}``)."""
        matcher: dict[str, Any] = dict(self.raw.get("input") or {})
        for key, value in (("equals", equals), ("contains", contains), ("matches", matches)):
            if value is not None:
                matcher[key] = dict(value)
        if ignore_array_order is not None:
            matcher["ignoreArrayOrder"] = ignore_array_order
        if matcher:
            self.raw["input"] = matcher
        if headers is not None:
            self.raw["headers"] = as_matcher(headers)
        return self

    def when_stream(self: B, messages: Sequence[Mapping[str, Any]]) -> B:
        """``inputs`` of a client or bidi stream: message i must match ``messages[i]`` (one
        element: every message must). Each is a message (matched with ``equals``) or a
        matcher (``{"contains": {...}}``)."""
        self.raw["inputs"] = [as_matcher(message) for message in messages]
        return self

    def reply(self: B, data: Mapping[str, Any] | None = None) -> B:
        """The response message (protobuf JSON; templates allowed)."""
        self._output()["data"] = dict(data or {})
        return self

    def reply_stream(self: B, messages: Sequence[Mapping[str, Any]]) -> B:
        """The messages of a server or bidi stream, in order."""
        self._output()["stream"] = [dict(message) for message in messages]
        return self

    def error(
        self: B,
        code: str | int,
        message: str = "",
        details: Sequence[Mapping[str, Any]] | None = None,
    ) -> B:
        """End the call with a status (name or number), a message, and rich ``details``
        (each an ``Any`` in JSON form, with its ``@type``)."""
        output = self._output()
        output["code"] = code
        output["error"] = message
        if details is not None:
            output["details"] = [dict(detail) for detail in details]
        return self

    def delay(self: B, duration: float | str) -> B:
        """Wait before answering: seconds, or ``"250ms"``, ``"2s"``."""
        parse_duration(duration)  # a bad duration is the caller's mistake, said here
        self._output()["delay"] = duration
        return self

    def headers(self: B, values: Mapping[str, Any]) -> B:
        """Response headers (initial metadata)."""
        self._output()["headers"] = dict(values)
        return self

    def trailers(self: B, values: Mapping[str, Any]) -> B:
        """Trailing metadata."""
        self._output()["trailers"] = dict(values)
        return self

    def priority(self: B, value: int) -> B:
        self.raw["priority"] = value
        return self

    def times(self: B, count: int) -> B:
        """Answer at most ``count`` calls of the session (0: no limit)."""
        self.raw.setdefault("options", {})["times"] = count
        return self

    def _output(self) -> dict[str, Any]:
        output: dict[str, Any] = self.raw.setdefault("output", {})
        return output


def as_matcher(value: Mapping[str, Any]) -> dict[str, Any]:
    """A matcher as given, or a plain mapping taken as ``{"equals": ...}``."""
    if value and set(value) <= _MATCHER_KEYS:
        return dict(value)
    return {"equals": dict(value)}


Commit = Callable[[dict[str, Any], Location], str]
AsyncCommit = Callable[[dict[str, Any], Location], Awaitable[str]]


class StubBuilder(StubSpec):
    """A stub of a ``Mock`` (the synchronous SDK)."""

    def __init__(self, service: str, method: str, commit: Commit, stub_id: str | None) -> None:
        super().__init__(service, method, stub_id)
        self._commit = commit

    def commit(self) -> str:
        """Check the stub and register it in the session; its id. ``StubError`` when it does
        not fit the protos."""
        from ._where import caller_location

        return self._commit(self.raw, caller_location())


class AsyncStubBuilder(StubSpec):
    """A stub of an ``AsyncMock``: ``await builder.commit()``."""

    def __init__(self, service: str, method: str, commit: AsyncCommit, stub_id: str | None) -> None:
        super().__init__(service, method, stub_id)
        self._commit = commit

    def commit(self) -> Awaitable[str]:
        from ._where import caller_location

        return self._commit(self.raw, caller_location())
