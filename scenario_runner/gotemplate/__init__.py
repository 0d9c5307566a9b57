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

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from .execute import GoTemplateError, execute
from .fakes import FakerRoot
from .functions import LOAD_TIME, base_functions
from .names import STUB_DOT_FIELDS, name_problems
from .parse import KEYWORDS, GoTemplateSyntaxError, Node, parse
from .values import MISSING, JsonList, JsonMap, go_json, go_print

__all__ = [
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

_FUNCTIONS = base_functions()
_NAMES = frozenset(_FUNCTIONS) | {"faker"}
_FIRST_ACTION = re.compile(r"\{\{-?\s*(?P<head>[.$(]|[A-Za-z_][A-Za-z0-9_]*)(?P<after>\(?)")


def function_names() -> frozenset[str]:
    return _NAMES


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
    return head in _NAMES and not match.group("after").endswith("(")


class GoTemplate:
    """A parsed Go template, ready to render any number of times."""

    __slots__ = ("nodes", "text", "uses_faker")

    def __init__(self, text: str, nodes: list[Node]) -> None:
        self.text = text
        self.nodes = nodes
        self.uses_faker = "faker" in text

    def render(
        self,
        data: Any,
        faker: FakerRoot | None = None,
        extra: Mapping[str, Callable[..., Any]] | None = None,
    ) -> str:
        funcs: Mapping[str, Callable[..., Any]] = _FUNCTIONS
        if faker is not None or extra:
            merged = dict(_FUNCTIONS)
            if faker is not None:
                merged["faker"] = lambda: faker
            merged.update(extra or {})
            funcs = merged
        elif self.uses_faker:
            root = FakerRoot()
            funcs = {**_FUNCTIONS, "faker": lambda: root}
        return execute(self.nodes, data, funcs)


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> GoTemplate:
    """Parse ``text`` (cached); ``GoTemplateSyntaxError`` names what is wrong."""
    nodes = parse(text)
    _check_names(nodes)
    return GoTemplate(text, nodes)


def _check_names(nodes: list[Node]) -> None:
    """Unknown functions are errors at parse time, as Go's parser reports them."""
    from .parse import Action, Branch, Chain, Command, Identifier, Pipeline

    def pipeline(pipe: Pipeline) -> None:
        for command in pipe.commands:
            commands(command)

    def commands(command: Command) -> None:
        for arg in command.args:
            if isinstance(arg, Identifier) and arg.name not in _NAMES:
                raise GoTemplateSyntaxError(f'function "{arg.name}" not defined')
            if isinstance(arg, Pipeline):
                pipeline(arg)
            if isinstance(arg, Chain):
                pipeline(arg.node)

    def walk(items: list[Node]) -> None:
        for node in items:
            if isinstance(node, Action):
                pipeline(node.pipe)
            elif isinstance(node, Branch):
                pipeline(node.pipe)
                walk(node.body)
                walk(node.other)

    walk(nodes)
