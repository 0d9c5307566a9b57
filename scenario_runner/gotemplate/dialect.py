"""Which strings are written in GripMock's Go dialect, told without parsing them: Go's
keywords and the names of GripMock's functions (the functions themselves are in
``functions``, imported only by a suite that renders a Go template)."""

from __future__ import annotations

import re

__all__ = ["FUNCTION_NAMES", "KEYWORDS", "LOAD_TIME", "is_go_template"]

KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)

# The names ``functions.base_functions()`` defines (a test keeps the two the same), and
# ``faker``, added per session.
FUNCTION_NAMES = frozenset(
    {
        *("and", "or", "not", "len", "index", "slice", "print", "printf", "println"),
        *("html", "js", "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "lte", "gte"),
        *("add", "sub", "mul", "div", "mod", "avg", "min", "max", "sum", "round"),
        *("ceil", "floor", "int", "int64", "float", "decimal", "str", "format"),
        *("upper", "lower", "title", "split", "join", "sprintf", "toJson", "json"),
        *("list", "dict", "set", "append", "seq", "where", "extract", "countBy", "page"),
        *("now", "unix", "uuid", "uuid2int64", "uuid2base64", "uuid2bytes", "bytes"),
        *("string2base64", "bytes2base64", "backoff", "jitter", "regressive"),
        "faker",
    }
)

# Functions GripMock renders when it loads a stub file (before the YAML is parsed).
LOAD_TIME = frozenset(
    {"uuid2int64", "uuid2base64", "uuid2bytes", "string2base64", "bytes2base64", "bytes", "uuid"}
)

_FIRST_ACTION = re.compile(r"\{\{-?\s*(?P<head>[.$(]|[A-Za-z_][A-Za-z0-9_]*)(?P<after>\(?)")


def is_go_template(text: str) -> bool:
    """Whether a string is written in GripMock's Go dialect rather than Jinja2."""
    if "{{" not in text or "{%" in text:
        return False
    match = _FIRST_ACTION.search(text)
    if match is None:
        return False
    head = match.group("head")
    if head in (".", "$", "("):
        return True
    if head in KEYWORDS or head in ("true", "false", "nil"):
        return True
    return head in FUNCTION_NAMES and not match.group("after").endswith("(")
