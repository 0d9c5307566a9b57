"""Check user-written messages against their protobuf descriptors (field names only).

Values are not type-checked here when they hold templates; those are checked when the
rendered message is parsed at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ..protos import find_field, is_matcher_dict
from ..templating import Templates
from .yamlsource import PathKey

_FREE_FORM = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def unknown_fields(
    value: Any, descriptor: Descriptor, path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    """``(path, message)`` for every key of ``value`` that is not a field of ``descriptor``."""
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
            yield (
                (*path, key),
                f"{descriptor.full_name} has no field {key!r} (fields: {known})",
            )
            continue
        yield from _check_field(item, field, (*path, key))


def _check_field(
    value: Any, field: FieldDescriptor, path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    message_type = field.message_type
    if message_type is None or message_type.full_name.startswith("google.protobuf."):
        return
    if message_type.GetOptions().map_entry:
        value_type = message_type.fields_by_name["value"].message_type
        if value_type is not None and isinstance(value, dict) and not is_matcher_dict(value):
            for key, item in value.items():
                yield from unknown_fields(item, value_type, (*path, key))
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from unknown_fields(item, message_type, (*path, i))
    else:
        yield from unknown_fields(value, message_type, path)
