"""GripMock's template dialect: Go ``text/template`` with GripMock's functions. Pure.

A stub value is a Go template when its first action starts with ``.``, ``$``, ``(``, a Go
keyword (``if``, ``range``, ``with``, …) or the name of one of GripMock's functions not
directly followed by ``(`` (``{{ uuid }}`` and ``{{ avg (list 1 2) }}`` are Go,
``{{ uuid() }}`` is Jinja). Anything else with
``{{`` is a Jinja2 template. See :func:`is_go_template`.

``compile_template(text)`` parses once (``GoTemplateSyntaxError``), ``render(data)`` runs
it with the functions; data is plain JSON-like values plus the objects this package
defines (faker, times).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .dialect import FUNCTION_NAMES, KEYWORDS, LOAD_TIME, is_go_template
from .errors import GoTemplateError, GoTemplateSyntaxError

if TYPE_CHECKING:
    from .fakes import FakerRoot
    from .names import STUB_DOT_FIELDS, name_problems
    from .template import GoTemplate, compile_template
    from .values import MISSING, JsonList, JsonMap, go_json, go_print

__all__ = [
    "FUNCTION_NAMES",
    "KEYWORDS",
    "LOAD_TIME",
    "MISSING",
    "STUB_DOT_FIELDS",
    "FakerRoot",
    "GoTemplate",
    "GoTemplateError",
    "GoTemplateSyntaxError",
    "JsonList",
    "JsonMap",
    "compile_template",
    "function_names",
    "go_json",
    "go_print",
    "is_go_template",
    "name_problems",
]

# The parser, the functions and the fakes are imported by the first use of one of these
# (a suite without Go templates never imports them).
_LAZY = {
    "FakerRoot": "fakes",
    "STUB_DOT_FIELDS": "names",
    "name_problems": "names",
    "GoTemplate": "template",
    "compile_template": "template",
    "MISSING": "values",
    "JsonList": "values",
    "JsonMap": "values",
    "go_json": "values",
    "go_print": "values",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def function_names() -> frozenset[str]:
    return FUNCTION_NAMES
