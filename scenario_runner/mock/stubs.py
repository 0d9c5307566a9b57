"""Stubs as the mock serves them: GripMock v3 objects, rendered and prepared once.

Static outputs are serialised at registration, so the per-call path of a stub without
templates is: match, count, send the prepared bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from ..durations import parse_duration
from ..protos import MethodInfo, ProtoRegistry
from ..status import parse_status
from ..templating import Templates, template_strings
from .matching import InputMatcher, declared_fields


@dataclass
class StubOutput:
    data: Any = None  # the response message as JSON (templates unrendered)
    stream: list[Any] | None = None
    error: str | None = None
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: list[Any] = field(default_factory=list)
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()
    templated: bool = False  # some string in data/stream/error needs the call's context
    data_bytes: bytes | None = None  # pre-serialised `data` when not templated
    stream_bytes: list[bytes] | None = None

    @property
    def is_error(self) -> bool:
        return self.code is not grpc.StatusCode.OK


@dataclass
class Stub:
    id: str
    method: MethodInfo
    raw: dict[str, Any]  # as registered (for the admin API and the event log)
    priority: int = 0
    headers: InputMatcher | None = None
    input: InputMatcher | None = None
    inputs: list[InputMatcher] | None = None
    output: StubOutput = field(default_factory=StubOutput)
    times: int = 0  # 0: unlimited
    is_global: bool = False
    source: str = ""  # file:line where the stub was declared
    context: Mapping[str, Any] = field(default_factory=dict)  # names for output templates
    order: int = 0  # declaration order, set by the stub store
    declared: int = 0

    def __post_init__(self) -> None:
        self.declared = sum(
            declared_fields(m) for m in (self.headers, self.input, *(self.inputs or ())) if m
        )

    @property
    def path(self) -> str:
        return self.method.path

    def describe(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"stub {self.id}{where}"


def build_stub(
    raw: Mapping[str, Any],
    method: MethodInfo,
    registry: ProtoRegistry,
    *,
    is_global: bool = False,
    source: str = "",
    context: Mapping[str, Any] | None = None,
) -> Stub:
    """A served stub from a GripMock object whose matchers are already rendered.

    ``ValueError`` when the output does not fit the method's response type.
    """
    options = raw.get("options") or {}
    output = _build_output(raw.get("output") or {}, method, registry)
    inputs = raw.get("inputs")
    return Stub(
        id=str(raw.get("id") or uuid.uuid4()),
        method=method,
        raw=dict(raw),
        priority=int(raw.get("priority") or 0),
        headers=InputMatcher.from_mapping(raw["headers"]) if raw.get("headers") else None,
        input=InputMatcher.from_mapping(raw["input"]) if raw.get("input") else None,
        inputs=[InputMatcher.from_mapping(m) for m in inputs] if inputs else None,
        output=output,
        times=int(options.get("times") or 0),
        is_global=is_global,
        source=source,
        context=context or {},
    )


def _build_output(
    raw: Mapping[str, Any], method: MethodInfo, registry: ProtoRegistry
) -> StubOutput:
    error = raw.get("error")
    code_raw = raw.get("code")
    if code_raw is not None:
        code = parse_status(code_raw)
    else:
        code = grpc.StatusCode.UNKNOWN if error else grpc.StatusCode.OK
    output = StubOutput(
        data=raw.get("data"),
        stream=list(raw["stream"]) if raw.get("stream") is not None else None,
        error=str(error) if error is not None else None,
        code=code,
        details=list(raw.get("details") or []),
        delay=parse_duration(raw["delay"]) if raw.get("delay") is not None else 0.0,
        headers=_pairs(raw.get("headers")),
        trailers=_pairs(raw.get("trailers")),
    )
    output.templated = bool(
        template_strings(output.data)
        or template_strings(output.stream)
        or (output.error and Templates.is_template(output.error))
    )
    if not output.templated:
        if output.data is not None:
            output.data_bytes = serialize(registry, method, output.data)
        if output.stream is not None:
            output.stream_bytes = [serialize(registry, method, item) for item in output.stream]
    return output


def serialize(registry: ProtoRegistry, method: MethodInfo, data: Any) -> bytes:
    """The response message for ``data`` as wire bytes; ``ValueError`` when it does not fit."""
    if data is None:
        data = {}
    return registry.from_json(method.output_type, data).SerializeToString()


def _pairs(values: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if not values:
        return ()
    return tuple((str(k).lower(), _metadata_text(v)) for k, v in values.items())


def _metadata_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
