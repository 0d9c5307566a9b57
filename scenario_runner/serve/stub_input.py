"""Stubs posted to the admin API: parsed, checked against the protos, built for the mock.

A body is one GripMock stub or a list of them. JSON is YAML, so the body is also read with
the scenario loader's YAML reader, which remembers where every value stands: a stub that
does not fit the loaded protos is refused with a message that names the field and its
``line:column`` in the body, exactly as a scenario file's stub would be. Every stub of a body
is checked before any is kept, so a refused body changes nothing.

Beyond GripMock, a stub may carry ``context`` (the names its output templates see besides
``request``, ``headers`` and ``attempt``) and ``source`` (where it was written, shown in
messages). Both are kept with the stub as it was posted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ScenarioError, ScenarioFileError
from ..mock.stubs import Stub
from ..protos import ProtoRegistry
from ..runner.stub_setup import ScenarioStubs
from ..scenario.loader import Loader
from ..scenario.schema import validate_stub_file
from ..scenario.yamlsource import PathKey, SourceDocument, load_documents
from ..templating import Templates

BODY = "request body"
EXTRA_KEYS = ("context", "source")  # beyond GripMock: kept with the stub, not matched
_MAX_ERRORS = 5


class StubInputError(Exception):
    """A posted stub cannot be served; the message names the field (a 400)."""


@dataclass(frozen=True)
class PostedStub:
    """A stub as it was posted (``raw``, with its id) and as the mock serves it."""

    raw: dict[str, Any]
    stub: Stub

    @property
    def id(self) -> str:
        return self.stub.id


def read_body(body: bytes) -> tuple[list[tuple[PathKey, Any]], SourceDocument]:
    """The stubs of a request body, each with its path in the body (``()`` for a lone stub,
    ``(i,)`` in a list), and the document that knows where each value stands."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError as exc:
        raise StubInputError(f"the body is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise StubInputError(
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    document = SourceDocument(BODY, 0, value, lines=text.splitlines())
    try:
        documents = load_documents(text, BODY)
    except ScenarioError:
        documents = []  # valid JSON that YAML reads otherwise: no positions, same checks
    if len(documents) == 1 and documents[0].value == value:
        document = documents[0]
    if isinstance(value, dict):
        return [((), value)], document
    if isinstance(value, list):
        return [((i,), item) for i, item in enumerate(value)], document
    raise StubInputError(f"expected a stub object or a list of stubs, got {_kind(value)}")


def prepare(
    items: Sequence[tuple[PathKey, Any]],
    document: SourceDocument,
    registry: ProtoRegistry,
    templates: Templates,
) -> list[PostedStub]:
    """Check and build every stub of a body; ``StubInputError`` with every problem found."""
    problems: list[str] = []
    stripped: list[Any] = []
    extras: list[tuple[dict[str, Any], str | None]] = []
    for path, item in items:
        if not isinstance(item, dict):
            problems.append(_at(document, path, f"expected a stub object, got {_kind(item)}"))
            stripped.append(item)
            extras.append(({}, None))
            continue
        context = item.get("context")
        source = item.get("source")
        if context is not None and not isinstance(context, dict):
            problems.append(
                _at(document, (*path, "context"), f"expected an object, got {_kind(context)}")
            )
        if source is not None and not isinstance(source, str):
            problems.append(
                _at(document, (*path, "source"), f"expected a string, got {_kind(source)}")
            )
        stripped.append({k: v for k, v in item.items() if k not in EXTRA_KEYS})
        extras.append((context if isinstance(context, dict) else {}, _text(source)))
    if problems:
        raise StubInputError("; ".join(problems[:_MAX_ERRORS]))
    # The stub JSON Schema, on the body without the extra keys (positions stay the same).
    lone = len(items) == 1 and items[0][0] == ()
    checked = SourceDocument(
        BODY, 0, stripped[0] if lone else stripped, document.marks, document.lines
    )
    schema_errors = validate_stub_file(checked)
    if schema_errors:
        raise StubInputError(_joined(schema_errors))
    loader = Loader(registry)
    built: list[PostedStub] = []
    for (path, item), raw, (context, source) in zip(items, stripped, extras, strict=True):
        try:
            built.append(_build(item, raw, path, checked, loader, templates, context, source))
        except ScenarioFileError as exc:
            problems.append(exc.headline())
    if problems:
        raise StubInputError("; ".join(problems[:_MAX_ERRORS]))
    return built


def _build(
    item: dict[str, Any],
    raw: dict[str, Any],
    path: PathKey,
    document: SourceDocument,
    loader: Loader,
    templates: Templates,
    context: Mapping[str, Any],
    source: str | None,
) -> PostedStub:
    found, errors = loader.check_stub(raw, document, path)
    if errors or found is None:
        raise ScenarioFileError(_joined(errors))
    # The same preparation as a scenario's stub: matchers rendered with `context`, inputs
    # brought to the request's JSON form, output templates checked against the names known.
    builder = ScenarioStubs(loader.registry, templates, lambda: context, set())
    (stub,) = builder.ready([found])
    stub.source = source or f"admin API, {stub.source}"
    posted = {**item, "id": stub.id}
    return PostedStub(posted, stub)


def _joined(errors: Sequence[ScenarioError]) -> str:
    return "; ".join(error.headline() for error in errors[:_MAX_ERRORS])


def _at(document: SourceDocument, path: PathKey, message: str) -> str:
    return document.error(message, path).headline()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def rebuild(raw: dict[str, Any], registry: ProtoRegistry, templates: Templates) -> PostedStub:
    """A stub kept by the store (as it was posted) built again, after a restart."""
    text = json.dumps(raw).encode()
    items, document = read_body(text)
    (posted,) = prepare(items, document, registry, templates)
    return posted
