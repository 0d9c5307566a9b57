"""Literal values a run would refuse, found when the file is loaded. Pure.

* :func:`message_problem`: a request or stub output that protobuf cannot parse, located
  down to the field (``steps[0].request.lines[0].quantity: expected an integer (int32), got
  string "abc"``). Template strings are left out: they are checked once rendered.
* :func:`pattern_problems`: the regular expressions of a stub's ``matches`` and the shell
  patterns of its ``glob``, in ``input``, ``inputs``, ``headers`` and ``anyOf`` blocks.
* :func:`metadata_problems` / :func:`metadata_value_problem`: what gRPC refuses as metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ..gotemplate import is_go_template
from ..matchers import metadata_text, regex_error
from ..mock.gripmock import DIRECTIVE_KEY
from ..mock.matching import glob_is_valid
from ..mock.stubs import build_stub, status_details
from ..protos import MethodInfo, ProtoRegistry, descriptor_of, find_field, is_repeated
from ..templating import Templates, template_strings
from .yamlsource import PathKey

Problem = tuple[PathKey, str]

_MATCHER_SECTIONS = ("matches", "glob")
_WELL_KNOWN = "google.protobuf."
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")
_PARSE_PREFIX = re.compile(r"^(?:Failed to parse \w+(?: field)?: )+")
_PARSE_SUFFIX = re.compile(r"\.? at [\w.]+\.?$|\.+$")


# -- messages --------------------------------------------------------------------------------


def message_problem(
    registry: ProtoRegistry, descriptor: Descriptor, value: Any, path: PathKey
) -> Problem | None:
    """Why ``value`` (with its templates left out) is not a valid ``descriptor`` message, at
    the deepest path that explains it; ``None`` when it parses (or is itself a template)."""
    cls = _message_class(descriptor)
    plan = registry.plain_plan(descriptor)
    if plan is not None and plan.accepts(value) and not _braced(value):
        try:  # the common case: scalar fields of the right types (what from_json does first)
            cls(**value)
            return None
        except (TypeError, ValueError):
            pass
    literal = _without_templates(value)
    if literal is _TEMPLATE:
        return None
    try:
        registry.from_json(cls, literal)
    except ValueError as exc:
        return _locate(registry, descriptor, literal, path, str(exc))
    return None


def _braced(value: dict[str, Any]) -> bool:
    """Whether a mapping of scalars holds a string with "{" (a template, perhaps)."""
    return any(type(item) is str and "{" in item for item in value.values())


def _message_class(descriptor: Descriptor) -> Any:
    return message_factory.GetMessageClass(descriptor)


def _parses(registry: ProtoRegistry, descriptor: Descriptor, value: Any) -> str | None:
    try:
        registry.from_json(_message_class(descriptor), value)
    except ValueError as exc:
        return str(exc)
    return None


def _locate(
    registry: ProtoRegistry, descriptor: Descriptor, value: Any, path: PathKey, reason: str
) -> Problem:
    name = descriptor.full_name
    if not isinstance(value, dict) or name.startswith(_WELL_KNOWN):
        if name.startswith(_WELL_KNOWN):
            return path, _leaf_message(None, descriptor, value, reason)
        return path, f"expected a {name} object, got {_describe(value)}"
    for key, item in value.items():
        field = find_field(descriptor, key) if isinstance(key, str) else None
        if field is None:
            continue  # unknown fields are reported with the field names
        alone = _parses(registry, descriptor, {key: item})
        if alone is None:
            continue
        return _locate_field(registry, field, item, (*path, key), alone)
    return path, f"not a valid {name}: {_inner(reason)}"


def _locate_field(
    registry: ProtoRegistry, field: FieldDescriptor, value: Any, path: PathKey, reason: str
) -> Problem:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if not isinstance(value, dict):
            return path, f"expected a map (an object), got {_describe(value)}"
        for key, item in value.items():
            problem = _single_problem(registry, value_field, item, (*path, key))
            if problem is not None:
                return problem
        return path, _inner(reason)
    if is_repeated(field):
        if not isinstance(value, list):
            return path, f"expected a list, got {_describe(value)}"
        for index, item in enumerate(value):
            problem = _single_problem(registry, field, item, (*path, index))
            if problem is not None:
                return problem
        return path, _inner(reason)
    problem = _single_problem(registry, field, value, path)
    return problem if problem is not None else (path, _inner(reason))


def _single_problem(
    registry: ProtoRegistry, field: FieldDescriptor, value: Any, path: PathKey
) -> Problem | None:
    """Why one (non-repeated) value does not fit ``field``, or ``None`` when it does."""
    message_type = field.message_type
    if message_type is not None:
        reason = _parses(registry, message_type, value)
        if reason is None:
            return None
        if message_type.full_name.startswith(_WELL_KNOWN):
            return path, _leaf_message(field, message_type, value, reason)
        return _locate(registry, message_type, value, path, reason)
    expected = _scalar_expectation(field, value)
    if expected is not None:
        return path, f"expected {expected}, got {_describe(value)}"
    return None


def _scalar_expectation(field: FieldDescriptor, value: Any) -> str | None:
    """What a scalar field wants, when ``value`` is not that; ``None`` when it fits."""
    kind = field.type
    if field.enum_type is not None:
        names = [v.name for v in field.enum_type.values]
        if isinstance(value, str) and value in names:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return f"one of {', '.join(names)} (or a number)"
    if kind == FieldDescriptor.TYPE_STRING:
        return None if isinstance(value, str) else "a string"
    if kind == FieldDescriptor.TYPE_BYTES:
        return None if isinstance(value, str) else "base64 text"
    if kind == FieldDescriptor.TYPE_BOOL:
        return None if isinstance(value, bool) else "true or false"
    type_name = _TYPE_NAMES.get(kind, "number")
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and _is_float_text(value):
            return None
        return f"a number ({type_name})"
    if isinstance(value, int) and not isinstance(value, bool):
        return None if _in_range(kind, value) else f"an integer within the range of {type_name}"
    if isinstance(value, float) and value.is_integer():
        return None
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return None if _in_range(kind, int(value)) else f"an integer within {type_name}"
    return f"an integer ({type_name})"


def _in_range(kind: int, value: int) -> bool:
    low, high = _RANGES.get(kind, (-(2**63), 2**64 - 1))
    return low <= value <= high


def _is_float_text(text: str) -> bool:
    if text in ("NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _leaf_message(
    field: FieldDescriptor | None, descriptor: Descriptor, value: Any, reason: str
) -> str:
    name = descriptor.full_name
    wanted = _WKT_FORMS.get(name, f"a {name} in its JSON form")
    inner = _inner(reason)
    shown = f"expected {wanted}, got {_describe(value)}"
    return f"{shown} ({inner})" if inner and isinstance(value, str) else shown


def _inner(reason: str) -> str:
    """protobuf's own reason, without the "Failed to parse x field:" chain around it."""
    text = _PARSE_PREFIX.sub("", reason.strip())
    return _PARSE_SUFFIX.sub("", text).strip()


