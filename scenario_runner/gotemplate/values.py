"""How Go prints and compares the values a template works with. Pure.

Request data is plain JSON (dicts, lists, strings, numbers, booleans, None). Values built by
``dict`` and ``list`` print themselves as JSON (as GripMock's do); everything else prints the
way Go's ``fmt`` prints it (``%v``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "MISSING",
    "GoObject",
    "JsonList",
    "JsonMap",
    "go_float",
    "go_json",
    "go_print",
    "to_float",
    "to_int",
    "truth",
]


class _Missing:
    """A map key that is not there: Go prints it as ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Final = _Missing()


class JsonList(list[Any]):
    """A list built by ``list`` / ``append`` / ``where`` …: prints as JSON."""


class JsonMap(dict[str, Any]):
    """A mapping built by ``dict`` / ``set`` / ``countBy``: prints as JSON."""


class GoObject:
    """A value with named members a template may read (``faker.Person.FirstName``).

    Only the names in ``members`` are reachable: a template can never reach Python
    attributes of its own.
    """

    members: frozenset[str] = frozenset()

    def member(self, name: str) -> Any:
        if name not in self.members:
            raise LookupError(f"can't evaluate field {name} in type {type(self).__name__}")
        return getattr(self, name)


def go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``: how ``fmt``'s ``%v`` prints a float64
    (``25``, ``0.5``, ``1e+06``, ``1.5e-05``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + (len(digit_tuple) - len(digits))
    prefix = "-" if sign else ""
    exp10 = len(digits) + exponent - 1
    if exp10 < -4 or exp10 >= _SHORTEST_PRECISION:
        tail = digits[1:]
        body = digits[0] + ("." + tail if tail else "")
        return f"{prefix}{body}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    point = exp10 + 1  # digits before the decimal point
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


_SHORTEST_PRECISION = 6  # strconv's %g switches to an exponent from 1e+06 on


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if value is MISSING:
        return None
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _plain(value: Any) -> Any:
    """Floats with no fraction as ints, so JSON reads ``100`` as Go writes it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """``encoding/json`` as GripMock's ``json`` / ``toJson`` give it (no trailing newline)."""
    return json.dumps(
        _plain(value), ensure_ascii=False, separators=(",", ":"), default=_json_default
    )


def go_print(value: Any) -> str:
    """What ``{{ value }}`` writes."""
    if isinstance(value, str):
        return value
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (JsonList, JsonMap)):
        return go_json(value) + "\n"
    if isinstance(value, _dt.datetime):
        return _go_time(value)
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{k}:{go_print(v)}" for k, v in items) + "]"
    return f"{{{type(value).__name__}}}"


def _go_time(value: _dt.datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    zone = value.tzname() or ""
    return f"{text} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d} {zone}".rstrip()


def truth(value: Any) -> bool:
    """Go's notion of a true value in ``if`` / ``with`` / ``and`` / ``or``."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, bytes, list, tuple, Mapping)):
        return len(value) > 0
    return True


def to_float(value: Any) -> float | None:
    """GripMock's ``convertToFloat64``: numbers, numeric strings, anything that prints as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value if isinstance(value, str) else go_print(value)
    try:
        return float(text.strip()) if text.strip() == text else float(text)
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    """GripMock's ``convertToInt``: ints, floats (truncated) and integer strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = value if isinstance(value, str) else go_print(value)
    try:
        return int(text)
    except ValueError:
        return None
