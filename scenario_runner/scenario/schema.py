"""Validate documents against ``schemas/scenario.schema.json`` and explain the errors.

The schema file is the single source of truth for the format; this module only turns
jsonschema's findings into ``ScenarioFileError``s that point at ``file:line:column``.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the Python validator is imported only to explain an invalid document
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from ..errors import ScenarioFileError
from .yamlsource import SourceDocument

_SCHEMA_FILE = "scenario.schema.json"
CONFIG_SCHEMA_FILE = "config.schema.json"
_MAX_ERRORS = 5


def schema_text(name: str = _SCHEMA_FILE) -> str:
    """A JSON Schema as shipped (``scenario-run schema`` prints the scenario one)."""
    packaged = Path(__file__).resolve().parents[1] / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo_copy = Path(__file__).resolve().parents[2] / "schemas" / name
    return repo_copy.read_text(encoding="utf-8")


@functools.cache
def scenario_schema(name: str = _SCHEMA_FILE) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema


def _schema_for(definition: str | None) -> dict[str, Any]:
    if definition == _CONFIG:
        return scenario_schema(CONFIG_SCHEMA_FILE)
    schema = scenario_schema()
    if definition is not None:
        schema = {**schema, "$ref": f"#/$defs/{definition}"}
        for key in ("type", "required", "properties", "additionalProperties"):
            schema.pop(key, None)
    return schema


@functools.cache
def _validator(definition: str | None) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema_for(definition))


@functools.cache
def _fast_validator(definition: str | None) -> Any:
    """The Rust validator: ~200x faster for the common case, a valid document. Imported
    by the first document that needs checking (a run of texts checked before needs none)."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(_schema_for(definition))


def validate_scenario(document: SourceDocument) -> list[ScenarioFileError]:
    """Schema errors of one scenario document, most useful first, at most a few."""
    return _validate(document, document.value, (), None)


def validate_stub_file(document: SourceDocument) -> list[ScenarioFileError]:
    """Schema errors of a GripMock stub file (one stub or a list of stubs)."""
    return _validate(document, document.value, (), "stubList")


_CONFIG = "<config>"  # not a definition of the scenario schema: the config file's own schema


def validate_config(document: SourceDocument) -> list[ScenarioFileError]:
    """Schema errors of ``scenario-run.yaml`` (``schemas/config.schema.json``)."""
    return _validate(document, document.value, (), _CONFIG)


def validate_stub_item(
    document: SourceDocument, value: Any, prefix: tuple[str | int, ...]
) -> list[ScenarioFileError]:
    """Schema errors of one stub of a stub file's list."""
    return _validate(document, value, prefix, "stub")


def _validate(
    document: SourceDocument, value: Any, prefix: tuple[str | int, ...], definition: str | None
) -> list[ScenarioFileError]:
    try:
        if _fast_validator(definition).is_valid(value):
            return []
    except ValueError:  # a key that is no string (`5: x`): JSON objects have text keys
        if _fast_validator(definition).is_valid(_text_keys(value)):
            return []
    checked = _text_keys(value)
    # Invalid: the Python validator explains why, with the error tree we turn into messages.
    found = list(_leaf_errors(_validator(definition).iter_errors(checked)))
    found.sort(key=lambda e: document.position((*prefix, *_as_written(value, e.absolute_path))))
    errors: list[ScenarioFileError] = []
    seen: set[tuple[Any, ...]] = set()
    for error in found:
        if error.validator == "not" and not isinstance(error.instance, dict):
            continue  # "not both keys" holds vacuously for a non-object: its type error says it
        path, message = _explain(error)
        path = _as_written(value, path)
        key = (tuple(path), message)
        if key in seen:
            continue
        seen.add(key)
        # An unknown key, or a mapping that misses one, is shown at the key that names it.
        at_key = error.validator in ("additionalProperties", "required", "propertyNames")
        errors.append(document.error(message, (*prefix, *path), key=at_key))
        if len(errors) == _MAX_ERRORS:
            break
    return errors


