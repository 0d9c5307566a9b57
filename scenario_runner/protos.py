"""Compile ``.proto`` files at run time and look up their services, methods and messages.

protoc runs in-process (grpcio-tools) into a ``FileDescriptorSet`` that is loaded into a
fresh ``DescriptorPool`` owned by one ``ProtoRegistry``: no generated code, no global state.
Descriptor sets are cached by content hash, so an unchanged tree never calls protoc twice.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import operator
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message

from .cachefiles import prune
from .errors import ProtoCompileError

_PROTOC_LOCK = threading.Lock()  # protoc writes to fd 2, which we borrow while it runs
_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
# Messages whose JSON form is special (strings, numbers, free JSON): never walked field by field.
_WELL_KNOWN_PREFIX = "google.protobuf."


@dataclass(frozen=True)
class MethodInfo:
    """One RPC method: ``helloworld.Greeter/SayHello``."""

    service: str  # full service name, "helloworld.Greeter"
    name: str  # "SayHello"
    input_type: type[Message]
    output_type: type[Message]
    client_streaming: bool
    server_streaming: bool

    @functools.cached_property
    def full_name(self) -> str:
        return f"{self.service}/{self.name}"

    @functools.cached_property
    def path(self) -> str:
        """The HTTP/2 path gRPC routes on: ``/helloworld.Greeter/SayHello``."""
        return f"/{self.service}/{self.name}"

    @property
    def kind(self) -> str:
        if self.client_streaming and self.server_streaming:
            return "bidi_streaming"
        if self.client_streaming:
            return "client_streaming"
        if self.server_streaming:
            return "server_streaming"
        return "unary"


class ProtoRegistry:
    """The services, methods and message classes of one compiled set of protos."""

    def __init__(self, descriptor_set: descriptor_pb2.FileDescriptorSet) -> None:
        self._descriptor_set = descriptor_set
        self.pool = descriptor_pool.DescriptorPool()
        for file_proto in descriptor_set.file:
            self.pool.Add(file_proto)
        self.file_names = [f.name for f in descriptor_set.file]
        self._methods: dict[str, MethodInfo] = {}
        self._calls: dict[str, MethodInfo | None] = {}  # find_call's answers (names repeat)
        self._int64_cache: dict[str, bool] = {}
        self._plain_cache: dict[str, PlainMessage | None] = {}
        self._services_by_short: dict[str, list[str]] = {}
        self.services: dict[str, list[str]] = {}
        for file_proto in descriptor_set.file:
            for service_proto in file_proto.service:
                full = f"{file_proto.package}.{service_proto.name}".lstrip(".")
                service = self.pool.FindServiceByName(full)
                self.services[full] = [m.name for m in service.methods]
                self._services_by_short.setdefault(service.name, []).append(full)
                for method in service.methods:
                    info = self._method_info(full, method)
                    self._methods[info.path] = info

    @functools.cached_property
    def digest(self) -> str:
        """A hash of the compiled set: what a check made against these protos depends on."""
        blob = self._descriptor_set.SerializeToString(deterministic=True)
        return hashlib.blake2b(blob, digest_size=16).hexdigest()

    def _method_info(self, service: str, method: MethodDescriptor) -> MethodInfo:
        return MethodInfo(
            service=service,
            name=method.name,
            input_type=message_factory.GetMessageClass(method.input_type),
            output_type=message_factory.GetMessageClass(method.output_type),
            client_streaming=method.client_streaming,
            server_streaming=method.server_streaming,
        )

    @property
    def methods(self) -> dict[str, MethodInfo]:
        """Every method, keyed by its gRPC path (``/pkg.Service/Method``)."""
        return self._methods

    def resolve_service(self, name: str) -> str | None:
        """The full name for a full or short service name, or None (unknown or ambiguous)."""
        if name in self.services:
            return name
        candidates = self._services_by_short.get(name, [])
        return candidates[0] if len(candidates) == 1 else None

    def find_method(self, service: str, method: str) -> MethodInfo | None:
        full = self.resolve_service(service)
        if full is None:
            return None
        return self._methods.get(f"/{full}/{method}")

    def find_call(self, call: str) -> MethodInfo | None:
        """Look up ``pkg.Service/Method`` (a leading ``/`` is accepted)."""
        try:
            return self._calls[call]
        except KeyError:
            pass
        service, sep, method = call.lstrip("/").partition("/")
        found = self.find_method(service, method) if sep else None
        if len(self._calls) < _MAX_REMEMBERED_CALLS:
            self._calls[call] = found
        return found

    def message_class(self, full_name: str) -> type[Message]:
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))

    # -- JSON form -------------------------------------------------------------------------

    def to_json(self, message: Message) -> dict[str, Any]:
        """The message as protobuf JSON: proto field names, defaults included, enums by name,
        64-bit integers as Python ints (protobuf renders them as strings)."""
        descriptor = descriptor_of(message)
        plan = self.plain_plan(descriptor)
        if plan is not None:
            return plan.read(message)
        data: dict[str, Any] = json_format.MessageToDict(
            message,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            descriptor_pool=self.pool,
        )
        if _has_int64(descriptor, self._int64_cache):
            _int64_to_int(data, descriptor, self._int64_cache)
        return data

    def response_json(self, message: Message) -> dict[str, Any]:
        """A received message as protobuf JSON: proto field names, defaults included, enums
        by name, 64-bit integers as strings (as protojson gives them; expectations written
        as numbers still equal them)."""
        descriptor = descriptor_of(message)
        if not _has_int64(descriptor, self._int64_cache):
            return self.to_json(message)
        data: dict[str, Any] = json_format.MessageToDict(
            message,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            descriptor_pool=self.pool,
        )
        return data

    def plain_plan(self, descriptor: Descriptor) -> PlainMessage | None:
        """How to convert a message of only singular scalar fields directly (cached)."""
        key = descriptor.full_name
        if key not in self._plain_cache:
            self._plain_cache[key] = PlainMessage.of(descriptor)
        return self._plain_cache[key]

    def from_json(
        self, message_class: type[Message], data: Any, *, lenient: bool = False
    ) -> Message:
        """Parse protobuf JSON (proto or camelCase names); ``ValueError`` if it does not fit.

        A float field takes ``3.4028235e+38`` (float32's maximum as Go writes it, a hair
        above it as a double), as Go's protojson does. ``lenient``: text values also fill
        bool fields (``"true"``), as values rendered by a template arrive.
        """
        try:
            return self._from_json(message_class, data)
        except ValueError:
            fixed = coerce_scalars(data, descriptor_of(message_class), lenient)
            if fixed is data:
                raise
            return self._from_json(message_class, fixed)

    def _from_json(self, message_class: type[Message], data: Any) -> Message:
        message = message_class()
        name = message.DESCRIPTOR.full_name
        if not isinstance(data, dict) and not name.startswith(_WELL_KNOWN_PREFIX):
            raise ValueError(f"expected a JSON object, got {_json_kind(data)}")
        plan = self.plain_plan(descriptor_of(message))
        if plan is not None and plan.accepts(data):
            try:
                return message_class(**data)
            except (TypeError, ValueError):
                pass  # let ParseDict say what is wrong, in its words
        try:
            json_format.ParseDict(data, message, descriptor_pool=self.pool)
        except json_format.ParseError as exc:
            raise ValueError(str(exc)) from exc
        except (TypeError, AttributeError, KeyError) as exc:  # a value of the wrong JSON kind
            raise ValueError(f"not a valid {name}: {exc}") from exc
        return message


_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT32_ROUNDS_TO_MAX = 3.4028235677973366e38  # above this a double is float32 infinity


def coerce_scalars(data: Any, descriptor: Descriptor, lenient: bool) -> Any:
    """``data`` with the values protobuf's Python parser refuses but Go's accepts brought
    into range: float32 extremes written with Go's digits, and (``lenient``) booleans and
    numbers written as text. The same object when nothing changed."""
    if not isinstance(data, dict) or descriptor.full_name.startswith(_WELL_KNOWN_PREFIX):
        return data
    changed = False
    result: dict[str, Any] = {}
    for key, value in data.items():
        field = find_field(descriptor, key) if isinstance(key, str) else None
        new = value if field is None else _coerce_field(value, field, lenient)
        changed = changed or new is not value
        result[key] = new
    return result if changed else data


def _coerce_field(value: Any, field: FieldDescriptor, lenient: bool) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if isinstance(value, dict):
            new = {k: _coerce_single(v, value_field, lenient) for k, v in value.items()}
            return new if any(new[k] is not value[k] for k in value) else value
        return value
    if isinstance(value, list):
        items = [_coerce_single(v, field, lenient) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return _coerce_single(value, field, lenient)


def _coerce_single(value: Any, field: FieldDescriptor, lenient: bool) -> Any:
    if field.message_type is not None:
        return coerce_scalars(value, field.message_type, lenient)
    kind = field.type
    if kind == FieldDescriptor.TYPE_FLOAT and isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            return value
        if _FLOAT32_MAX < abs(number) <= _FLOAT32_ROUNDS_TO_MAX:
            return _FLOAT32_MAX if number > 0 else -_FLOAT32_MAX
        return value
    if lenient and isinstance(value, str):
        text = value.strip()
        if kind == FieldDescriptor.TYPE_BOOL and text in ("true", "false"):
            return text == "true"
        if field.enum_type is not None and text.lstrip("-").isdigit():
            return int(text)
        if kind in _INT64_TYPES or kind in _INT32_TYPES:
            try:
                number = float(text)
            except ValueError:
                return value
            if number.is_integer():
                return int(number)
    return value


_INT32_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
    }
)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


_MAX_REMEMBERED_CALLS = 4096  # distinct names written in calls (templated ones can be many)


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """A message's (or message class's) descriptor, typed for the pure-Python API."""
    return cast(Descriptor, message.DESCRIPTOR)


def _has_int64(
    descriptor: Descriptor, cache: dict[str, bool], _seen: frozenset[str] = frozenset()
) -> bool:
    """Whether a message (transitively) has a 64-bit integer field outside well-known types."""
    key = descriptor.full_name
    cached = cache.get(key)
    if cached is not None:
        return cached
    if key.startswith(_WELL_KNOWN_PREFIX) or key in _seen:
        return False
    seen = _seen | {key}
    result = False
    for field in descriptor.fields:
        if field.type in _INT64_TYPES or (
            field.message_type is not None and _has_int64(field.message_type, cache, seen)
        ):
            result = True
            break
    cache[key] = result
    return result


def _int64_to_int(data: dict[str, Any], descriptor: Descriptor, cache: dict[str, bool]) -> None:
    for field in descriptor.fields:
        value = data.get(field.name)
        if value is None:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if isinstance(value, dict):
                for k, v in value.items():
                    value[k] = _convert_value(v, value_field, cache)
        elif isinstance(value, list):
            data[field.name] = [_convert_value(v, field, cache) for v in value]
        else:
            data[field.name] = _convert_value(value, field, cache)


def _convert_value(value: Any, field: FieldDescriptor, cache: dict[str, bool]) -> Any:
    if field.type in _INT64_TYPES and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    message_type = field.message_type
    if (
        message_type is not None
        and isinstance(value, dict)
        and not message_type.full_name.startswith(_WELL_KNOWN_PREFIX)
        and _has_int64(message_type, cache)
    ):
        _int64_to_int(value, message_type, cache)
    return value


# Field types whose protobuf JSON value (proto field names, defaults included) is the very
# Python value the message holds, 64-bit integers included (to_json gives them as ints).
_PLAIN_TYPES: dict[int, tuple[type, ...]] = {
    FieldDescriptor.TYPE_STRING: (str,),
    FieldDescriptor.TYPE_BOOL: (bool,),
    **{
        t: (int,)
        for t in (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SFIXED32,
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_FIXED32,
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_SFIXED64,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_FIXED64,
        )
    },
    FieldDescriptor.TYPE_ENUM: (str,),
}


@dataclass(frozen=True)
class PlainMessage:
    """A message made only of singular scalar fields without presence (strings, bools,
    integers, enums): its JSON form is its attributes, read and written directly, several
    times faster than ``json_format`` and with exactly its results."""

    names: tuple[str, ...]
    kinds: dict[str, tuple[type, ...]]
    enums: dict[str, dict[int, str]]

    @classmethod
    def of(cls, descriptor: Descriptor) -> PlainMessage | None:
        names: list[str] = []
        kinds: dict[str, tuple[type, ...]] = {}
        enums: dict[str, dict[int, str]] = {}
        for field in descriptor.fields:
            kind = _PLAIN_TYPES.get(field.type)
            if kind is None or is_repeated(field) or field.has_presence:
                return None
            if field.enum_type is not None:
                enums[field.name] = {v.number: v.name for v in field.enum_type.values}
            names.append(field.name)
            kinds[field.name] = kind
        return cls(tuple(names), kinds, enums)

    def read(self, message: Message) -> dict[str, Any]:
        data = {name: getattr(message, name) for name in self.names}
        for name, by_number in self.enums.items():
            number = data[name]
            data[name] = by_number.get(number, number)  # an unknown number stays a number
        return data

    def parser(self, parse: Callable[[bytes], Message]) -> Callable[[bytes], dict[str, Any]]:
        """Wire bytes → ``read(parse(raw))``, as few Python steps as the fields allow."""
        names = self.names
        if self.enums or not names:
            read = self.read
            return lambda raw: read(parse(raw))
        if len(names) == 1:
            (name,) = names
            get_one = operator.attrgetter(name)
            return lambda raw: {name: get_one(parse(raw))}
        get_all = operator.attrgetter(*names)
        return lambda raw: dict(zip(names, get_all(parse(raw)), strict=True))

    def accepts(self, data: Any) -> bool:
        """Whether ``data`` can go straight to the message's constructor: proto field names
        only, each value of the field's own Python type (no bool for an int)."""
        if not isinstance(data, dict):
            return False
        kinds = self.kinds
        for key, value in data.items():
            kind = kinds.get(key)
            if kind is None or type(value) not in kind:
                return False
        return True


