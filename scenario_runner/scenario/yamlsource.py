"""YAML documents that remember where every node came from.

The C parser composes a node tree; we build plain Python values from it while recording
``(line, column)`` for every document path, so that any later error (schema, semantics,
templates, failed expectations) can point at ``file:line:column`` and show the lines.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from ..errors import Location, ScenarioFileError

PathKey = tuple[str | int, ...]

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


def format_path(path: Sequence[str | int]) -> str:
    """``("steps", 2, "expect", "status")`` → ``steps[2].expect.status``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SourceDocument:
    """One YAML document of a file, with the position of each of its nodes."""

    file: str
    index: int
    value: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    lines: Sequence[str] = ()
    # Where the key of each mapping entry is written (``marks`` has where its value starts,
    # which for a nested block is the line below).
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of the deepest known node on ``path`` (``key``: of the key that
        names it, for a problem with the entry rather than its value)."""
        wanted = tuple(path)
        if key and wanted in self.key_marks:
            return self.key_marks[wanted]
        while wanted not in self.marks and wanted:
            wanted = wanted[:-1]
        return self.marks.get(wanted, (1, 1))

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Location:
        line, column = self.position(path, key=key)
        return Location(self.file, line, column)

    def snippet(self, path: Sequence[str | int], context: int = 2, *, key: bool = False) -> str:
        line, column = self.position(path, key=key)
        return render_snippet(self.lines, line, column, context)

    def error(
        self,
        message: str,
        path: Sequence[str | int],
        cls: type[ScenarioFileError] = ScenarioFileError,
        *,
        key: bool = False,
    ) -> ScenarioFileError:
        """An error at ``path``: at its value, or (``key``) at the key that names it."""
        return cls(
            message,
            location=self.locate(path, key=key),
            path=format_path(path) or None,
            snippet=self.snippet(path, key=key),
        )


def render_snippet(lines: Sequence[str], line: int, column: int, context: int = 2) -> str:
    """The lines around ``line`` with a caret under ``column`` (as Tavern shows schema errors)."""
    if not lines:
        return ""
    first = max(1, line - context)
    last = min(len(lines), line + context)
    width = len(str(last))
    out = []
    for number in range(first, last + 1):
        marker = ">" if number == line else " "
        out.append(f"  {marker} {number:>{width}} | {lines[number - 1]}")
        if number == line:
            out.append(f"    {' ' * width} | {' ' * (column - 1)}^")
    return "\n".join(out)


class DocumentCache:
    """Parsed documents by the hash of the text they come from, one small file each in a
    folder: a run of files unchanged since the last one does not parse them again.

    Only what parsing gives is kept (values and positions, in ``marshal`` form: plain
    values only); checking them against the schema and the protos happens on every run.
    An entry that cannot be read is parsed again (and rewritten)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, text: str, first_index: int) -> Path:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(_CACHE_FORMAT.encode())
        digest.update(first_index.to_bytes(8, "little"))
        digest.update(text.encode("utf-8", "surrogatepass"))
        return self.folder / f"{digest.hexdigest()}.marshal"

    def get(self, text: str, first_index: int) -> list[_Cached] | None:
        try:
            data = self._path(text, first_index).read_bytes()
            found = marshal.loads(data)
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if not isinstance(found, list):
            return None
        return found

    def put(self, text: str, first_index: int, documents: Sequence[SourceDocument]) -> None:
        entries = [(d.index, d.value, d.marks, d.key_marks) for d in documents]
        try:
            data = marshal.dumps(entries)
        except ValueError:  # a value marshal cannot hold: parse this file every time
            return
        path = self._path(text, first_index)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError:
            return  # a read-only or full disk: the cache is only a shortcut


# Part of every cache key: what changes the documents a text parses to.
_CACHE_FORMAT = f"1 yaml={yaml.__version__} python={sys.version_info[:2]}"
_Cached = tuple[int, Any, dict[PathKey, tuple[int, int]], dict[PathKey, tuple[int, int]]]


def load_documents(
    text: str,
    file: str,
    *,
    lines: Sequence[str] | None = None,
    first_index: int = 0,
    cache: DocumentCache | None = None,
) -> list[SourceDocument]:
    """Every document of a YAML stream; ``ScenarioFileError`` on a syntax error.

    ``lines`` (the whole file's, when ``text`` is a piece of it) and ``first_index`` (the
    index of the piece's first document) make a piece's documents the file's own. With a
    ``cache``, documents parsed before come from it."""
    if lines is None:
        lines = text.splitlines()
    if cache is not None:
        cached = cache.get(text, first_index)
        if cached is not None:
            return [
                SourceDocument(file, index, value, marks, lines, key_marks)
                for index, value, marks, key_marks in cached
            ]
        parsed = load_documents(text, file, lines=lines, first_index=first_index)
        cache.put(text, first_index, parsed)
        return parsed
    documents: list[SourceDocument] = []
    loader = _Loader(text)
    try:
        index = first_index
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = SourceDocument(file=file, index=index, value=None, lines=lines)
            doc.value = _build(loader, node, (), doc.marks, doc.key_marks)
            documents.append(doc)
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ScenarioFileError(
            f"invalid YAML: {problem}",
            location=Location(file, line, column),
            snippet=render_snippet(lines, line, column),
        ) from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"invalid YAML: {exc}", location=Location(file)) from exc
    finally:
        loader.dispose()
    return documents


def _build(
    loader: _Loader,
    node: yaml.Node,
    path: PathKey,
    marks: dict[PathKey, tuple[int, int]],
    key_marks: dict[PathKey, tuple[int, int]],
) -> Any:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # A safe loader builds plain maps and lists only: no !!python/…, !!set or custom tags.
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported YAML tag {node.tag!r}", node.start_mark
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
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            # Paths keep the key as written (a number stays a number), as later lookups do.
            entry = (*path, cast("str | int", key))
            start = key_node.start_mark
            key_marks[entry] = (start.line + 1, start.column + 1)
            result[key] = _build(loader, value_node, entry, marks, key_marks)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), marks, key_marks) for i, item in enumerate(node.value)
        ]
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag == _TIMESTAMP_TAG:
        return str(node.value)  # keep dates as written: they are strings in protobuf JSON
    construct = loader.yaml_constructors.get(tag)
    if construct is None:
        return loader.construct_object(node, deep=True)  # unknown tag: PyYAML's own error
    return construct(loader, node)