def _text_keys(value: Any) -> Any:
    """``value`` with every mapping key as text, as JSON Schema sees objects."""
    if isinstance(value, dict):
        return {_key_text(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_keys(item) for item in value]
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _as_written(value: Any, path: Sequence[Any]) -> list[Any]:
    """A schema error's path with each key as the document writes it (``5``, not ``"5"``)."""
    out: list[Any] = []
    for part in path:
        if isinstance(value, dict) and part not in value:
            part = next((k for k in value if _key_text(k) == part), part)
        value = (
            value.get(part)
            if isinstance(value, dict)
            else (
                value[part]
                if isinstance(value, list) and isinstance(part, int) and part < len(value)
                else None
            )
        )
        out.append(part)
    return out


def _leaf_errors(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """For anyOf/oneOf failures, the errors of the branch the user most likely meant."""
    for error in errors:
        if not error.context:
            yield error
            continue
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        if len(branches) < 2 and error.validator == "oneOf":
            yield error  # several branches matched, or none is closer than the others
            continue
        here = len(error.absolute_path)
        if all(any(_wrong_type(e, here) for e in b) for b in branches.values()):
            yield error  # of no branch's type: explained as "expected A or B"
            continue
        best = max(branches.values(), key=lambda found: _branch_fitness(found, here))
        yield from _leaf_errors(iter(best))


def _branch_fitness(errors: list[ValidationError], here: int) -> tuple[bool, int, int, int]:
    """A branch of the value's own type first (``{adress: x}`` meant the object form, not
    the string one); then the deeper its errors, the fewer type or required errors at the
    top, the closer."""
    own_type = not any(_wrong_type(e, here) for e in errors)
    depth = max(len(e.absolute_path) for e in errors)
    shallow = sum(1 for e in errors if e.validator in ("type", "required", "$ref"))
    return (own_type, depth, -shallow, -len(errors))


def _wrong_type(error: ValidationError, here: int) -> bool:
    """Whether the error says the value at depth ``here`` has the wrong type (also through
    an ``anyOf`` / ``oneOf`` whose every branch says so)."""
    if len(error.absolute_path) != here:
        return False
    if error.validator == "type":
        return True
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return all(any(_wrong_type(e, here) for e in found) for found in branches.values())
    return False


def _explain(error: ValidationError) -> tuple[list[str | int], str]:
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    validator = error.validator
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = [k for k in instance if k not in allowed]
        if extra:
            close = difflib.get_close_matches(str(extra[0]), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            hint += f" (expected one of: {', '.join(allowed)})" if allowed else ""
            return [*path, str(extra[0])], f"unknown key {extra[0]!r}{hint}"
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key {missing!r}"
    if validator == "type":
        expected = schema.get("type")
        names = expected if isinstance(expected, list) else [expected]
        return path, f"expected {' or '.join(map(str, names))}, got {_describe(instance)}"
    if validator == "enum":
        options = ", ".join(str(o) for o in schema.get("enum", []))
        return path, f"{instance!r} is not allowed here (expected one of: {options})"
    if validator == "not" and isinstance(error.validator_value, dict):
        both = error.validator_value.get("required")
        if isinstance(both, list) and len(both) == 2:
            return path, f"use either {both[0]!r} or {both[1]!r}, not both"
        if isinstance(instance, dict):
            return path, f"{', '.join(map(repr, instance))} cannot be combined here"
    if validator == "pattern":
        parent = error.parent.schema if error.parent is not None else {}
        description = schema.get("description") or (
            parent.get("description") if isinstance(parent, dict) else None
        )
        wanted = f" (expected {description})" if description else ""
        return path, f"{instance!r} is not a valid value{wanted}"
    if validator in ("anyOf", "oneOf") and error.context:
        kinds = list(dict.fromkeys(_type_names(error)))
        if kinds:
            return path, f"expected {' or '.join(kinds)}, got {_describe(instance)}"
    if validator == "oneOf":
        return path, "expected exactly one of 'call', 'unmatched' or 'stubs'"
    if validator == "maxProperties" and isinstance(instance, dict):
        return path, f"{', '.join(map(repr, instance))} cannot be combined here"
    if validator == "dependentRequired":
        return path, error.message.replace("is a dependency of", "is required with")
    return path, error.message


def _type_names(error: ValidationError) -> list[str]:
    """The JSON types an ``anyOf`` / ``oneOf`` wanted when the value has none of them (empty
    when a branch failed for another reason)."""
    here = len(error.absolute_path)
    names: list[str] = []
    for sub in error.context or []:
        if len(sub.absolute_path) != here:
            continue
        if sub.validator == "type":
            wanted = sub.validator_value
            names += [str(w) for w in wanted] if isinstance(wanted, list) else [str(wanted)]
        elif sub.validator in ("anyOf", "oneOf"):
            names += _type_names(sub)
    return names if _wrong_type(error, here) else []


def _describe(value: Any) -> str:
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    shown = json.dumps(value) if not isinstance(value, (dict, list, type(None))) else ""
    return f"{kind} {shown}".strip()


def format_errors(errors: Sequence[ScenarioFileError]) -> str:
    return "\n".join(str(e) for e in errors)
