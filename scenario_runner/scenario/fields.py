"""Check user-written messages against their protobuf descriptors: field names, enum value
names and, for a stub's ``equals`` / ``contains``, scalars no request could ever hold there.
Templates are left alone (checked once rendered); the other values' types are checked by
:mod:`.values` where a message is parsed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from ..matchers import parse_int
from ..protos import find_field, is_matcher_dict, is_repeated
from ..templating import Templates
from .yamlsource import PathKey

_FREE_FORM = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def unknown_fields(
    value: Any,
    descriptor: Descriptor,
    path: PathKey,
    *,
    enums: bool = True,
    literals: bool = False,
) -> Iterator[tuple[PathKey, str]]:
    """``(path, message)`` for every key of ``value`` that is not a field of ``descriptor``,
    (``enums``) every enum value written as a name the enum does not have, and
    (``literals``) every scalar that no request's value of its field can equal under the
    matching rules (``quantity: abc`` for an int32, ``version: 1.2`` for a string)."""
    if not isinstance(value, dict) or is_matcher_dict(value):
        return
    if descriptor.full_name in _FREE_FORM or descriptor.full_name == "google.protobuf.Any":
        return
    for key, item in value.items():
        if not isinstance(key, str) or Templates.is_template(key):
            continue
        field = find_field(descriptor, key)
        if field is None:
            known = ", ".join(f.name for f in descriptor.fields) or "(none)"
            close = difflib.get_close_matches(key, [f.name for f in descriptor.fields], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield (
                (*path, key),
                f"{descriptor.full_name} has no field {key!r}{hint} (fields: {known})",
            )
            continue
        yield from _check_field(item, field, (*path, key), enums, literals)


def _check_field(
    value: Any, field: FieldDescriptor, path: PathKey, enums: bool, literals: bool = False
) -> Iterator[tuple[PathKey, str]]:
    message_type = field.message_type
    if message_type is None:
        if enums and field.enum_type is not None:
            yield from _enum_names(value, field.enum_type, path)
        elif literals and field.enum_type is None:
            yield from _impossible_scalars(value, field, path)
        return
    if message_type.full_name.startswith("google.protobuf."):
        return
    if message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if isinstance(value, dict) and not is_matcher_dict(value):
            for key, item in value.items():
                yield from _check_field(item, value_field, (*path, key), enums, literals)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from unknown_fields(
                item, message_type, (*path, i), enums=enums, literals=literals
            )
    else:
        yield from unknown_fields(value, message_type, path, enums=enums, literals=literals)


def _enum_names(value: Any, enum: EnumDescriptor, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """An enum written by a name it lacks (numbers, matchers and templates are left alone)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _enum_names(item, enum, (*path, i))
        return
    if not isinstance(value, str) or value in enum.values_by_name or Templates.is_template(value):
        return
    names = [v.name for v in enum.values]
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    yield path, f"{value!r} is not a value of {enum.full_name}{hint} (values: {', '.join(names)})"


_INTEGERS = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
_FLOATS = frozenset({FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE})
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})  # how protobuf JSON writes them


def _impossible_scalars(
    value: Any, field: FieldDescriptor, path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    """A literal no request can hold in ``field``: the stub could never match.

    The request's value is in protobuf JSON form (int64 as a string, floats as numbers) and
    compared as :func:`scenario_runner.matchers.scalar_equal` does (``5`` equals ``"5"``), so
    only what can never be equal is reported. Value matchers, templates and ``null`` pass."""
    if isinstance(value, list):
        if is_repeated(field):
            for i, item in enumerate(value):
                yield from _impossible_scalars(item, field, (*path, i))
        return
    if value is None or isinstance(value, dict):
        return
    if isinstance(value, str) and Templates.is_template(value):
        return
    kind = field.cpp_type
    wanted: str | None = None
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            wanted = "true or false"
    elif kind in _INTEGERS:
        text_not_integer = isinstance(value, str) and parse_int(value) is None
        fraction = isinstance(value, float) and not value.is_integer()
        if isinstance(value, bool) or text_not_integer or fraction:
            wanted = "an integer"
    elif kind in _FLOATS:
        if isinstance(value, bool) or (isinstance(value, str) and value not in _FLOAT_WORDS):
            wanted = "a number, unquoted"
    elif kind == FieldDescriptor.CPPTYPE_STRING and isinstance(value, bool):
        wanted = "text (YAML reads an unquoted yes, no, on, off, true or false as a boolean)"
    elif kind == FieldDescriptor.CPPTYPE_STRING and isinstance(value, float):
        wanted = "text (quote the number)"
    if wanted is not None:
        type_name = _TYPE_NAMES.get(field.type, "scalar")
        article = "an" if type_name[0] in "aeiou" else "a"
        yield (
            path,
            f"{field.name} is {article} {type_name} field: expected {wanted}, got "
            f"{_shown(value)}; no request can match this stub",
        )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{value!r} (a number)"


_TYPE_NAMES = {
    number: name.removeprefix("TYPE_").lower()
    for name, number in vars(FieldDescriptor).items()
    if name.startswith("TYPE_") and isinstance(number, int)
}
