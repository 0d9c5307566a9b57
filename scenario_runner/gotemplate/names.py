"""Names a parsed Go template uses that cannot exist when it runs. Pure.

Go's own parser refuses a variable that was never declared (``undefined variable "$x"``);
GripMock's template data is a Go struct, so a field of the dot that it lacks
(``{{.Reqest.name}}``) fails as soon as the template runs. Both are known before it runs.
"""

from __future__ import annotations

import difflib

from .parse import Action, Branch, Chain, Command, Field, Node, Pipeline, Variable

__all__ = ["STUB_DOT_FIELDS", "name_problems"]

STUB_DOT_FIELDS = frozenset(
    {
        "Request",
        "Requests",
        "Headers",
        "MessageIndex",
        "RequestTime",
        "Timestamp",
        "State",
        "AttemptNumber",
        "AttemptIndex",
        "MaxAttempts",
        "TotalAttempts",
        "StubID",
        "RequestID",
    }
)
"""The fields of the dot a stub output template sees (GripMock's ``template.Data``)."""


def name_problems(nodes: list[Node], dot_fields: frozenset[str] = STUB_DOT_FIELDS) -> list[str]:
    """Every undefined variable, and every field of the top-level dot not in ``dot_fields``."""
    problems: list[str] = []
    try:
        _walk(nodes, {"$"}, True, dot_fields, problems)
    except RecursionError:
        problems.append("the template nests too deeply")
    return list(dict.fromkeys(problems))


def _walk(
    nodes: list[Node], scope: set[str], at_root: bool, fields: frozenset[str], out: list[str]
) -> None:
    for node in nodes:
        if isinstance(node, Action):
            _pipeline(node.pipe, scope, at_root, fields, out)
        elif isinstance(node, Branch):
            inner = set(scope)  # what the branch declares ends with its {{end}}
            _pipeline(node.pipe, inner, at_root, fields, out)
            # `with` and `range` move the dot; `if` keeps it. Their {{else}} keeps it.
            _walk(node.body, inner, at_root and node.kind == "if", fields, out)
            _walk(node.other, inner, at_root, fields, out)


def _pipeline(
    pipe: Pipeline, scope: set[str], at_root: bool, fields: frozenset[str], out: list[str]
) -> None:
    for command in pipe.commands:
        _command(command, scope, at_root, fields, out)
    for name in pipe.declare:
        if pipe.assign and name not in scope:
            out.append(f'undefined variable "{name}"')
        scope.add(name)


def _command(
    command: Command, scope: set[str], at_root: bool, fields: frozenset[str], out: list[str]
) -> None:
    for arg in command.args:
        if isinstance(arg, Field):
            if at_root:
                _root_field(arg.names[0], fields, out)
        elif isinstance(arg, Variable):
            if arg.name not in scope:
                out.append(f'undefined variable "{arg.name}"')
            elif arg.name == "$" and arg.names:
                _root_field(arg.names[0], fields, out)
        elif isinstance(arg, Pipeline):
            _pipeline(arg, scope, at_root, fields, out)
        elif isinstance(arg, Chain):
            _pipeline(arg.node, scope, at_root, fields, out)


def _root_field(name: str, fields: frozenset[str], out: list[str]) -> None:
    if name in fields:
        return
    close = difflib.get_close_matches(name, sorted(fields), n=1)
    hint = f"; did you mean .{close[0]}?" if close else ""
    known = ", ".join(f".{f}" for f in sorted(fields))
    out.append(f"can't evaluate field {name}{hint} (a stub template's dot has {known})")