# -- compilation ---------------------------------------------------------------------------


def well_known_include() -> Path:
    """grpcio-tools' copy of the well-known types (found without importing grpcio-tools)."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or spec.origin is None:
        raise ProtoCompileError("grpcio-tools is not installed: it compiles the protos")
    return Path(spec.origin).parent / "_proto"


def bundled_include() -> Path:
    """``google/rpc/{status,error_details,code}.proto``, always importable."""
    return Path(__file__).resolve().parent / "proto_include"


DESCRIPTOR_SET_SUFFIXES = (".pb", ".protoset")


def _is_descriptor_set(path: Path) -> bool:
    return path.is_file() and path.suffix in DESCRIPTOR_SET_SUFFIXES


def find_proto_files(sources: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(include_root, file)`` for every ``.proto`` under the given directories or files."""
    found: list[tuple[Path, Path]] = []
    for source in sources:
        if _is_descriptor_set(source):
            continue
        if source.is_dir():
            for file in sorted(source.rglob("*.proto")):
                found.append((source, file))
        elif source.is_file():
            found.append((source.parent, source))
        else:
            raise ProtoCompileError(f"proto path not found: {source}")
    return found


MAX_CACHED_SETS = 200
"""Compiled sets the cache keeps (every edit of a proto adds one) before a compile removes
the older half."""