_TYPE_NAMES = {
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "sint64",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
}
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_RANGES = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
}
_WKT_FORMS = {
    "google.protobuf.Timestamp": 'a Timestamp in RFC 3339 (such as "2024-05-01T10:00:00Z")',
    "google.protobuf.Duration": 'a Duration (such as "1.5s")',
    "google.protobuf.Struct": "an object",
    "google.protobuf.ListValue": "a list",
    "google.protobuf.FieldMask": 'a FieldMask (such as "a,b.c")',
    "google.protobuf.Any": 'an Any (an object with "@type")',
    "google.protobuf.Empty": "an empty object",
    "google.protobuf.DoubleValue": "a number",
    "google.protobuf.FloatValue": "a number",
    "google.protobuf.Int64Value": "an integer",
    "google.protobuf.UInt64Value": "an integer",
    "google.protobuf.Int32Value": "an integer",
    "google.protobuf.UInt32Value": "an integer",
    "google.protobuf.BoolValue": "true or false",
    "google.protobuf.StringValue": "a string",
    "google.protobuf.BytesValue": "base64 text",
}


class _Template:
    pass


_TEMPLATE: Any = _Template()


def _without_templates(value: Any) -> Any:
    """``value`` with every template string left out (a mapping entry dropped; a list that
    holds one dropped whole, so that indexes stay true); ``_TEMPLATE`` when it is one."""
    if isinstance(value, str):
        return _TEMPLATE if Templates.is_template(value) else value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            kept = _without_templates(item)
            if kept is _TEMPLATE or Templates.is_template(key):
                changed = True
                continue
            changed = changed or kept is not item
            out[key] = kept
        return out if changed else value
    if isinstance(value, list):
        items = [_without_templates(item) for item in value]
        if any(item is _TEMPLATE for item in items):
            return _TEMPLATE
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        return items if changed else value
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "a list"
    return "an object"


# -- stub outputs ----------------------------------------------------------------------------

_PER_CALL = ("data", "stream", "error")
_SIMPLE_KEYS = frozenset({"data", "stream"})


def output_problem(
    registry: ProtoRegistry, method: MethodInfo, output: Any, path: PathKey
) -> Problem | None:
    """What building a stub's ``output`` for the mock would refuse (``path`` is the stub's),
    located as deep as it goes; ``None`` when it builds. Templates in ``data``, ``stream``
    and ``error`` are left out (rendered per call); an output whose other parts hold Jinja
    templates is only built once they are rendered, when the stub is registered."""
    if not isinstance(output, dict):
        return None
    plain = isinstance(output.get("data", {}), dict) and isinstance(output.get("stream", []), list)
    if plain and output.keys() <= _SIMPLE_KEYS:
        # only messages (the common case): parsing them is all building would check
        return _message_problems(registry, method, output, path)
    templated = [t for k in _PER_CALL for t in template_strings(output.get(k))]
    if templated:
        found = _message_problems(registry, method, output, path)
        if found is not None:
            return found
    static = [t for k, v in output.items() if k not in _PER_CALL for t in template_strings(v)]
    if any(not is_go_template(text) for text in static):
        return None
    try:
        build_stub({"output": output}, method, registry)
    except ValueError as exc:
        return locate_output_error(registry, method, output, path, exc)
    return None


