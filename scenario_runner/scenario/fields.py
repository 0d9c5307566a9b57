"""Check user-written messages against their protobuf descriptors: field names and enum
value names. Templates are left alone (checked once rendered); the other values' types are
checked by :mod:`.values` where a message is parsed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from ..protos import find_field, is_matcher_dict
from ..templating import Templates
from .yamlsource import PathKey

_FREE_FORM = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def unknown_fields(
    value: Any, descriptor: Descriptor, path: PathKey, *, enums: bool = True
) -> Iterator[tuple[PathKey, str]]:
    """``(path, message)`` for every key of ``value`` that is not a field of ``descriptor``,
    and (``enums``) every enum value written as a name the enum does not have."""
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
        yield from _check_field(item, field, (*path, key), enums)


def _check_field(
    value: Any, field: FieldDescriptor, path: PathKey, enums: bool
) -> Iterator[tuple[PathKey, str]]:
    message_type = field.message_type
    if message_type is None:
        if enums and field.enum_type is not None:
            yield from _enum_names(value, field.enum_type, path)
        return
    if message_type.full_name.startswith("google.protobuf."):
        return
    if message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if isinstance(value, dict) and not is_matcher_dict(value):
            for key, item in value.items():
                yield from _check_field(item, value_field, (*path, key), enums)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from unknown_fields(item, message_type, (*path, i), enums=enums)
    else:
        yield from unknown_fields(value, message_type, path, enums=enums)


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