def compile_protos(
    sources: Sequence[Path],
    import_paths: Sequence[Path] = (),
    *,
    cache_dir: Path | None = None,
) -> ProtoRegistry:
    """Compile every ``.proto`` under ``sources`` into a ``ProtoRegistry``.

    ``ProtoCompileError`` carries protoc's own message (``file:line:column: …``). A
    ``.pb`` / ``.protoset`` file is a serialized ``FileDescriptorSet`` (``protoc
    --descriptor_set_out --include_imports``), loaded as it is.
    """
    missing = [str(p) for p in import_paths if not p.is_dir()]
    if missing:
        raise ProtoCompileError(f"import path (-I) not found: {', '.join(missing)}")
    sets = [_read_descriptor_set(s) for s in sources if _is_descriptor_set(s)]
    files = find_proto_files(sources)
    if not files and not sets:
        shown = ", ".join(str(s) for s in sources) or "(none)"
        raise ProtoCompileError(f"no .proto files found in {shown}")
    if not files:
        return ProtoRegistry(_merge_sets(sets))
    roots = _unique(
        [root.resolve() for root, _ in files]
        + [p.resolve() for p in import_paths]
        + [bundled_include().resolve()]
    )
    relative = _unique(
        [file.resolve().relative_to(root.resolve()).as_posix() for root, file in files]
    )
    digest = _content_hash(files, roots)
    cached = cache_dir / f"{digest}.pb" if cache_dir else None
    if cached is not None and cached.is_file():
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(cached.read_bytes())
    else:
        blob = _run_protoc(relative, roots)
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(blob)
        if cached is not None:
            _write_atomic(cached, blob)
            prune(cached.parent, (".pb",), MAX_CACHED_SETS)
    return ProtoRegistry(_merge_sets([descriptor_set, *sets]) if sets else descriptor_set)


