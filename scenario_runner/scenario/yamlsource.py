"""YAML documents that remember where every node came from.

The C parser composes a node tree; we build plain Python values from it while recording
``(line, column)`` for every document path, so that any later error (schema, semantics,
templates, failed expectations) can point at ``file:line:column`` and show the lines. The
parsing itself is in ``yamlparse``, imported by the first text that is not in the
document cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import marshal
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cachefiles import prune
from ..errors import Location, ScenarioFileError

PathKey = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("steps", 2, "expect", "status")`` → ``steps[2].expect.status``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


SHALLOW_DEPTH = 2
"""Positions of paths this long or shorter are loaded with a document from the cache; the
others (and the keys') are unpacked when one is first asked for. A run where all goes well
asks for those of scenarios (``()``, ``name``) and of their stubs (``stubs[i]``) only."""


class SourceDocument:
    """One YAML document of a file, with the position of each of its nodes."""

    __slots__ = (
        "_keys",
        "_marks",
        "_packed",
        "braced",
        "file",
        "index",
        "lines",
        "scanned",
        "value",
    )

    def __init__(
        self,
        file: str,
        index: int,
        value: Any,
        marks: dict[PathKey, tuple[int, int]] | None = None,
        lines: Sequence[str] = (),
        key_marks: dict[PathKey, tuple[int, int]] | None = None,
        braced: list[tuple[PathKey, str]] | None = None,
        *,
        scanned: bool = False,
        packed: bytes | None = None,
    ) -> None:
        self.file = file
        self.index = index
        self.value = value
        self.lines = lines
        # Every string value holding a "{" (a template, perhaps), with its path: template
        # checks look at these instead of walking the whole document.
        self.braced: list[tuple[PathKey, str]] = [] if braced is None else braced
        # Whether ``braced`` is known to list every such string (a document parsed from
        # text); a document made of a value (the SDK's, an admin API body) is walked instead.
        self.scanned = scanned
        self._marks = {} if marks is None else marks
        self._keys = {} if key_marks is None else key_marks
        # ``marshal`` of the positions beyond ``SHALLOW_DEPTH`` and of the keys, not yet
        # unpacked (a document from the cache), or None.
        self._packed = packed

    @property
    def marks(self) -> dict[PathKey, tuple[int, int]]:
        """Where the value of each path starts."""
        if self._packed is not None:
            self._unpack()
        return self._marks

    @property
    def key_marks(self) -> dict[PathKey, tuple[int, int]]:
        """Where the key of each mapping entry is written (``marks`` has where its value
        starts, which for a nested block is the line below)."""
        if self._packed is not None:
            self._unpack()
        return self._keys

    def pack(self) -> tuple[dict[PathKey, tuple[int, int]], bytes]:
        """The positions of shallow paths, and the others packed (for the cache)."""
        marks = self.marks
        shallow = {path: mark for path, mark in marks.items() if len(path) <= SHALLOW_DEPTH}
        deep = {path: mark for path, mark in marks.items() if len(path) > SHALLOW_DEPTH}
        return shallow, marshal.dumps((deep, self.key_marks))

    def _unpack(self) -> None:
        packed, self._packed = self._packed, None
        assert packed is not None
        try:
            deep, keys = marshal.loads(packed)
            self._marks.update(deep)
            self._keys = dict(keys)
        except (EOFError, ValueError, TypeError):
            pass  # a damaged cache entry: positions fall back on the shallow ones

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of the deepest known node on ``path`` (``key``: of the key that
        names it, for a problem with the entry rather than its value)."""
        wanted = tuple(path)
        if self._packed is not None and (key or len(wanted) > SHALLOW_DEPTH):
            self._unpack()
        if key and wanted in self._keys:
            return self._keys[wanted]
        marks = self._marks
        while wanted not in marks and wanted:
            wanted = wanted[:-1]
        return marks.get(wanted, (1, 1))

    def braced_under(self, path: PathKey) -> list[tuple[PathKey, str]] | None:
        """The strings holding a "{" at or below ``path``, with their paths; None when the
        document was not parsed from text (they are not known without walking its value)."""
        if not self.scanned:
            return None
        width = len(path)
        return [(p, text) for p, text in self.braced if p[:width] == path]

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
    return render_marks(lines, [(line, column, "")], context)


Mark = tuple[int, int, str]  # line, column (1-based), what the caret points at ("" for none)


def render_marks(lines: Sequence[str], marks: Sequence[Mark], context: int = 2) -> str:
    """The lines around each mark, a caret (and its label) under each; marks close together
    share one block, blocks far apart are separated by ``...``."""
    if not lines:
        return ""
    by_line: dict[int, list[Mark]] = {}
    for mark in marks:
        if 1 <= mark[0] <= len(lines):
            by_line.setdefault(mark[0], []).append(mark)
    shown: set[int] = set()
    for number in by_line:
        shown.update(range(max(1, number - context), min(len(lines), number + context) + 1))
    if not shown:
        return ""
    width = len(str(max(shown)))
    out: list[str] = []
    previous = 0
    for number in sorted(shown):
        if previous and number > previous + 1:
            out.append(f"    {' ' * width} ...")
        previous = number
        here = by_line.get(number, [])
        text, shift = _clip(lines[number - 1], here[0][1] if here else 1)
        out.append(f"  {'>' if here else ' '} {number:>{width}} | {text}")
        for _, column, label in sorted(here, key=lambda m: m[1]):
            caret = " " * max(0, column - 1 - shift) + "^" + (f" {label}" if label else "")
            out.append(f"    {' ' * width} | {caret}")
    return "\n".join(out)


_SHOWN_WIDTH = 160  # longer lines are shown as the part around the caret


def _clip(text: str, column: int) -> tuple[str, int]:
    """A long line cut to the part around ``column``; how many characters were cut before."""
    if len(text) <= _SHOWN_WIDTH:
        return text, 0
    start = max(0, min(column - 1 - _SHOWN_WIDTH // 2, len(text) - _SHOWN_WIDTH))
    part = text[start : start + _SHOWN_WIDTH]
    head = "…" if start else ""
    tail = "…" if start + _SHOWN_WIDTH < len(text) else ""
    return f"{head}{part}{tail}", start - len(head)


MAX_DEPTH = 100
"""Mappings and lists nest at most this deep (protobuf's own recursion limit)."""
MAX_ALIAS_VALUES = 100_000
"""Aliases (``*name``) may add at most this many values to a document beyond what its text
holds: a "billion laughs" document is refused before it is expanded."""


MAX_CACHED_FILES = 10_000
"""Parsed files the document cache keeps (a few KB each) before it removes the older half."""


class DocumentCache:
    """Parsed documents by the hash of the text they come from, one small file each in a
    folder: a run of files unchanged since the last one does not parse them again.

    Only what parsing gives is kept (values and positions, in ``marshal`` form: plain
    values only). A text whose documents were all found valid is also marked so (an empty
    ``.checked`` file named by the text and by what the checks depend on: the protos, the
    names the options define, the checks' own code); checking it again is skipped while the
    mark is there. An entry that cannot be read is parsed again (and rewritten). Past
    ``max_entries`` files (every edit of a file adds one), the first write of a process
    removes the older half, by modification time."""

    def __init__(self, folder: Path, max_entries: int = MAX_CACHED_FILES) -> None:
        self.folder = folder
        self.max_entries = max_entries
        self._pruned = False
        self._folder = os.fspath(folder)
        self._last: tuple[str, int, str] | None = None  # the text hashed last, and its digest

    def _path(self, text: str, first_index: int, checks: str = "") -> str:
        last = self._last
        if last is not None and last[0] is text and last[1] == first_index:
            digest = last[2]  # a file's text is looked up, then its check mark
        else:
            hasher = hashlib.blake2b(digest_size=20)
            hasher.update(_cache_format().encode())
            hasher.update(first_index.to_bytes(8, "little"))
            hasher.update(text.encode("utf-8", "surrogatepass"))
            digest = hasher.hexdigest()
            self._last = (text, first_index, digest)
        if not checks:
            return os.path.join(self._folder, f"{digest}.marshal")
        marked = hashlib.blake2b(f"{digest} {checks}".encode(), digest_size=20).hexdigest()
        return os.path.join(self._folder, f"{marked}.checked")

    def checked(self, text: str, first_index: int, checks: str) -> bool:
        """Whether these documents were all found valid by checks of the key ``checks``."""
        return os.path.exists(self._path(text, first_index, checks))

    def mark_checked(self, text: str, first_index: int, checks: str) -> None:
        with contextlib.suppress(OSError):  # the cache is only a shortcut
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self._path(text, first_index, checks), "wb"):
                pass

    def get(self, text: str, first_index: int) -> list[_Cached] | None:
        try:
            with open(self._path(text, first_index), "rb") as file:
                found = marshal.loads(file.read())
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if not isinstance(found, list):
            return None
        return found

    def put(self, text: str, first_index: int, documents: Sequence[SourceDocument]) -> None:
        entries = [(d.index, d.value, *d.pack(), d.braced) for d in documents]
        try:
            data = marshal.dumps(entries)
        except ValueError:  # a value marshal cannot hold: parse this file every time
            return
        path = self._path(text, first_index)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            folder, name = os.path.split(path)
            temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except OSError:
            return  # a read-only or full disk: the cache is only a shortcut
        if not self._pruned:
            self._pruned = True
            prune(self.folder, (".marshal", ".checked"), self.max_entries)


@functools.cache
def _cache_format() -> str:
    """Part of every cache key: what changes the documents a text parses to (the PyYAML
    installation, found without importing it, and the Python version)."""
    spec = importlib.util.find_spec("yaml")
    origin = spec.origin if spec is not None and spec.origin else ""
    with contextlib.suppress(OSError):
        origin += f" {os.stat(origin).st_mtime_ns}"
    return f"5 yaml={origin} python={sys.version_info[:2]}"


# A document in the cache: index, value, shallow positions, the others packed, braced strings.
_Cached = tuple[int, Any, dict[PathKey, tuple[int, int]], bytes, list[tuple[PathKey, str]]]


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
                SourceDocument(
                    file, index, value, shallow, lines, None, braced, scanned=True, packed=deep
                )
                for index, value, shallow, deep, braced in cached
            ]
        parsed = load_documents(text, file, lines=lines, first_index=first_index)
        cache.put(text, first_index, parsed)
        return parsed
    from .yamlparse import parse  # PyYAML is imported by the first text to parse

    return parse(text, file, lines, first_index)
