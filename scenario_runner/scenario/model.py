"""The scenario model: what a loaded, validated scenario file holds.

Values that may contain templates stay raw (``Any``); they are rendered while the scenario
runs, because saved values only exist then. Every part remembers its document path, so the
runner can name ``file:line`` for anything that goes wrong.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from ..protos import MethodInfo
from ..templating import Templates, slugify, template_strings
from .yamlsource import PathKey, SourceDocument, format_path


@dataclass(frozen=True)
class StubSource:
    """A GripMock stub object as written, and where it was written."""

    raw: dict[str, Any]
    document: SourceDocument
    path: PathKey
    method: MethodInfo

    @property
    def location(self) -> Location:
        return self.document.locate(self.path)

    @functools.cached_property
    def templated(self) -> bool:
        """Whether any string of the stub is a template (most stubs have none)."""
        braced = self.document.braced_under(self.path)  # ``raw`` is the node at ``path``
        if braced is None:
            return bool(template_strings(self.raw))
        return any(Templates.is_template(text) for _, text in braced)


_NOT_CALL_VALUES = ("save", "name")  # the parts of a step a call is not made of


@dataclass(frozen=True)
class Retry:
    attempts: int
    interval: float


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    raw: dict[str, Any]  # the step as written (templates unrendered)
    method: MethodInfo | None  # None when `call` is a template, resolved at run time
    retry: Retry | None
    path: PathKey
    # The document ``raw`` is at ``path`` of.
    document: SourceDocument | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"steps[{self.index}] {self.name!r}" if self.name else f"steps[{self.index}]"

    @functools.cached_property
    def call_values(self) -> dict[str, Any]:
        """What the call is made of (``save`` and ``name`` left out)."""
        return {k: v for k, v in self.raw.items() if k not in _NOT_CALL_VALUES}

    @functools.cached_property
    def templated(self) -> bool:
        """Whether anything the call is made of is a template."""
        braced = self.document.braced_under(self.path) if self.document else None
        if braced is None:
            return bool(template_strings(self.call_values))
        width = len(self.path)
        return any(
            Templates.is_template(text) and path[width] not in _NOT_CALL_VALUES
            for path, text in braced
            if len(path) > width
        )


@dataclass(frozen=True)
class Verification:
    index: int
    raw: dict[str, Any]
    method: MethodInfo | None
    path: PathKey


@dataclass
class Scenario:
    name: str
    document: SourceDocument
    file_index: int
    description: str = ""
    tags: tuple[str, ...] = ()
    skip: str | None = None
    parallel: bool = True
    timeout: float | None = None
    session_id: str | None = None  # a template; None: unique per run
    session_ttl: float | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    stubs: list[StubSource] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    verify: list[Verification] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.document.file

    @property
    def line(self) -> int:
        return self.document.position(())[0]

    @property
    def order(self) -> tuple[int, int]:
        return (self.file_index, self.document.index)

    @functools.cached_property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def id(self) -> str:
        """``file::name``: how -k and the console name a scenario."""
        return f"{self.file}::{self.name}"

    def locate(self, path: PathKey) -> str:
        return f"{self.document.locate(path)}"

    def describe(self, path: PathKey) -> str:
        return f"{format_path(path)} ({self.document.locate(path)})"