def _read_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    try:
        found = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    except (OSError, DecodeError) as exc:
        raise ProtoCompileError(f"{path}: not a FileDescriptorSet ({exc})") from exc
    if not found.file or not all(f.name for f in found.file):
        # protobuf reads many a byte string as an empty message: say so rather than serve nothing
        raise ProtoCompileError(
            f"{path}: not a FileDescriptorSet (it describes no .proto file; build it with "
            "protoc --descriptor_set_out=FILE --include_imports)"
        )
    return found


def _merge_sets(
    sets: Sequence[descriptor_pb2.FileDescriptorSet],
) -> descriptor_pb2.FileDescriptorSet:
    """One set of every file, each once, dependencies before the files that import them."""
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for descriptor_set in sets:
        for file_proto in descriptor_set.file:
            by_name.setdefault(file_proto.name, file_proto)
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    done: set[str] = set()

    def add(name: str) -> None:
        if name in done:
            return
        done.add(name)
        file_proto = by_name.get(name)
        if file_proto is None:
            return  # a well-known import the pool resolves on its own, or missing
        for dependency in file_proto.dependency:
            add(dependency)
        ordered.append(file_proto)

    for name in by_name:
        add(name)
    missing = sorted(
        {d for f in ordered for d in f.dependency if d not in by_name}
        - {f.name for f in _well_known_files()}
    )
    if missing:
        raise ProtoCompileError(
            f"the descriptor set lacks imported files: {', '.join(missing)} "
            "(build it with protoc --include_imports)"
        )
    merged = descriptor_pb2.FileDescriptorSet()
    for name in {d for f in ordered for d in f.dependency if d not in by_name}:
        merged.file.append(next(w for w in _well_known_files() if w.name == name))
    merged.file.extend(ordered)
    return merged


