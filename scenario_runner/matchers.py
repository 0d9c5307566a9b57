"""Expectation comparison: a value a user declared in YAML against a value that was received.

Pure functions, no I/O. The actual value is a protobuf message in its JSON form (proto field
names, defaults included, 64-bit integers as Python ints, enums by name); the expected value is
whatever YAML gave (dict / list / str / int / float / bool / None) and may hold value matchers
(``{$regex: "^Hi"}``) anywhere.

Rules (also used by :mod:`scenario_runner.mock.matching` through :func:`scalar_equal`):

* objects: subset by default (every declared key present and equal, extra keys allowed);
  ``exact=True`` also rejects undeclared keys, at every level.
* arrays: same length, compared element by element in order, in the same mode.
* an expected ``null`` also accepts an absent key (protobuf JSON omits unset message fields).
* scalars: ``True != 1``; ``5 == 5.0``; an int equals its decimal string (``5 == "5"``),
  because users write int64 either way; ``None`` equals only ``None``.
* a dict whose keys are all known ``$`` operators is a matcher; all its operators must hold.
  ``{$any: true}`` requires the key to exist (any value, null included); ``{$any: false}``
  requires the key to be absent.
* a dict with an unknown ``$`` key is not a matcher: it is compared literally (and
  :func:`check_matcher_syntax` reports it when the scenario is validated).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import ge, gt, le, lt
from typing import Any, Final

__all__ = [
    "MATCHER_OPERATORS",
    "MISSING",
    "TYPE_NAMES",
    "Mismatch",
    "as_number",
    "check_matcher_syntax",
    "compare",
    "compile_regex",
    "is_matcher",
    "json_text",
    "matcher_problems",
    "parse_int",
    "regex_error",
    "scalar_equal",
]


class _Missing(enum.Enum):
    # An enum member is a true singleton, also across pickling (results may cross processes).
    MISSING = "<missing>"

    def __repr__(self) -> str:
        return "<missing>"

    __str__ = __repr__


MISSING: Final = _Missing.MISSING
"""Stands for an absent key in :attr:`Mismatch.actual` (or :attr:`Mismatch.expected`)."""

MATCHER_OPERATORS: Final[frozenset[str]] = frozenset(
    {"$regex", "$type", "$any", "$gt", "$gte", "$lt", "$lte", "$len", "$contains", "$ne", "$empty"}
)
TYPE_NAMES: Final[frozenset[str]] = frozenset(
    {"string", "number", "integer", "boolean", "object", "array", "null"}
)
_ORDER_OPERATORS: Final[dict[str, tuple[str, Callable[[Any, Any], bool]]]] = {
    "$gt": (">", gt),
    "$gte": (">=", ge),
    "$lt": ("<", lt),
    "$lte": ("<=", le),
}
_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_@$-]+")
_SHOW_LIMIT = 120


@dataclass(frozen=True)
class Mismatch:
    """One difference between what was declared and what was received."""

    path: str
    expected: Any
    actual: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.reason}"


# -- shared scalar helpers (also used by the mock's stub matching) -----------------------------


def parse_int(text: str) -> int | None:
    """The value of a decimal-integer string (``"-42"``, ``"+7"``), else ``None``."""
    if _DECIMAL_INT.fullmatch(text) is None:
        return None
    return int(text)


def as_number(value: Any) -> int | float | None:
    """A number (not a bool) as is, a decimal-integer string converted, anything else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return parse_int(value)
    return None


def scalar_equal(expected: Any, actual: Any) -> bool:
    """Equality of two JSON scalars under the rules of this module (see the module doc)."""
    expected_type, actual_type = type(expected), type(actual)
    if expected_type is str and actual_type is str:
        return bool(expected == actual)
    if expected_type is bool or actual_type is bool:
        return expected_type is actual_type and expected == actual
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return bool(expected == actual)
    if isinstance(expected, int) and isinstance(actual, str):
        return parse_int(actual) == expected
    if isinstance(expected, str) and isinstance(actual, int):
        return parse_int(expected) == actual
    return expected_type is actual_type and bool(expected == actual)


