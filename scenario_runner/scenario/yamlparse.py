"""Parsing YAML into ``SourceDocument``s: PyYAML's C loader, every node's position kept.

Imported by the first text a process parses: a run whose files all come from the document
cache never imports PyYAML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

import yaml

from ..errors import Location, ScenarioFileError
from .yamlsource import (
    MAX_ALIAS_VALUES,
    MAX_DEPTH,
    Mark,
    PathKey,
    SourceDocument,
    render_marks,
)

try:
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - libyaml missing
    _BaseLoader = yaml.SafeLoader

# The tag of each plain scalar seen so far: resolving one runs a chain of regular
# expressions, and scenario files repeat the same keys and values over and over.
_PLAIN_SCALAR_TAGS: dict[str, str] = {}
_PLAIN_SCALARS_KEPT = 50_000


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The C loader, with plain scalars' tags remembered and no path resolvers (unused)."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _PLAIN_SCALAR_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_SCALAR_TAGS) < _PLAIN_SCALARS_KEPT:
                    _PLAIN_SCALAR_TAGS[value] = tag
            return tag
        return str(super().resolve(kind, value, implicit))

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _OwnProblem(yaml.MarkedYAMLError):
    """A document beyond :data:`MAX_DEPTH` or :data:`MAX_ALIAS_VALUES`, or a duplicate key:
    the message is ours, and ``extra_marks`` are shown besides the problem's."""

    extra_marks: list[Mark] = []


_ALIAS = re.compile(r"\*([^\s,\[\]{}]+)")


def parse(text: str, file: str, lines: Sequence[str], first_index: int) -> list[SourceDocument]:
    """Every document of a YAML stream (``load_documents`` without its cache)."""
    documents: list[SourceDocument] = []
    loader = _Loader(text)
    # values built so far, and how many the document may hold (its text's length bounds what
    # it can hold without aliases)
    budget = [0, len(text) + MAX_ALIAS_VALUES]
    try:
        index = first_index
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = SourceDocument(file=file, index=index, value=None, lines=lines, scanned=True)
            budget[0] = 0
            doc.value = _build(loader, node, (), doc, budget)
            documents.append(doc)
            index += 1
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, file, lines) from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"invalid YAML: {exc}", location=Location(file)) from exc
    finally:
        loader.dispose()
    return documents


def _yaml_error(exc: yaml.MarkedYAMLError, file: str, lines: Sequence[str]) -> ScenarioFileError:
    """PyYAML's problem and, when it gives one, its context ("while parsing a flow mapping"
    and where that started): both in the message, both marked in the lines shown."""
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    at = problem_mark or context_mark
    line, column = (at.line + 1, at.column + 1) if at else (1, 1)
    problem = exc.problem or "invalid YAML"
    if problem == "found undefined alias" and 0 < line <= len(lines):
        name = _ALIAS.match(lines[line - 1], column - 1)
        problem += (
            f" {name.group(1)!r} (an alias names an anchor, &name, written before it)"
            if name
            else ""
        )
    marks: list[Mark] = [(line, column, problem if exc.context else "")]
    message = problem
    if exc.context:
        message = f"{problem} {exc.context}"
        if context_mark is not None and context_mark is not at:
            start = (context_mark.line + 1, context_mark.column + 1)
            if start != (line, column):
                message += f" that started at line {start[0]}, column {start[1]}"
                marks.append(
                    (
                        *start,
                        exc.context.removeprefix("while ")
                        .replace("parsing ", "")
                        .replace("scanning ", "")
                        + " started here",
                    )
                )
    prefix = "invalid YAML: "
    if isinstance(exc, _OwnProblem):
        prefix = ""
        marks.extend(exc.extra_marks)
    return ScenarioFileError(
        f"{prefix}{message}",
        location=Location(file, line, column),
        snippet=render_marks(lines, marks),
    )


def _build(
    loader: _Loader,
    node: yaml.Node,
    path: PathKey,
    doc: SourceDocument,
    budget: list[int],
) -> Any:
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.ScalarNode):  # most nodes: first
        tag = node.tag
        if tag == _STR_TAG:
            if "{" in node.value:
                doc.braced.append((path, node.value))
            return node.value
        if tag == _TIMESTAMP_TAG:
            return str(node.value)  # keep dates as written: they are strings in protobuf JSON
        construct = loader.yaml_constructors.get(tag)
        if construct is None:
            return loader.construct_object(node, deep=True)  # unknown tag: PyYAML's own error
        return construct(loader, node)
    if node.tag not in _PLAIN_TAGS:
        # A safe loader builds plain maps and lists only: no !!python/…, !!set or custom tags.
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported YAML tag {node.tag!r}", node.start_mark
        )
    if len(path) >= MAX_DEPTH:
        raise _OwnProblem(
            None,
            None,
            f"nested deeper than {MAX_DEPTH} levels (the limit for a scenario or stub "
            "file; aliases that refer to themselves nest without end)",
            node.start_mark,
        )
    budget[0] += len(node.value)
    if budget[0] > budget[1]:
        raise _OwnProblem(
            None,
            None,
            f"aliases expand this document beyond {MAX_ALIAS_VALUES} values more than "
            'its text holds (a "billion laughs" document?); write the values out',
            node.start_mark,
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (
                key_node.value
                if key_node.tag == _STR_TAG and isinstance(key_node, yaml.ScalarNode)
                else loader.construct_object(key_node, deep=True)
            )
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain scalar", key_node.start_mark
                )
            # Paths keep the key as written (a number stays a number), as later lookups do.
            entry = (*path, cast("str | int", key))
            start = key_node.start_mark
            if key in result:
                first = doc.key_marks[entry]
                duplicate = _OwnProblem(
                    None,
                    None,
                    f"invalid YAML: duplicate key {key!r} (first written at line {first[0]}, "
                    f"column {first[1]})",
                    start,
                )
                duplicate.extra_marks = [(*first, "first written here")]
                raise duplicate
            doc.key_marks[entry] = (start.line + 1, start.column + 1)
            result[key] = _build(loader, value_node, entry, doc, budget)
        return result
    return [_build(loader, item, (*path, i), doc, budget) for i, item in enumerate(node.value)]
