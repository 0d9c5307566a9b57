"""The functions a GripMock template may call: Go's builtins and GripMock's own set
(``internal/infra/plugins/builtins*.go``), with GripMock's semantics: math helpers answer
float64 (``0`` when an argument is not a number), ``title`` upper-cases as Go's
``strings.ToTitle`` does, query helpers take the collection last. Pure, except ``now``,
``uuid``, ``jitter`` and ``faker`` (which a session may seed).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import random
import re
import urllib.parse
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .timefmt import go_duration, go_time_format, parse_go_duration
from .values import MISSING, JsonList, JsonMap, go_json, go_print, to_float, to_int, truth

__all__ = ["base_functions"]

_MAX_SEQ = 10_000


def _spread(args: Sequence[Any]) -> list[Any]:
    """GripMock's ``normalizeArgs``: one list argument stands for its items."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0])
    return list(args)


def _numbers(args: Sequence[Any]) -> list[float] | None:
    values = [to_float(a) for a in _spread(args)]
    return None if any(v is None for v in values) else [v for v in values if v is not None]


def _add(*args: Any) -> float:
    nums = _numbers(args)
    return math.fsum(nums) if nums is not None else 0.0


def _sub(*args: Any) -> float:
    nums = _numbers(args)
    if not nums:
        return 0.0
    result = nums[0]
    for value in nums[1:]:
        result -= value
    return result


def _mul(*args: Any) -> float:
    nums = _numbers(args)
    if nums is None:
        return 0.0
    result = 1.0
    for value in nums:
        result *= value
    return result


def _div(*args: Any) -> float:
    nums = _numbers(args)
    if not nums:
        return 0.0
    result = nums[0]
    for value in nums[1:]:
        if value != 0:
            result /= value
    return result


def _mod(*args: Any) -> float:
    nums = _numbers(args)
    if nums is None or len(nums) < 2 or nums[1] == 0:
        return 0.0
    return math.fmod(nums[0], nums[1])


def _avg(*args: Any) -> float:
    nums = _numbers(args)
    return math.fsum(nums) / len(nums) if nums else 0.0


def _min(*args: Any) -> float:
    nums = _numbers(args)
    return min(nums) if nums else 0.0


def _max(*args: Any) -> float:
    nums = _numbers(args)
    return max(nums) if nums else 0.0


def _unary(fn: Callable[[float], float]) -> Callable[[Any], float]:
    def apply(value: Any) -> float:
        number = to_float(value)
        return float(fn(number)) if number is not None else 0.0

    return apply


def _round(value: float) -> float:
    return float(math.floor(value + 0.5)) if value >= 0 else -float(math.floor(-value + 0.5))


def _compare(op: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(a: Any, b: Any) -> bool:
        left, right = to_float(a), to_float(b)
        if left is None or right is None:
            return False
        return op(left, right)

    return check


def _eq(a: Any, b: Any, *more: Any) -> bool:
    """Numbers compare by value (GripMock's ``eq``); other values as Go's ``eq`` does."""
    for other in (b, *more):
        left, right = to_float(a), to_float(other)
        if left is not None and right is not None and not isinstance(a, str | bool):
            if left == right:
                return True
            continue
        if _plain(a) == _plain(other):
            return True
    return False


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _length(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, Mapping)):
        return len(value)
    if value is None or value is MISSING:
        raise ValueError("len of nil pointer")
    raise ValueError(f"len of type {type(value).__name__}")


def _index(collection: Any, *keys: Any) -> Any:
    value = collection
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key if isinstance(key, str) else go_print(key), MISSING)
        elif isinstance(value, (list, tuple, str, bytes)):
            position = to_int(key)
            if position is None or isinstance(key, str):
                raise ValueError(f"cannot index slice/array with type {type(key).__name__}")
            if not 0 <= position < len(value):
                raise ValueError(f"index out of range: {position}")
            value = value[position]
        elif value is None or value is MISSING:
            raise ValueError("index of untyped nil")
        else:
            raise ValueError(f"can't index item of type {type(value).__name__}")
    return value


def _slice(value: Any, *bounds: Any) -> Any:
    if not isinstance(value, (str, list, tuple)):
        raise ValueError(f"can't slice item of type {type(value).__name__}")
    numbers = [to_int(b) for b in bounds]
    if any(n is None for n in numbers) or len(numbers) > 3:
        raise ValueError("invalid slice bounds")
    start = numbers[0] if numbers else 0
    end = numbers[1] if len(numbers) > 1 else len(value)
    return value[start:end]