def locate_output_error(
    registry: ProtoRegistry, method: MethodInfo, output: Any, path: PathKey, exc: ValueError
) -> Problem:
    """The deepest place of ``output`` that explains why building it failed with ``exc``."""
    if isinstance(output, dict):
        found = _message_problems(registry, method, output, path)
        if found is not None:
            return found
        details = output.get("details")
        for index, detail in enumerate(details if isinstance(details, list) else []):
            if template_strings(detail):
                continue
            if isinstance(detail, dict) and "@type" not in detail and "type" in detail:
                detail = {
                    "@type": detail["type"],
                    **{k: v for k, v in detail.items() if k != "type"},
                }
            try:
                status_details(registry, [detail])
            except ValueError as problem:
                text = str(problem).removeprefix("output.details[0]").lstrip(": ")
                return (*path, "output", "details", index), text
    return (*path, "output"), f"invalid stub: {exc}"


def _message_problems(
    registry: ProtoRegistry, method: MethodInfo, output: dict[str, Any], path: PathKey
) -> Problem | None:
    if output.get("template") is True or "dataTemplate" in output:
        return None  # the whole output is one template
    descriptor = descriptor_of(method.output_type)
    data, stream = output.get("data"), output.get("stream")
    where: PathKey = (*path, "output", "stream")
    if (
        stream is None
        and method.server_streaming
        and isinstance(data, dict)
        and set(data) == {"stream"}
        and "stream" not in descriptor.fields_by_name
    ):
        stream, data, where = data["stream"], None, (*path, "output", "data", "stream")
    if isinstance(data, dict):
        problem = message_problem(registry, descriptor, data, (*path, "output", "data"))
        if problem is not None:
            return problem
    for index, item in enumerate(stream if isinstance(stream, list) else []):
        if isinstance(item, dict) and DIRECTIVE_KEY in item:
            item = {k: v for k, v in item.items() if k != DIRECTIVE_KEY}
        problem = message_problem(registry, descriptor, item, (*where, index))
        if problem is not None:
            return problem
    return None


# -- stub matcher patterns -------------------------------------------------------------------


def pattern_problems(stub: dict[str, Any], path: PathKey) -> list[Problem]:
    """Regexes (``matches``) and shell patterns (``glob``) of a stub that do not compile."""
    found: list[Problem] = []
    blocks: list[tuple[PathKey, Any]] = [((*path, "input"), stub.get("input"))]
    blocks.append(((*path, "headers"), stub.get("headers")))
    for name in ("inputs", "stream"):
        items = stub.get(name)
        if isinstance(items, list):
            blocks += [((*path, name, i), item) for i, item in enumerate(items)]
    while blocks:
        where, block = blocks.pop(0)
        if not isinstance(block, dict):
            continue
        for section in _MATCHER_SECTIONS:
            if section in block:
                found += _patterns(block[section], (*where, section), section)
        any_of = block.get("anyOf")
        if isinstance(any_of, list):
            blocks += [((*where, "anyOf", i), item) for i, item in enumerate(any_of)]
    return found


def _patterns(value: Any, path: PathKey, section: str) -> Iterator[Problem]:
    if isinstance(value, str):
        if Templates.is_template(value):
            return  # checked once rendered, when the stub is registered
        problem = regex_problem(value) if section == "matches" else glob_problem(value)
        if problem is not None:
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _patterns(item, (*path, key), section)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _patterns(item, (*path, index), section)


def regex_problem(pattern: str) -> str | None:
    """Why a ``matches`` pattern does not compile (Python's ``re``), or ``None``."""
    problem = regex_error(pattern)
    return None if problem is None else f"{pattern!r} is {problem}"


def glob_problem(pattern: str) -> str | None:
    """Why a ``glob`` pattern is malformed (an unclosed or empty ``[...]``), or ``None``."""
    if glob_is_valid(pattern):
        return None
    return f"{pattern!r} is not a valid glob pattern (an unclosed or empty [...] class)"


# -- metadata --------------------------------------------------------------------------------


def metadata_value_problem(text: str) -> str | None:
    if _METADATA_VALUE.fullmatch(text):
        return None
    return "gRPC metadata values are printable ASCII (no control characters, no accents)"


def metadata_problems(values: Any, path: PathKey) -> list[Problem]:
    """Keys and values of a step's ``metadata`` that gRPC would refuse (templates aside)."""
    if not isinstance(values, dict):
        return []
    found: list[Problem] = []
    for key, value in values.items():
        if Templates.is_template(key) or (isinstance(value, str) and Templates.is_template(value)):
            continue
        name = str(key).lower()
        if not _METADATA_KEY.fullmatch(name):
            bad_key = f"invalid metadata key {key!r}: use letters, digits, '-', '_' and '.'"
            found.append(((*path, key), bad_key))
            continue
        text = metadata_text(value)
        problem = None if name.endswith("-bin") else metadata_value_problem(text)
        if problem:
            found.append(((*path, key), f"invalid metadata value {text!r}: {problem}"))
    return found
