"""A parsed Go template, and the cache that parses each text once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from .dialect import FUNCTION_NAMES
from .errors import GoTemplateSyntaxError
from .execute import execute
from .fakes import FakerRoot
from .functions import base_functions
from .parse import Action, Branch, Chain, Command, Identifier, Node, Pipeline, parse

__all__ = ["GoTemplate", "compile_template"]

_FUNCTIONS = base_functions()


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

    def pipeline(pipe: Pipeline) -> None:
        for command in pipe.commands:
            commands(command)

    def commands(command: Command) -> None:
        for arg in command.args:
            if isinstance(arg, Identifier) and arg.name not in FUNCTION_NAMES:
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