def _well_known_files() -> list[descriptor_pb2.FileDescriptorProto]:
    from google.protobuf import (
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )

    files = []
    for module in (
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    ):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        files.append(proto)
    return files


def _unique(items: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _content_hash(files: Sequence[tuple[Path, Path]], roots: Sequence[Path]) -> str:
    from grpc_tools import grpc_version

    h = hashlib.sha256(grpc_version.VERSION.encode())
    for root in roots:
        h.update(str(root).encode() + b"\0")
        # Imports may come from any file below an include root, not only the listed ones.
        for proto in sorted(root.rglob("*.proto")) if root.is_dir() else ():
            h.update(proto.relative_to(root).as_posix().encode() + b"\0")
            h.update(proto.read_bytes() + b"\0")
    for _, file in files:
        h.update(str(file.resolve()).encode() + b"\0")
    return h.hexdigest()[:32]


def _run_protoc(files: Sequence[str], roots: Sequence[Path]) -> bytes:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="scenario-run-protoc-") as tmp:
        out = Path(tmp) / "set.pb"
        err = Path(tmp) / "stderr"
        args = ["protoc", *(f"-I{root}" for root in roots), f"-I{well_known_include()}"]
        args += [f"--descriptor_set_out={out}", "--include_imports", "--include_source_info"]
        args += list(files)
        with _PROTOC_LOCK, err.open("w+b") as err_file:
            saved = os.dup(2)
            os.dup2(err_file.fileno(), 2)
            try:
                code = protoc.main(args)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            err_file.seek(0)
            message = err_file.read().decode(errors="replace").strip()
        if code != 0 or not out.exists():
            shown = _with_roots(
                _one_per_place(_explained_imports(_without_log_lines(message))), roots
            )
            raise ProtoCompileError(shown or f"protoc failed (exit {code})")
        return out.read_bytes()


_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] |WARNING: All log messages before )"
)


def _without_log_lines(message: str) -> str:
    """protoc's messages without the lines its logging library adds (``W0000 … parser.cc``)."""
    return "\n".join(line for line in message.splitlines() if not _LOG_LINE.match(line))


_NOT_FOUND = re.compile(r"^(?P<file>[^:]+): File not found\.$")
_IMPORT_FAILED = re.compile(r'Import "(?P<file>[^"]+)" was not found or had errors\.$')


_PLACE = re.compile(r"^[^:\s]+:\d+:\d+: ")


def _one_per_place(message: str) -> str:
    """protoc's first message at each ``file:line:column`` (what follows there is its echo)."""
    seen: set[str] = set()
    out = []
    for line in message.splitlines():
        place = _PLACE.match(line)
        if place is not None:
            if place.group() in seen:
                continue
            seen.add(place.group())
        out.append(line)
    return "\n".join(out)


def _explained_imports(message: str) -> str:
    """An import protoc cannot find: said once, at the import line, with what to do."""
    lines = message.splitlines()
    absent = {m.group("file") for line in lines if (m := _NOT_FOUND.match(line))}
    failed_in: set[str] = set()  # files whose imports failed: their "not defined" follow
    out = []
    for line in lines:
        if line.endswith("is not defined.") and line.partition(":")[0] in failed_in:
            continue
        found = _NOT_FOUND.match(line)
        if found and any(f'Import "{found.group("file")}"' in other for other in lines):
            continue  # said below, at the import
        failed = _IMPORT_FAILED.search(line)
        if failed:
            failed_in.add(line.partition(":")[0])
        if failed and failed.group("file") in absent:
            line = line.replace(
                "was not found or had errors.",
                "was not found: add the folder that holds it with -I/--import-path",
            )
        out.append(line)
    return "\n".join(out)