_MAX_WIDTH = 1_000_000  # a template's whole output stops at 8 Mi characters anyway
_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])")


def _sprintf(layout: str, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use: %s %v %d %f %g %e %t %q %x %X %c %%."""
    values = list(args)
    position = 0

    def take() -> Any:
        nonlocal position
        if position >= len(values):
            return MISSING
        value = values[position]
        position += 1
        return value

    def one(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        for number in (width, precision):
            if number and number != "*" and int(number) > _MAX_WIDTH:
                raise ValueError(f"a width or precision above {_MAX_WIDTH} in {match.group()!r}")
        value = take()
        if value is MISSING:
            return f"%!{verb}(MISSING)"
        text = _verb(verb, value, precision)
        if width and width != "*":
            size = int(width)
            if "-" in flags:
                text = text.ljust(size)
            elif "0" in flags and verb in "dfeEgGxX":
                text = text.rjust(size, "0")
            else:
                text = text.rjust(size)
        return text

    out = _VERB.sub(one, layout)
    if position < len(values):
        extra = ", ".join(f"{type(v).__name__}={go_print(v)}" for v in values[position:])
        out += f"%!(EXTRA {extra})"
    return out


def _verb(verb: str, value: Any, precision: str | None) -> str:
    if verb in "sv":
        return go_print(value)
    if verb == "d":
        number = to_int(value) if not isinstance(value, float) else None
        return str(number) if number is not None else f"%!d({type(value).__name__}={value})"
    if verb in "feEgG":
        real = to_float(value)
        if real is None:
            return f"%!{verb}({type(value).__name__}={value})"
        number_f = real
        digits = int(precision) if precision and precision != "*" else None
        if verb == "f":
            return f"{number_f:.{6 if digits is None else digits}f}"
        if verb in "eE":
            return format(number_f, f".{6 if digits is None else digits}{verb}")
        return go_print(number_f) if digits is None else format(number_f, f".{digits}g")
    if verb == "t":
        return "true" if value is True else "false" if value is False else f"%!t({value})"
    if verb == "q":
        return json.dumps(go_print(value), ensure_ascii=False)
    if verb in "xX":
        if isinstance(value, int) and not isinstance(value, bool):
            return format(value, verb)
        text = go_print(value).encode().hex()
        return text.upper() if verb == "X" else text
    if verb == "c":
        number = to_int(value)
        return chr(number) if number is not None else f"%!c({value})"
    return f"%!{verb}({go_print(value)})"


def _join(items: Any, separator: Any) -> str:
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"join wants a list of strings, got {type(items).__name__}")
    if not isinstance(separator, str):
        raise ValueError("join wants a separator string as its second argument")
    return separator.join(go_print(i) for i in items)


def _split(text: Any, separator: Any) -> list[str]:
    if not isinstance(text, str) or not isinstance(separator, str):
        raise ValueError("split wants a string and a separator")
    if separator == "":
        return list(text)
    return text.split(separator)


def _string_fn(fn: Callable[[str], str], name: str) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} wants a string, got {type(value).__name__}")
        return fn(value)

    return apply


def _to_json(*args: Any) -> str:
    if len(args) != 1:
        raise ValueError("json requires a single value")
    return go_json(args[0])


def _str(value: Any) -> str:
    return go_print(value)


def _decimal(value: Any) -> float:
    number = to_float(value)
    return number if number is not None else 0.0


def _extract(collection: Any, key: Any) -> Any:
    name = key if isinstance(key, str) else go_print(key)
    if isinstance(collection, Mapping):
        return collection.get(name, MISSING)
    if isinstance(collection, (list, tuple)):
        if to_int(key) is not None and not isinstance(key, str):
            position = to_int(key)
            assert position is not None
            return collection[position] if 0 <= position < len(collection) else None
        return JsonList(
            item[name] for item in collection if isinstance(item, Mapping) and name in item
        )
    return None


def _list(*items: Any) -> JsonList:
    return JsonList(items)


def _append(*args: Any) -> JsonList:
    if not args:
        raise ValueError("append requires a list")
    head = args[0]
    base = list(head) if isinstance(head, (list, tuple)) else []
    return JsonList([*base, *args[1:]])


def _dict(*pairs: Any) -> JsonMap:
    if len(pairs) % 2:
        raise ValueError("dict requires an even number of arguments")
    return JsonMap((go_print(pairs[i]), pairs[i + 1]) for i in range(0, len(pairs), 2))


def _set(*args: Any) -> JsonMap:
    if len(args) != 3:
        raise ValueError("set requires a map, a key and a value")
    base = dict(args[0]) if isinstance(args[0], Mapping) else {}
    base[go_print(args[1])] = args[2]
    return JsonMap(base)


def _seq(*args: Any) -> JsonList:
    if len(args) != 1:
        raise ValueError("seq requires a count")
    count = to_int(args[0])
    if count is None or count <= 0:
        return JsonList()
    if count > _MAX_SEQ:
        raise ValueError(f"seq supports at most {_MAX_SEQ} indexes")
    return JsonList(range(count))


def _field_of(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else item


def _cmp_any(a: Any, b: Any) -> int:
    left, right = to_float(a), to_float(b)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    x, y = go_print(a), go_print(b)
    return (x > y) - (x < y)


_OPS: dict[str, Callable[[int], bool]] = {
    "eq": lambda r: r == 0,
    "ne": lambda r: r != 0,
    "gt": lambda r: r > 0,
    "gte": lambda r: r >= 0,
    "lt": lambda r: r < 0,
    "lte": lambda r: r <= 0,
}


def _where(*args: Any) -> JsonList:
    if len(args) != 4:
        raise ValueError("where requires a field, an operator, a value and a collection")
    name, op, wanted, items = go_print(args[0]), go_print(args[1]), args[2], args[3]
    keep = _OPS.get(op)
    if keep is None:
        raise ValueError("where supports eq, ne, gt, gte, lt and lte")
    rows = items if isinstance(items, (list, tuple)) else []
    return JsonList(item for item in rows if keep(_cmp_any(_field_of(item, name), wanted)))


def _page(*args: Any) -> JsonList:
    if len(args) != 3:
        raise ValueError("page requires an offset, a limit and a collection")
    rows = list(args[2]) if isinstance(args[2], (list, tuple)) else []
    offset = min(max(to_int(args[0]) or 0, 0), len(rows))
    limit = to_int(args[1]) or 0
    if limit <= 0:
        limit = len(rows)
    return JsonList(rows[offset : min(offset + limit, len(rows))])


def _count_by(*args: Any) -> JsonMap:
    if len(args) != 2:
        raise ValueError("countBy requires a field and a collection")
    name = go_print(args[0])
    counts: dict[str, int] = {}
    for item in args[1] if isinstance(args[1], (list, tuple)) else []:
        key = go_print(_field_of(item, name))
        counts[key] = counts.get(key, 0) + 1
    return JsonMap(counts)


# -- encoding and uuids --------------------------------------------------------------------


def _uuid_bytes(text: Any) -> bytes:
    try:
        return _uuid.UUID(str(text)).bytes
    except ValueError as exc:
        raise ValueError(f"invalid UUID {text!r}") from exc


def _uuid2int64(text: Any) -> str:
    raw = _uuid_bytes(text)
    high = int.from_bytes(raw[:8], "little", signed=True)
    low = int.from_bytes(raw[8:], "little", signed=True)
    return f'{{"high":{high},"low":{low}}}'


def _uuid2base64(text: Any) -> str:
    return base64.b64encode(_uuid_bytes(text)).decode()


def _string2base64(text: Any) -> str:
    return base64.b64encode(go_print(text).encode()).decode()


def _bytes2base64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else go_print(value).encode()
    return base64.b64encode(raw).decode()


def _bytes(text: Any) -> bytes:
    return go_print(text).encode()


# -- time and delays -----------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _unix(value: Any) -> int:
    if not isinstance(value, _dt.datetime):
        raise ValueError("unix wants a time (now, .RequestTime)")
    return int(value.timestamp())


def _format(value: Any, layout: Any) -> str:
    if isinstance(layout, _dt.datetime) and isinstance(value, str):
        value, layout = layout, value  # `now | format "2006-01-02"`: the time comes last
    if not isinstance(value, _dt.datetime) or not isinstance(layout, str):
        raise ValueError("format wants a time and a layout")
    return go_time_format(value, layout)


def _to_duration(value: Any) -> float | None:
    if isinstance(value, str):
        return parse_go_duration(value)
    number = to_float(value)
    return number / 1000.0 if number is not None else None  # a number means milliseconds


def _regressive(attempt: Any, start: Any, step: Any) -> str:
    n, first, by = to_float(attempt), _to_duration(start), _to_duration(step)
    if n is None or first is None or by is None:
        return "0s"
    return go_duration(max(0.0, first - max(0.0, n - 1) * by))


def _backoff(attempt: Any, base: Any, *limit: Any) -> str:
    n, first = to_float(attempt), _to_duration(base)
    if n is None or first is None:
        return "0s"
    value = first * 2 ** max(0.0, n - 1)
    if limit:
        capped = _to_duration(limit[0])
        if capped is None:
            return "0s"
        value = min(value, capped)
    return go_duration(value)


def _jitter(low: Any, high: Any) -> str:
    start, end = _to_duration(low), _to_duration(high)
    if start is None or end is None or end < start:
        return "0s"
    if end == start:
        return go_duration(start)
    return go_duration(start + random.random() * (end - start))


def _not(value: Any) -> bool:
    return not truth(value)


def _print(*args: Any) -> str:
    out = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_print(arg))
    return "".join(out)


def _println(*args: Any) -> str:
    return " ".join(go_print(a) for a in args) + "\n"


def _and(*args: Any) -> Any:  # short-circuiting happens in the evaluator
    result: Any = None
    for result in args:
        if not truth(result):
            return result
    return result


def _or(*args: Any) -> Any:
    result: Any = None
    for result in args:
        if truth(result):
            return result
    return result


def base_functions() -> dict[str, Callable[..., Any]]:
    """Every function but ``faker`` (added per session, when a stub uses it)."""
    funcs: dict[str, Callable[..., Any]] = {
        # Go's builtins
        "and": _and,
        "or": _or,
        "not": _not,
        "len": _length,
        "index": _index,
        "slice": _slice,
        "print": _print,
        "printf": _sprintf,
        "println": _println,
        "ne": _ne,
        "le": _compare(lambda a, b: a <= b),
        "ge": _compare(lambda a, b: a >= b),
        "html": lambda v: html.escape(go_print(v)),
        "js": lambda v: json.dumps(go_print(v))[1:-1],
        "urlquery": lambda *v: urllib.parse.quote_plus(_print(*v)),
        # GripMock: strings, json, format, numbers
        "upper": _string_fn(str.upper, "upper"),
        "lower": _string_fn(str.lower, "lower"),
        "title": _string_fn(str.upper, "title"),  # Go's strings.ToTitle upper-cases
        "join": _join,
        "split": _split,
        "json": _to_json,
        "toJson": _to_json,
        "sprintf": _sprintf,
        "str": _str,
        "int": lambda v: int(to_float(v) or 0),
        "int64": lambda v: int(to_float(v) or 0),
        "float": lambda v: to_float(v) or 0.0,
        "decimal": _decimal,
        # collections and queries
        "extract": _extract,
        "list": _list,
        "append": _append,
        "dict": _dict,
        "set": _set,
        "seq": _seq,
        "where": _where,
        "page": _page,
        "countBy": _count_by,
        # comparisons (numbers)
        "eq": _eq,
        "gt": _compare(lambda a, b: a > b),
        "lt": _compare(lambda a, b: a < b),
        "gte": _compare(lambda a, b: a >= b),
        "lte": _compare(lambda a, b: a <= b),
        # math
        "round": _unary(_round),
        "floor": _unary(math.floor),
        "ceil": _unary(math.ceil),
        "add": _add,
        "sub": _sub,
        "div": _div,
        "mod": _mod,
        "sum": _add,
        "mul": _mul,
        "avg": _avg,
        "min": _min,
        "max": _max,
        # time, uuids, encodings, delays
        "now": _now,
        "unix": _unix,
        "format": _format,
        "uuid": lambda: str(_uuid.uuid4()),
        "bytes": _bytes,
        "string2base64": _string2base64,
        "bytes2base64": _bytes2base64,
        "uuid2base64": _uuid2base64,
        "uuid2bytes": _uuid_bytes,
        "uuid2int64": _uuid2int64,
        "regressive": _regressive,
        "backoff": _backoff,
        "jitter": _jitter,
    }
    return funcs