@functools.lru_cache(maxsize=2048)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or ``None`` when it does not compile (cached either way)."""
    try:
        return _compiled(pattern)
    except (re.error, OverflowError, RecursionError, ValueError):
        return None  # ValueError: a NUL in a pattern of some Python versions; the others: sizes


def regex_error(pattern: str) -> str | None:
    """Why ``pattern`` does not compile (``re``'s words), or ``None`` when it does."""
    if compile_regex(pattern) is not None:
        return None
    try:
        _compiled(pattern)
    except re.error as error:
        return f"not a valid regular expression: {error}"
    except (OverflowError, RecursionError, ValueError) as error:
        return f"not a usable regular expression: {error}"
    return None  # pragma: no cover - compile_regex said it does not compile


def _compiled(pattern: str) -> re.Pattern[str]:
    with warnings.catch_warnings():  # "[[" warns of a future set syntax; it works today
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)


def json_text(value: Any) -> str:
    """The JSON text of a scalar as a regex sees it: ``true``, ``5``, ``1.5``; null is ``""``.

    Integral floats print without ``.0`` (as protobuf JSON and GripMock print them), so that
    ``^5$`` matches a double holding 5.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def metadata_text(value: Any) -> str:
    """The text a YAML scalar stands for as a gRPC metadata value: ``true``, ``5``, ``2.0``.

    One rule for what stubs send, what steps send and what ``expect.headers`` compares."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


# -- matchers ------------------------------------------------------------------------------------


def is_matcher(value: Any) -> bool:
    """A non-empty dict whose keys are all known ``$`` operators."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(key, str) and key in MATCHER_OPERATORS for key in value)
    )


def check_matcher_syntax(value: Any, path: str = "") -> list[str]:
    """Report malformed matchers anywhere in a user value, as ``"path: what is wrong"``."""
    problems: list[str] = []
    _check_syntax(value, path, problems)
    return problems


def matcher_problems(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Malformed matchers anywhere in a user value, as ``(path of the operator, problem)``.

    Operands that are templates (``{$gt: "{{ limit }}"}``) are checked only once rendered.
    """
    found: list[tuple[tuple[str | int, ...], str]] = []
    _walk_syntax(value, path, found)
    return found


def _walk_syntax(
    value: Any, path: tuple[str | int, ...], found: list[tuple[tuple[str | int, ...], str]]
) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _walk_syntax(item, (*path, index), found)
        return
    if not isinstance(value, dict):
        return
    operators = [key for key in value if isinstance(key, str) and key.startswith("$")]
    if not operators:
        for key, item in value.items():
            _walk_syntax(item, (*path, key), found)
        return
    fields = [key for key in value if key not in operators]
    if fields:
        found.append(
            (
                path,
                f"matcher operators cannot be mixed with field names "
                f"({', '.join(map(str, operators))} with {', '.join(map(str, fields))})",
            )
        )
    for operator in operators:
        operand = value[operator]
        if operator == "$contains":
            _walk_syntax(operand, (*path, operator), found)
            continue
        if isinstance(operand, str) and any(m in operand for m in ("{{", "{%")):
            continue  # a template: checked once rendered
        problem = _operand_problem(operator, operand, "", [])
        if problem is not None:
            found.append(((*path, operator), problem))