def _with_roots(message: str, roots: Sequence[Path]) -> str:
    """protoc names files relative to their include root; show them as the user can open them."""
    lines = []
    cwd = Path.cwd()
    for line in message.splitlines():
        name, sep, rest = line.partition(":")
        if sep:
            for root in roots:
                candidate = root / name
                if candidate.is_file():
                    try:
                        name = str(candidate.relative_to(cwd))
                    except ValueError:
                        name = str(candidate)
                    break
        lines.append(f"{name}{sep}{rest}")
    return "\n".join(lines)


def _write_atomic(path: Path, blob: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs the next run a compile


# -- expected values -------------------------------------------------------------------------


def normalize_expected(value: Any, descriptor: Descriptor) -> Any:
    """Bring a user-written expected message into the JSON form ``ProtoRegistry.to_json`` gives.

    lowerCamelCase keys become proto field names, enum numbers become names, and literal
    Timestamp / Duration strings take their canonical form ("1.5s" → "1.500s"), so that a
    plain comparison is fair. Value matchers (``{$regex: …}``) and unknown keys are left as
    they are: the comparison reports them.
    """
    if not isinstance(value, dict) or is_matcher_dict(value):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        field = find_field(descriptor, key)
        if field is None:
            result[key] = item
            continue
        result[field.name] = _normalize_field(item, field)
    return result


def normalize_stub_input(matcher: Any, descriptor: Descriptor) -> Any:
    """A GripMock ``input`` (or ``inputs[i]``) brought into the request's JSON form.

    ``equals`` and ``contains`` values get what :func:`normalize_expected` gives expected
    messages (proto field names, enum names, canonical Timestamp / Duration text), so that
    ``took: 1.5s`` matches the request's ``"1.500s"``. ``matches`` (regexes) is left as is.
    """
    if not isinstance(matcher, dict):
        return matcher
    result = dict(matcher)
    for section in ("equals", "contains"):
        if isinstance(result.get(section), dict):
            result[section] = normalize_expected(result[section], descriptor)
    return result


def find_field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    """The field a user's key names: its proto name or its lowerCamelCase JSON name."""
    field = descriptor.fields_by_name.get(key)
    if field is not None:
        return field
    for field in descriptor.fields:
        if field.json_name == key:
            return field
    return None


def is_matcher_dict(value: dict[Any, Any]) -> bool:
    """A mapping whose keys all start with ``$``: a value matcher, not message fields."""
    return bool(value) and all(isinstance(k, str) and k.startswith("$") for k in value)


def _normalize_field(value: Any, field: FieldDescriptor) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if isinstance(value, dict) and not is_matcher_dict(value):
            # JSON map keys are strings: YAML's `{1: x}` or `{true: x}` mean "1" and "true".
            return {_map_key(k): _normalize_single(v, value_field) for k, v in value.items()}
        return value
    if is_repeated(field) and isinstance(value, list):
        return [_normalize_single(v, field) for v in value]
    return _normalize_single(value, field)


def _map_key(key: Any) -> Any:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    return key


def is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 6.31; ``label`` before
    if flag is not None:
        return bool(flag)
    return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)


def _normalize_single(value: Any, field: FieldDescriptor) -> Any:
    if field.enum_type is not None and isinstance(value, int) and not isinstance(value, bool):
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    message_type = field.message_type
    if message_type is None:
        return value
    if message_type.full_name in _CANONICAL_STRING_TYPES and isinstance(value, str):
        return _canonical_wkt_string(value, message_type)
    if message_type.full_name.startswith(_WELL_KNOWN_PREFIX):
        return value
    return normalize_expected(value, message_type)


_CANONICAL_STRING_TYPES = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration"})


def _canonical_wkt_string(value: str, descriptor: Descriptor) -> str:
    message = message_factory.GetMessageClass(descriptor)()
    try:
        json_format.Parse(f'"{value}"', message)
    except (json_format.ParseError, ValueError):
        return value  # not a literal of that type: let the comparison report it
    rendered = json_format.MessageToJson(message)
    return str(rendered.strip('"'))
