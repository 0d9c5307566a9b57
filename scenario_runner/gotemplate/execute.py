"""Evaluate a parsed Go template against plain data. Pure and sandboxed.

A template reads mapping keys (``.Request.name``), list items through ``index``, and the
members a :class:`~.values.GoObject` exports; it calls only the functions it is given. It
cannot reach any other Python attribute, and it cannot change the values it is given
(functions build new values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from .errors import GoTemplateError
from .parse import (
    Action,
    Branch,
    Chain,
    Command,
    Dot,
    Field,
    Identifier,
    Literal,
    Loop,
    Node,
    Operand,
    Pipeline,
    Text,
    Variable,
)
from .values import MISSING, GoObject, go_print, truth

__all__ = ["GoTemplateError", "execute"]

Functions = Mapping[str, Callable[..., Any]]
_MAX_OUTPUT = 8 * 1024 * 1024  # characters: a runaway `range` stops here
_MAX_STEPS = 1_000_000


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    __slots__ = ("funcs", "out", "size", "steps", "vars")

    def __init__(self, funcs: Functions, root: Any) -> None:
        self.funcs = funcs
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > _MAX_OUTPUT:
            raise GoTemplateError(f"output larger than {_MAX_OUTPUT} characters")
        self.out.append(text)

    def lookup(self, name: str) -> Any:
        for key, value in reversed(self.vars):
            if key == name:
                return value
        raise GoTemplateError(f"undefined variable: {name}")

    def assign(self, name: str, value: Any) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        raise GoTemplateError(f"undefined variable: {name}")


def execute(nodes: Sequence[Node], data: Any, funcs: Functions) -> str:
    """Render ``nodes`` with ``data`` as the dot; ``GoTemplateError`` on failure."""
    state = _State(funcs, data)
    try:
        _walk(nodes, data, state)
    except (_Break, _Continue) as exc:
        raise GoTemplateError("{{break}} or {{continue}} outside {{range}}") from exc
    except RecursionError as exc:
        raise GoTemplateError("the template nests too deeply to run") from exc
    return "".join(state.out)


def _walk(nodes: Sequence[Node], dot: Any, state: _State) -> None:
    for node in nodes:
        state.steps += 1
        if state.steps > _MAX_STEPS:
            raise GoTemplateError(f"more than {_MAX_STEPS} steps: the template does not end")
        if isinstance(node, Text):
            state.write(node.text)
        elif isinstance(node, Action):
            value = _pipeline(node.pipe, dot, state)
            if not node.pipe.declare:
                state.write(go_print(value))
        elif isinstance(node, Branch):
            _branch(node, dot, state)
        elif isinstance(node, Loop):
            raise _Break() if node.kind == "break" else _Continue()


def _branch(node: Branch, dot: Any, state: _State) -> None:
    mark = len(state.vars)
    try:
        if node.kind == "range":
            _range(node, dot, state)
            return
        value = _pipeline(node.pipe, dot, state)
        if truth(value):
            _walk(node.body, value if node.kind == "with" else dot, state)
        else:
            _walk(node.other, dot, state)
    finally:
        del state.vars[mark:]


def _range(node: Branch, dot: Any, state: _State) -> None:
    pipe = node.pipe
    declare = pipe.declare
    value = _pipeline(Pipeline(pipe.commands), dot, state)
    items: list[tuple[Any, Any]]
    if value is None or value is MISSING:
        items = []
    elif isinstance(value, Mapping):
        items = [(k, value[k]) for k in sorted(value, key=str)]
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [(i, i) for i in range(max(0, value))]
    else:
        raise GoTemplateError(f"range can't iterate over {go_print(value)}")
    if not items:
        _walk(node.other, dot, state)
        return
    mark = len(state.vars)
    for key, item in items:
        del state.vars[mark:]
        if len(declare) == 2:
            state.vars += [(declare[0], key), (declare[1], item)]
        elif declare:
            state.vars.append((declare[0], item))
        try:
            _walk(node.body, item, state)
        except _Break:
            break
        except _Continue:
            continue


def _pipeline(pipe: Pipeline, dot: Any, state: _State) -> Any:
    value: Any = MISSING
    for position, command in enumerate(pipe.commands):
        final = (value,) if position else ()
        value = _command(command, dot, state, final)
    if pipe.declare:
        name = pipe.declare[-1]
        if pipe.assign:
            state.assign(name, value)
        else:
            state.vars.append((name, value))
    return value


def _command(command: Command, dot: Any, state: _State, final: tuple[Any, ...]) -> Any:
    head, *rest = command.args
    if isinstance(head, Identifier):
        function = state.funcs.get(head.name)
        if function is None:
            raise GoTemplateError(f'function "{head.name}" not defined')
        args = [_operand(arg, dot, state) for arg in rest]
        if head.names:
            # `faker.Person.FirstName 3`: call the function, walk the chain, call the last member.
            value = _call(head.name, function, [])
            return _chain(value, head.names, [*args, *final], head.name)
        if head.name in ("and", "or"):
            return _and_or(head.name, [*rest], dot, state, final)
        return _call(head.name, function, [*args, *final])
    if rest or final:
        if isinstance(head, (Field, Variable, Chain)) and (rest or final):
            args = [_operand(arg, dot, state) for arg in rest] + list(final)
            return _operand(head, dot, state, args)
        raise GoTemplateError(f"can't give argument to non-function {_describe(head)}")
    return _operand(head, dot, state)


def _and_or(name: str, args: list[Operand], dot: Any, state: _State, final: tuple[Any, ...]) -> Any:
    values: list[Callable[[], Any]] = [partial(_operand, a, dot, state) for a in args]
    values += [partial(_identity, f) for f in final]
    if not values:
        raise GoTemplateError(f"wrong number of args for {name}: want at least 1 got 0")
    result: Any = None
    for get in values:
        result = get()
        if truth(result) == (name == "or"):
            return result
    return result


def _identity(value: Any) -> Any:
    return value


def _call(name: str, function: Callable[..., Any], args: list[Any]) -> Any:
    args = [None if a is MISSING else a for a in args]
    try:
        return function(*args)
    except GoTemplateError:
        raise
    except TypeError as exc:
        raise GoTemplateError(f"error calling {name}: {exc}") from exc
    except (ValueError, LookupError, ArithmeticError, OverflowError) as exc:
        raise GoTemplateError(f"error calling {name}: {exc}") from exc


def _operand(node: Operand, dot: Any, state: _State, args: list[Any] | None = None) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Dot):
        return dot
    if isinstance(node, Field):
        return _chain(dot, node.names, args, "." + ".".join(node.names))
    if isinstance(node, Variable):
        base = state.lookup(node.name)
        return _chain(base, node.names, args, node.name) if node.names else base
    if isinstance(node, Chain):
        return _chain(_pipeline(node.node, dot, state), node.names, args, "(…)")
    if isinstance(node, Pipeline):
        mark = len(state.vars)
        try:
            return _pipeline(node, dot, state)
        finally:
            del state.vars[mark:]
    if isinstance(node, Identifier):
        function = state.funcs.get(node.name)
        if function is None:
            raise GoTemplateError(f'function "{node.name}" not defined')
        value = _call(node.name, function, [])
        return _chain(value, node.names, args, node.name) if node.names else value
    raise GoTemplateError(f"unexpected operand {node!r}")


def _chain(value: Any, names: Sequence[str], args: list[Any] | None, where: str) -> Any:
    for position, name in enumerate(names):
        last = position == len(names) - 1
        value = _member(value, name, where)
        if callable(value):
            value = _call(name, value, list(args or []) if last else [])
        elif last and args:
            raise GoTemplateError(f"{name} is not a method but has arguments")
    return value


def _member(value: Any, name: str, where: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if isinstance(value, GoObject):
        try:
            return value.member(name)
        except LookupError as exc:
            raise GoTemplateError(str(exc)) from exc
    if value is MISSING or value is None:
        return MISSING  # Go: a field of a missing map value is missing too
    raise GoTemplateError(f"can't evaluate field {name} in {where}: not a mapping")


def _describe(node: Operand) -> str:
    if isinstance(node, Literal):
        return repr(node.value)
    return type(node).__name__.lower()