def _check_syntax(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_syntax(item, _index_path(path, index), problems)
        return
    if not isinstance(value, dict):
        return
    operators = [key for key in value if isinstance(key, str) and key.startswith("$")]
    if not operators:
        for key, item in value.items():
            _check_syntax(item, _key_path(path, key), problems)
        return
    where = path or "<root>"
    fields = [key for key in value if key not in operators]
    if fields:
        problems.append(
            f"{where}: matcher operators cannot be mixed with field names "
            f"({', '.join(map(str, operators))} with {', '.join(map(str, fields))})"
        )
    for operator in operators:
        problem = _operand_problem(operator, value[operator], path, problems)
        if problem is not None:
            problems.append(f"{where}: {problem}")


def _operand_problem(operator: str, operand: Any, path: str, problems: list[str]) -> str | None:
    if operator not in MATCHER_OPERATORS:
        known = ", ".join(sorted(MATCHER_OPERATORS))
        return f"unknown matcher operator {operator!r} (known: {known})"
    if operator == "$regex":
        if not isinstance(operand, str):
            return f"$regex needs a string pattern, got {_show(operand)}"
        problem = regex_error(operand)
        if problem is not None:
            return f"$regex {operand!r} is {problem}"
    elif operator == "$type":
        if not isinstance(operand, str) or operand not in TYPE_NAMES:
            return f"$type must be one of {', '.join(sorted(TYPE_NAMES))}, got {_show(operand)}"
    elif operator == "$any":
        if not isinstance(operand, bool):
            return f"$any must be true or false, got {_show(operand)}"
    elif operator in _ORDER_OPERATORS:
        if as_number(operand) is None:
            return f"{operator} needs a number, got {_show(operand)}"
    elif operator == "$len":
        if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
            return f"$len needs a non-negative integer, got {_show(operand)}"
    elif operator == "$empty":
        if not isinstance(operand, bool):
            return f"$empty must be true or false, got {_show(operand)}"
    elif operator == "$ne":
        _check_syntax(operand, _key_path(path, operator), problems)
    else:  # $contains: any value, which may itself hold matchers
        _check_syntax(operand, _key_path(path, operator), problems)
    return None


# -- comparison ----------------------------------------------------------------------------------


def compare(expected: Any, actual: Any, *, exact: bool = False, path: str = "") -> list[Mismatch]:
    """Every difference between ``expected`` and ``actual`` (empty when they agree)."""
    found: list[Mismatch] = []
    _compare(expected, actual, exact, path, found)
    return found


def _compare(expected: Any, actual: Any, exact: bool, path: str, found: list[Mismatch]) -> None:
    if is_matcher(expected):
        _check_matcher(expected, actual, path, found)
    elif actual is MISSING:
        found.append(Mismatch(path, expected, MISSING, "missing key"))
    elif isinstance(expected, dict):
        _compare_object(expected, actual, exact, path, found)
    elif isinstance(expected, (list, tuple)):
        _compare_array(expected, actual, exact, path, found)
    elif not scalar_equal(expected, actual):
        reason = f"expected {_show(expected)}, got {_show(actual)}"
        found.append(Mismatch(path, expected, actual, reason))


def _compare_object(
    expected: dict[Any, Any], actual: Any, exact: bool, path: str, found: list[Mismatch]
) -> None:
    if not isinstance(actual, Mapping):
        reason = f"expected an object, got {_json_type(actual)} {_show(actual)}"
        found.append(Mismatch(path, expected, actual, reason))
        return
    for key, item in expected.items():
        if item is None and key not in actual:
            continue  # protobuf JSON: null and absent are the same (an unset message field)
        _compare(item, actual.get(key, MISSING), exact, _key_path(path, key), found)
    if exact:
        for key, item in actual.items():
            if key not in expected:
                reason = f"unexpected key (its value: {_show(item)})"
                found.append(Mismatch(_key_path(path, key), MISSING, item, reason))


def _compare_array(
    expected: list[Any] | tuple[Any, ...],
    actual: Any,
    exact: bool,
    path: str,
    found: list[Mismatch],
) -> None:
    if not isinstance(actual, (list, tuple)):
        reason = f"expected an array, got {_json_type(actual)} {_show(actual)}"
        found.append(Mismatch(path, expected, actual, reason))
        return
    if len(expected) != len(actual):
        reason = f"expected {len(expected)} items, got {len(actual)}"
        found.append(Mismatch(path, expected, actual, reason))
    for index, (item, received) in enumerate(zip(expected, actual, strict=False)):
        _compare(item, received, exact, _index_path(path, index), found)


def _check_matcher(matcher: dict[str, Any], actual: Any, path: str, found: list[Mismatch]) -> None:
    wants_absent = "$any" in matcher and not matcher["$any"]
    if actual is MISSING and "$empty" in matcher:
        if not matcher["$empty"]:
            found.append(Mismatch(path, matcher, MISSING, "expected a non-empty value, got none"))
        return
    if actual is MISSING:
        if not wants_absent:
            found.append(Mismatch(path, matcher, MISSING, "missing key"))
        return
    if wants_absent:
        found.append(Mismatch(path, matcher, actual, "expected the key to be absent"))
        return
    for operator, operand in matcher.items():
        reason = _operator_failure(operator, operand, actual)
        if reason is not None:
            found.append(Mismatch(path, matcher, actual, reason))


def _operator_failure(operator: str, operand: Any, actual: Any) -> str | None:
    """Why ``actual`` fails one operator, or ``None`` when it holds."""
    if operator == "$any":
        return None  # presence was checked by the caller
    if operator == "$regex":
        return _regex_failure(operand, actual)
    if operator == "$type":
        return _type_failure(operand, actual)
    if operator in _ORDER_OPERATORS:
        return _order_failure(operator, operand, actual)
    if operator == "$len":
        return _len_failure(operand, actual)
    if operator == "$empty":
        empty = actual is None or actual is False or actual in ("", 0, [], {})
        if empty == operand:
            return None
        return f"expected {'an empty' if operand else 'a non-empty'} value, got {_show(actual)}"
    if operator == "$ne":
        if compare(operand, actual):
            return None
        return f"expected anything but {_show(operand)}"
    return _contains_failure(operand, actual)


def _regex_failure(pattern: Any, actual: Any) -> str | None:
    compiled = compile_regex(pattern) if isinstance(pattern, str) else None
    if compiled is None:
        return f"invalid regex {_show(pattern)}"
    if not isinstance(actual, str):
        return f"expected a string matching regex {pattern!r}, got {_json_type(actual)}"
    if compiled.search(actual) is None:
        return f"{_show(actual)} does not match regex {pattern!r}"
    return None


def _type_failure(type_name: Any, actual: Any) -> str | None:
    if not isinstance(type_name, str) or type_name not in TYPE_NAMES:
        return f"unknown $type {_show(type_name)}"
    found = _json_type(actual)
    if found == type_name or (type_name == "number" and found == "integer"):
        return None
    return f"expected type {type_name}, got {found} {_show(actual)}"


def _order_failure(operator: str, operand: Any, actual: Any) -> str | None:
    symbol, holds = _ORDER_OPERATORS[operator]
    bound = as_number(operand)
    if bound is None:
        return f"{operator} needs a number, got {_show(operand)}"
    value = as_number(actual)
    if value is None:
        return f"expected a number {symbol} {bound}, got {_json_type(actual)} {_show(actual)}"
    if not holds(value, bound):
        return f"expected a number {symbol} {bound}, got {_show(actual)}"
    return None


def _len_failure(length: Any, actual: Any) -> str | None:
    if not isinstance(actual, (str, list, tuple, Mapping)):
        return f"expected something with a length, got {_json_type(actual)} {_show(actual)}"
    if len(actual) != length:
        return f"expected length {length}, got {len(actual)}"
    return None


def _contains_failure(needle: Any, actual: Any) -> str | None:
    if isinstance(actual, str):
        if not isinstance(needle, str):
            return f"cannot look for {_show(needle)} in a string"
        return None if needle in actual else f"{_show(actual)} does not contain {needle!r}"
    if isinstance(actual, (list, tuple)):
        if any(not compare(needle, item) for item in actual):
            return None
        return f"no item matches {_show(needle)}"
    if isinstance(actual, Mapping):
        if not isinstance(needle, dict):
            return f"cannot look for {_show(needle)} in an object"
        return None if not compare(needle, actual) else f"object does not contain {_show(needle)}"
    return f"cannot look for {_show(needle)} in {_json_type(actual)} {_show(actual)}"


# -- formatting ----------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short rendering for reasons: strings quoted, JSON spellings for true/false/null."""
    if value is MISSING or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        text = repr(value)
    elif isinstance(value, bool) or value is None:
        text = json_text(value) or "null"
    else:
        text = json.dumps(value, default=str, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"


def _key_path(base: str, key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text) is None:
        return f"{base}[{json.dumps(text, ensure_ascii=False)}]"
    return f"{base}.{text}" if base else text


def _index_path(base: str, index: int) -> str:
    return f"{base}[{index}]"
