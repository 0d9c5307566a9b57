"""Stubs as the mock serves them: GripMock v3 objects, rendered and prepared once.

Static outputs are serialised at registration, so the per-call path of a stub without
templates is: match, count, send the prepared bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import Message

from ..durations import parse_duration
from ..gotemplate import GoTemplateSyntaxError, is_go_template
from ..ids import random_uuid
from ..matchers import metadata_text
from ..protos import MethodInfo, ProtoRegistry, descriptor_of, normalize_stub_input
from ..status import parse_status
from ..templating import Templates, template_strings
from .gripmock import split_directive
from .matching import InputMatcher, declared_fields, leaf_count


@dataclass
class StubOutput:
    data: Any = None  # the response message as JSON (templates unrendered)
    stream: list[Any] | None = None
    error: str | None = None
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: list[Any] = field(default_factory=list)  # as written (``@type`` + fields)
    # google.rpc.Status holding only the packed `details` (no code, no message), serialised:
    # the mock prepends code and message (wire concatenation merges) and sends the result as
    # the `grpc-status-details-bin` trailer. Empty when the stub has no details.
    details_bytes: bytes = b""
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()
    templated: bool = False  # some string in data/stream/error needs the call's context
    data_bytes: bytes | None = None  # pre-serialised `data` when not templated
    stream_bytes: list[bytes] | None = None
    # The whole answer of a unary call when it is only bytes to send (no template, no error,
    # no delay, no headers): the mock's fast path. Trailers may still be set.
    static_reply: bytes | None = None
    go: bool = False  # some value is a GripMock Go template (rendered with the call's dot)
    # `template: true` (or `dataTemplate`): the whole `data` / `stream` is one Go template
    # whose printed JSON (YAML for `dataTemplate`) is the answer.
    document: str | None = None  # "data" | "stream" | "yaml"
    document_text: str = ""
    # `_gripmock` directives of the literal `stream` elements (None: a plain message).
    directives: list[Mapping[str, Any] | None] | None = None
    delay_text: str | None = None  # a Go template for the delay, rendered per call
    delay_step: float = 0.0  # `delay_type: regressive`: each match waits this much less
    go_headers: dict[str, str] | None = None  # headers with Go templates, rendered per call

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
    effects: list[Mapping[str, Any]] = field(default_factory=list)  # GripMock `effects`
    is_global: bool = False
    source: str = ""  # file:line where the stub was declared
    context: Mapping[str, Any] = field(default_factory=dict)  # names for output templates
    order: int = 0  # declaration order, set by the stub store
    _rank: tuple[int, int, int, int, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def rank(self) -> tuple[int, int, int, int, int]:
        """How it ranks among stubs that match, highest wins: priority, then most declared
        fields, then most `equals` fields (an exact value is more specific than a pattern),
        then a session stub over a global one, then declaration order. Counted the first
        time two matching stubs are compared (most calls have one candidate)."""
        if self._rank is None:
            matchers = [m for m in (self.headers, self.input, *(self.inputs or ())) if m]
            self._rank = (
                self.priority,
                sum(declared_fields(m) for m in matchers),
                sum(leaf_count(m.equals) for m in matchers if m.equals),
                0 if self.is_global else 1,
                -self.order,
            )
        return self._rank

    def placed(self, order: int, *, is_global: bool) -> None:
        """Where the store put it: its declaration order, and whether it is global."""
        self.order, self.is_global, self._rank = order, is_global, None

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
    normalized: bool = False,
    plain: bool = False,
) -> Stub:
    """A served stub from a GripMock object whose matchers are already rendered (and, when
    ``normalized``, already in the request's JSON form: ``normalize_stub_input``); ``plain``
    when the caller knows that no string of it is a template.

    ``ValueError`` when the output does not fit the method's response type.
    """
    options = raw.get("options") or {}
    output = _build_output(raw.get("output") or {}, method, registry, plain)
    inputs = raw.get("inputs")
    if inputs is None and isinstance(raw.get("stream"), list):
        inputs = raw["stream"]  # GripMock's older name for `inputs`
    descriptor = descriptor_of(method.input_type)
    single = raw.get("input") or None
    if single and not normalized:
        single = normalize_stub_input(single, descriptor)
    if inputs and not normalized:
        inputs = [normalize_stub_input(m, descriptor) for m in inputs]
    effects = [e for e in raw.get("effects") or [] if isinstance(e, Mapping)]
    if effects:
        output.static_reply = None  # effects run on the general path, after the match
    return Stub(
        id=str(raw.get("id") or random_uuid()),
        method=method,
        raw=dict(raw),
        priority=int(raw.get("priority") or 0),
        headers=InputMatcher.from_mapping(raw["headers"]) if raw.get("headers") else None,
        input=InputMatcher.from_mapping(single) if single else None,
        inputs=[InputMatcher.from_mapping(m) for m in inputs] if inputs else None,
        output=output,
        times=int(options.get("times") or 0),
        effects=effects,
        is_global=is_global,
        source=source,
        context=context or {},
    )


def _build_output(
    raw: Mapping[str, Any], method: MethodInfo, registry: ProtoRegistry, plain: bool = False
) -> StubOutput:
    error = raw.get("error")
    code_raw = raw.get("code")
    details = raw.get("details")
    if details is not None and not isinstance(details, list):
        raise ValueError(f"output.details must be a list of objects with an @type: {details!r}")
    if code_raw is not None:
        code = parse_status(code_raw)
    else:
        code = grpc.StatusCode.UNKNOWN if error else grpc.StatusCode.OK
    data = raw.get("data")
    stream = list(raw["stream"]) if raw.get("stream") is not None else None
    document: str | None = None
    document_text = ""
    if raw.get("dataTemplate") is not None:
        document, document_text = "yaml", str(raw["dataTemplate"])
    elif raw.get("template") is True:
        if isinstance(data, str):
            document, document_text, data = "data", data, None
        elif isinstance(stream, str):
            document, document_text, stream = "stream", stream, None
        elif isinstance(raw.get("stream"), str):
            document, document_text, stream = "stream", str(raw["stream"]), None
        else:
            raise ValueError("output.template needs `data` or `stream` written as one template")
    elif isinstance(raw.get("stream"), str):
        raise ValueError("output.stream is a template string: add `template: true`")
    if (
        stream is None
        and method.server_streaming
        and isinstance(data, Mapping)
        and set(data) == {"stream"}
        and isinstance(data["stream"], list)
        and "stream" not in descriptor_of(method.output_type).fields_by_name
    ):
        stream, data = list(data["stream"]), None  # GripMock's older `data.stream` form
    if isinstance(data, str) and document is None:
        raise ValueError("output.data is a string: add `template: true` to make it a template")
    directives: list[Mapping[str, Any] | None] | None = None
    if stream is not None:
        split = [split_directive(item) for item in stream]
        if any(d is not None for _, d in split):
            stream = [item for item, _ in split]
            directives = [d for _, d in split]
    delay_raw = raw.get("delay")
    delay_text = delay_raw if isinstance(delay_raw, str) and is_go_template(delay_raw) else None
    headers = raw.get("headers")
    go_headers = None
    if isinstance(headers, Mapping) and any(
        isinstance(v, str) and is_go_template(v) for v in headers.values()
    ):
        go_headers = {str(k).lower(): str(v) for k, v in headers.items()}
        headers = None
    output = StubOutput(
        data=data,
        stream=stream,
        error=str(error) if error is not None else None,
        code=code,
        details=[_detail(d) for d in details or []],
        delay=parse_duration(delay_raw) if delay_raw is not None and delay_text is None else 0.0,
        headers=_pairs(headers),
        trailers=_pairs(raw.get("trailers")),
        document=document,
        document_text=document_text,
        directives=directives,
        delay_text=delay_text,
        go_headers=go_headers,
    )
    if str(raw.get("delay_type") or "").lower() == "regressive":
        output.delay_step = parse_duration(raw.get("delay_step") or 0)
    if output.details:
        if not output.is_error:
            raise ValueError("output.details needs output.error or a non-OK output.code")
        output.details_bytes = status_details(registry, output.details)
    strings = (
        []
        if plain
        else [
            *template_strings(output.data),
            *template_strings(output.stream),
            *([output.error] if output.error and Templates.is_template(output.error) else []),
        ]
    )
    output.go = bool(
        document or delay_text or go_headers or any(is_go_template(t) for t in strings)
    )
    output.templated = bool(strings or document or delay_text or go_headers)
    for text in [*strings, document_text, delay_text or "", *(go_headers or {}).values()]:
        if text and is_go_template(text):
            from ..gotemplate import compile_template

            try:
                compile_template(text)
            except GoTemplateSyntaxError as exc:
                raise ValueError(f"template {text!r}: {exc}") from exc
    if not output.templated:
        if output.data is not None:
            output.data_bytes = serialize(registry, method, output.data)
        if output.stream is not None:
            output.stream_bytes = [serialize(registry, method, item) for item in output.stream]
        if not (output.is_error or output.delay or output.headers or output.delay_step):
            output.static_reply = output.data_bytes or b""
    return output


def _detail(detail: Any) -> Any:
    """A detail as protobuf JSON: GripMock's ``type`` is the ``@type`` of an ``Any``."""
    if isinstance(detail, Mapping) and "@type" not in detail and "type" in detail:
        body = {k: v for k, v in detail.items() if k != "type"}
        return {"@type": detail["type"], **body}
    return detail


def serialize(
    registry: ProtoRegistry, method: MethodInfo, data: Any, *, lenient: bool = False
) -> bytes:
    """The response message for ``data`` as wire bytes; ``ValueError`` when it does not fit.

    ``lenient``: values rendered by a Go template arrive as text, so ``"true"`` may fill a
    bool field and ``"3"`` an enum given by number (GripMock converts them the same way).
    """
    if data is None:
        data = {}
    return registry.from_json(method.output_type, data, lenient=lenient).SerializeToString()


# -- google.rpc.Status ---------------------------------------------------------------------

STATUS_TYPE = "google.rpc.Status"
_TYPE_URL_PREFIX = "type.googleapis.com/"


def status_class(registry: ProtoRegistry) -> type[Message]:
    """``google.rpc.Status`` in the registry's pool, defined there first when it is absent.

    grpc_tools does not ship ``google/rpc/status.proto``; the few lines it holds are built
    here as a ``FileDescriptorProto`` (with ``google/protobuf/any.proto`` added if missing).
    Protos that bring their own ``google/rpc/status.proto`` keep theirs.
    """
    pool = registry.pool
    try:
        descriptor = pool.FindMessageTypeByName(STATUS_TYPE)
    except KeyError:
        _ensure_file(pool, any_pb2.DESCRIPTOR)
        pool.Add(_status_file())
        descriptor = pool.FindMessageTypeByName(STATUS_TYPE)
    return message_factory.GetMessageClass(descriptor)


def _status_file() -> descriptor_pb2.FileDescriptorProto:
    field_proto = descriptor_pb2.FieldDescriptorProto
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    status = file_proto.message_type.add(name="Status")
    status.field.add(
        name="code",
        number=1,
        type=field_proto.TYPE_INT32,
        label=field_proto.LABEL_OPTIONAL,
        json_name="code",
    )
    status.field.add(
        name="message",
        number=2,
        type=field_proto.TYPE_STRING,
        label=field_proto.LABEL_OPTIONAL,
        json_name="message",
    )
    status.field.add(
        name="details",
        number=3,
        type=field_proto.TYPE_MESSAGE,
        type_name=".google.protobuf.Any",
        label=field_proto.LABEL_REPEATED,
        json_name="details",
    )
    return file_proto


def _ensure_file(pool: descriptor_pool.DescriptorPool, file: FileDescriptor) -> None:
    """Add a file of the default pool (and its imports) to ``pool`` unless it is there."""
    try:
        pool.FindFileByName(file.name)
        return
    except KeyError:
        pass
    for dependency in file.dependencies:
        _ensure_file(pool, dependency)
    pool.AddSerializedFile(file.serialized_pb)


def status_details(registry: ProtoRegistry, details: list[Any]) -> bytes:
    """The serialised ``google.rpc.Status`` holding ``details`` packed as ``Any`` messages.

    Each detail is an ``Any`` in protobuf JSON: ``{"@type": "type.googleapis.com/pkg.Msg",
    ...fields}`` (a bare ``pkg.Msg`` is accepted). The type must be a message of the loaded
    protos or a well-known ``google.protobuf`` type. ``ValueError`` names the bad detail.
    """
    status_cls = status_class(registry)
    any_cls = registry.message_class("google.protobuf.Any")
    packed = []
    for position, detail in enumerate(details):
        where = f"output.details[{position}]"
        if not isinstance(detail, Mapping):
            raise ValueError(f"{where} must be an object with an @type, got {detail!r}")
        type_url = detail.get("@type")
        if not isinstance(type_url, str) or not type_url.strip():
            raise ValueError(f"{where} needs an @type naming a message, e.g. {_EXAMPLE_TYPE}")
        type_name = type_url.rsplit("/", 1)[-1]
        _find_detail_type(registry, type_name, where)
        body = dict(detail)
        body["@type"] = type_url if "/" in type_url else _TYPE_URL_PREFIX + type_url
        message = any_cls()
        try:
            json_format.ParseDict(body, message, descriptor_pool=registry.pool)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} does not fit {type_name}: {exc}") from exc
        packed.append(message)
    status = status_cls()
    status.details.extend(packed)  # type: ignore[attr-defined]  # a class made at runtime
    return bytes(status.SerializeToString())


_EXAMPLE_TYPE = "type.googleapis.com/google.protobuf.StringValue"
# Well-known types a detail may use even when the user's protos do not import them.
_WELL_KNOWN = (
    any_pb2,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)


def _find_detail_type(registry: ProtoRegistry, type_name: str, where: str) -> None:
    try:
        registry.pool.FindMessageTypeByName(type_name)
        return
    except KeyError:
        pass
    if type_name.startswith("google.protobuf."):
        try:
            known = descriptor_pool.Default().FindMessageTypeByName(type_name)
        except KeyError:
            pass
        else:
            _ensure_file(registry.pool, known.file)
            return
    raise ValueError(
        f"{where}: @type {type_name!r} is not a message of the loaded protos "
        "(declare it in a .proto, or use a google.protobuf type)"
    )


def _pairs(values: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if not values:
        return ()
    return tuple((str(k).lower(), metadata_text(v)) for k, v in values.items())
