"""Find scenario files, load them, check them against the schema and the protos.

One broken document never hides the others: every problem becomes a ``BrokenScenario``
(reported as an errored test case) and loading goes on.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..durations import parse_duration
from ..errors import ConfigError, Location, ScenarioFileError
from ..gotemplate import GoTemplateError, GoTemplateSyntaxError, is_go_template
from ..matchers import MATCHER_OPERATORS, matcher_problems
from ..mock.effects import effect_problems
from ..mock.gripmock import DIRECTIVE_KEY, render_load_time
from ..protos import MethodInfo, ProtoRegistry, descriptor_of
from ..runner.context import MOCK_TARGET
from ..runner.expectations import PathNotFound, parse_path
from ..runner.targets import Target, is_address
from ..templating import Templates
from .fields import unknown_fields
from .model import Retry, Scenario, Step, StubSource, Verification
from .schema import validate_scenario, validate_stub_file, validate_stub_item
from .sourcefile import read_source
from .templatecheck import template_problems
from .values import (
    message_problem,
    metadata_problems,
    metadata_value_problem,
    output_problem,
    pattern_problems,
)
from .yamlsource import DocumentCache, PathKey, SourceDocument, load_documents

SCENARIO_SUFFIXES = (".yaml", ".yml")
STUB_SUFFIXES = (".yaml", ".yml", ".json")
_SAVE_ROOTS = ("response", "responses", "headers", "trailers", "status", "message")


@dataclass
class BrokenScenario:
    """A file or document that cannot run; reported as one errored test case."""

    file: str
    name: str
    errors: list[ScenarioFileError]
    order: tuple[int, int]
    line: int = 1


class Piece(Protocol):
    """Some documents of a file: a run spreads the documents of a large file over processes."""

    @property
    def first(self) -> int:
        """The index of its first document in the file."""
        ...

    @property
    def count(self) -> int:
        """How many documents it holds."""
        ...

    def text(self, whole: str) -> str:
        """What to parse of the file's text (positions as in the whole file)."""
        ...


class PieceUnreadable(Exception):
    """A piece of a file does not read as it should alone (a YAML error in it, a count of
    documents other than expected): the file is to be loaded whole."""


@dataclass
class LoadResult:
    scenarios: list[Scenario] = field(default_factory=list)
    broken: list[BrokenScenario] = field(default_factory=list)


_PARENT = os.pardir + os.sep


def display_path(path: Path, root: Path | None = None) -> str:
    """The path relative to the working directory when it lies below it."""
    cwd = os.getcwd()
    base = os.path.abspath(root) if root is not None else cwd
    text = os.fspath(path)
    if base == cwd and not os.path.isabs(text):
        # The common case (a path found under a folder named relatively): no ``..`` after
        # normalising means it lies below the working directory as written.
        relative = os.path.normpath(text)
        if relative != os.pardir and not relative.startswith(_PARENT):
            return relative if os.sep == "/" else Path(relative).as_posix()
    absolute = os.path.abspath(text)
    relative = os.path.relpath(absolute, base)
    if relative == os.pardir or relative.startswith(_PARENT):
        return Path(absolute).as_posix()
    return Path(relative).as_posix()


def _is_fragment(name: str) -> bool:
    """A file or folder named ``_…`` or ``.…``: included by others, never run itself."""
    return name.startswith(("_", "."))


def discover(paths: Sequence[Path], suffixes: Sequence[str] = SCENARIO_SUFFIXES) -> list[Path]:
    """Every scenario file under ``paths``: recursive, sorted, ``_`` fragments left out.

    A file named directly is taken even if it looks like a fragment: the user asked for it.
    Folders are walked as ``Path.rglob`` walks them (links to folders are not followed), in
    the order ``sorted`` gives their paths.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            found[path] = None
        elif path.is_dir():
            below = sorted(_files_below(os.fspath(path), (), tuple(suffixes)))
            for parts in below:
                found[path.joinpath(*parts)] = None
    return list(found)


def _files_below(
    folder: str, parts: tuple[str, ...], suffixes: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """The path parts, below ``folder``, of each file with one of ``suffixes`` that is not
    a fragment (nor inside one)."""
    try:
        with os.scandir(folder) as entries:
            listed = [(entry.name, entry.path, _kind(entry)) for entry in entries]
    except OSError:
        return
    for name, full, kind in listed:
        if _is_fragment(name):
            continue
        if kind == "dir":
            yield from _files_below(full, (*parts, name), suffixes)
        elif kind == "file" and os.path.splitext(name)[1] in suffixes:
            yield (*parts, name)


def _kind(entry: os.DirEntry[str]) -> str:
    """``dir`` for a real folder (not a link to one), ``file`` for a file or a link to one."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        return "file" if entry.is_file() else ""
    except OSError:
        return ""


@functools.cache
def _checks_version() -> str:
    """The checks' code as it is: the version, and when a module of the package last
    changed (an edited check must not trust what an older one found valid)."""
    package = Path(__file__).resolve().parents[1]
    latest = 0
    for folder, _, names in os.walk(package):
        for name in names:
            if name.endswith((".py", ".json")):
                with contextlib.suppress(OSError):
                    latest = max(latest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return f"{__version__} {latest}"


class Loader:
    """Loads scenario and stub files against one set of compiled protos."""

    def __init__(
        self,
        registry: ProtoRegistry,
        root: Path | None = None,
        *,
        parse_outputs: bool = False,
        documents: DocumentCache | None = None,
        option_vars: Iterable[str] = (),
        targets: Iterable[str] | None = None,
    ) -> None:
        """``option_vars``: the names ``--var``, ``--vars-file`` and the config define;
        ``targets``: the names a step's ``target:`` may use (besides ``mock`` and
        ``host:port``), ``None`` to leave targets unchecked."""
        self.registry = registry
        self.parse_outputs = parse_outputs
        self.documents = documents  # parsed scenario files, kept between runs
        self.root = (root or Path.cwd()).resolve()
        self.option_vars = frozenset(option_vars)
        self.targets = None if targets is None else frozenset(targets)
        self._stub_files: dict[Path, list[StubSource]] = {}

    # -- scenario files ------------------------------------------------------------------

    def load(self, files: Sequence[Path]) -> LoadResult:
        result = LoadResult()
        for index, path in enumerate(files):
            scenarios, broken = self.load_file(path, index)
            result.scenarios.extend(scenarios)
            result.broken.extend(broken)
        return result

    def load_file(
        self, path: Path, file_index: int, piece: Piece | None = None
    ) -> tuple[list[Scenario], list[BrokenScenario]]:
        """The scenarios of a file, or of the documents ``piece`` picks from it (None when
        the piece does not read as it should alone: the whole file must be loaded)."""
        shown = display_path(path, self.root)
        try:
            text = read_source(path, shown)
            if piece is None:
                read, first = text, 0
                documents = load_documents(text, shown, cache=self.documents)
            else:
                read, first = piece.text(text), piece.first
                documents = load_documents(
                    read, shown, lines=text.splitlines(), first_index=first, cache=self.documents
                )
                if len(documents) != piece.count:
                    raise PieceUnreadable(shown)
        except ScenarioFileError as exc:
            if piece is not None:
                raise PieceUnreadable(shown) from exc
            return [], [BrokenScenario(shown, path.name, [exc], (file_index, 0), _line(exc))]
        # An empty document (a trailing `---`, a file of comments) holds nothing to run.
        documents = [document for document in documents if document.value is not None]
        if not documents and piece is not None:
            return [], []  # the whole file is checked for emptiness by whoever cut it
        if not documents:
            error = ScenarioFileError("the file holds no scenario", location=Location(shown, 1, 1))
            return [], [BrokenScenario(shown, path.name, [error], (file_index, 0))]
        cache = self.documents
        checks = self.checks_key if cache is not None else ""
        trusted = cache is not None and cache.checked(read, first, checks)
        scenarios: list[Scenario] = []
        broken: list[BrokenScenario] = []
        # A name must be unique per file: every document that shares one is invalid (not only
        # the later ones), so the report never shows a passing and an errored case of one name.
        lines_by_name: dict[str, list[int]] = {}
        for document in documents:
            if isinstance(document.value, dict) and isinstance(document.value.get("name"), str):
                line = document.position(("name",))[0]
                lines_by_name.setdefault(document.value["name"], []).append(line)
        for document in documents:
            name = _document_name(document, path.name)
            errors = [] if trusted else validate_scenario(document)
            clash = lines_by_name.get(name, [])
            if not errors and len(clash) > 1:
                here = document.position(("name",))[0]
                others = [str(n) for n in clash if n != here]
                lines = f"line{'s' if len(others) > 1 else ''} {', '.join(others)}"
                errors = [
                    document.error(
                        f"duplicate scenario name {name!r} in this file (also on {lines})",
                        ("name",),
                    )
                ]
            scenario = None
            if not errors:
                scenario, errors = self._build(document, file_index, trusted=trusted)
            if errors or scenario is None:
                line = document.position(())[0]
                broken.append(
                    BrokenScenario(shown, name, errors, (file_index, document.index), line)
                )
            else:
                scenarios.append(scenario)
        if cache is not None and not trusted and not broken:
            cache.mark_checked(read, first, checks)
        return scenarios, broken

    @functools.cached_property
    def checks_key(self) -> str:
        """What checking a scenario depends on besides its text: the protos, the names the
        options define, the targets known, the working directory and the checks' code."""
        parts = [
            _checks_version(),
            self.registry.digest,
            sorted(self.option_vars),
            None if self.targets is None else sorted(self.targets),
            self.parse_outputs,
            str(self.root),
        ]
        return json.dumps(parts, separators=(",", ":"))

    def _build(
        self, doc: SourceDocument, file_index: int, *, trusted: bool = False
    ) -> tuple[Scenario | None, list[ScenarioFileError]]:
        """The scenario of a document the schema accepts, or why it cannot run; a document
        ``trusted`` (checked clean before, as it is) is only built."""
        data: dict[str, Any] = doc.value
        errors: list[ScenarioFileError] = []
        skip = data.get("skip")
        session = data.get("session") or {}
        scenario = Scenario(
            name=data["name"],
            document=doc,
            file_index=file_index,
            description=data.get("description", ""),
            tags=tuple(data.get("tags") or ()),
            skip=(skip if isinstance(skip, str) else "skipped") if skip else None,
            parallel=data.get("parallel", True),
            timeout=_duration(data.get("timeout")),
            session_id=session.get("id"),
            session_ttl=_duration(session.get("ttl")),
            vars=dict(data.get("vars") or {}),
        )
        for i, raw in enumerate(data.get("stubs") or []):
            path: PathKey = ("stubs", i)
            if "file" in raw:
                stubs, problems = self._stub_file_entry(doc, raw["file"], (*path, "file"))
                scenario.stubs.extend(stubs)
                errors.extend(problems)
            elif trusted:
                method = self.registry.find_method(raw["service"], raw["method"])
                assert method is not None, "checked against these protos"
                scenario.stubs.append(StubSource(raw, doc, path, method))
            else:
                stub, problems = self.check_stub(raw, doc, path)
                errors.extend(problems)
                if stub is not None:
                    scenario.stubs.append(stub)
        for i, raw in enumerate(data.get("steps") or []):
            if trusted:
                call = raw["call"]
                method = None if Templates.is_template(call) else self.registry.find_call(call)
                scenario.steps.append(_new_step(raw, i, method, doc))
                continue
            step, problems = self._step(raw, doc, i)
            errors.extend(problems)
            if step is not None:
                scenario.steps.append(step)
        for i, raw in enumerate(data.get("verify") or []):
            path = ("verify", i)
            method = None
            if trusted:
                call = raw.get("call")
                if isinstance(call, str) and not Templates.is_template(call):
                    method = self.registry.find_call(call)
                scenario.verify.append(Verification(i, raw, method, path))
                continue
            if "with" in raw:
                errors.extend(self._matchers(raw["with"], doc, (*path, "with")))
            if "call" in raw:
                method, problems = self._method(raw["call"], doc, (*path, "call"))
                errors.extend(problems)
                if method is not None and isinstance(raw.get("with"), dict):
                    errors.extend(
                        self._fields(raw["with"], method.input_type, doc, (*path, "with"))
                    )
            scenario.verify.append(Verification(i, raw, method, path))
        if trusted:
            return scenario, errors
        session_id = session.get("id")
        if isinstance(session_id, str) and not Templates.is_template(session_id):
            problem = metadata_value_problem(session_id) if session_id else "it is empty"
            if problem:
                message = f"session id {session_id!r} cannot be sent as metadata: {problem}"
                errors.append(doc.error(message, ("session", "id")))
        errors.extend(template_problems(doc, data, scenario.stubs, self.option_vars))
        return (None if errors else scenario), _one_per_place(errors)

    # -- steps ---------------------------------------------------------------------------

    def _step(
        self, raw: dict[str, Any], doc: SourceDocument, index: int
    ) -> tuple[Step | None, list[ScenarioFileError]]:
        path: PathKey = ("steps", index)
        method, errors = self._method(raw["call"], doc, (*path, "call"))
        expect = raw.get("expect") or {}
        if method is not None:
            streams_in = method.client_streaming
            streams_out = method.server_streaming
            if "requests" in raw and not streams_in:
                errors.append(
                    doc.error(
                        f"{method.full_name} is {method.kind.replace('_', ' ')}: "
                        "it takes one `request`, not `requests`",
                        (*path, "requests"),
                    )
                )
            if "responses" in expect and not streams_out:
                errors.append(
                    doc.error(
                        f"{method.full_name} answers with one message: use `response`, "
                        "not `responses`",
                        (*path, "expect", "responses"),
                    )
                )
            if "response" in expect and streams_out:
                errors.append(
                    doc.error(
                        f"{method.full_name} answers with a stream: use `responses: [...]`",
                        (*path, "expect", "response"),
                    )
                )
            errors.extend(self._request(raw.get("request"), method, doc, (*path, "request")))
            requests = raw.get("requests")
            if isinstance(requests, list):
                for i, item in enumerate(requests):
                    errors.extend(self._request(item, method, doc, (*path, "requests", i)))
            out_type = method.output_type
            errors.extend(
                self._fields(expect.get("response"), out_type, doc, (*path, "expect", "response"))
            )
            responses = expect.get("responses")
            if isinstance(responses, list):
                for i, item in enumerate(responses):
                    errors.extend(
                        self._fields(item, out_type, doc, (*path, "expect", "responses", i))
                    )
        errors.extend(self._target(raw.get("target"), doc, (*path, "target")))
        for where, message in metadata_problems(raw.get("metadata"), (*path, "metadata")):
            errors.append(doc.error(message, where, key=message.startswith("invalid metadata key")))
        for key in ("message", "response", "responses", "headers", "trailers", "details"):
            if key in expect:
                errors.extend(self._matchers(expect[key], doc, (*path, "expect", key)))
        for key, source in (raw.get("save") or {}).items():
            if Templates.is_template(source):
                continue
            try:
                root = parse_path(source)[0]
            except PathNotFound as exc:
                errors.append(doc.error(f"cannot save {key!r}: {exc}", (*path, "save", key)))
                continue
            if root not in _SAVE_ROOTS:
                errors.append(
                    doc.error(
                        f"cannot save {key!r} from {source!r}: a path starts with one of "
                        f"{', '.join(_SAVE_ROOTS)}",
                        (*path, "save", key),
                    )
                )
        return (None if errors else _new_step(raw, index, method, doc)), errors

    def _request(
        self, value: Any, method: MethodInfo, doc: SourceDocument, path: PathKey
    ) -> list[ScenarioFileError]:
        """Unknown fields and enum names; once the names are right, values of the wrong type."""
        errors = self._fields(value, method.input_type, doc, path)
        if errors or value is None:
            return errors
        problem = message_problem(self.registry, descriptor_of(method.input_type), value, path)
        return [doc.error(problem[1], problem[0])] if problem is not None else []

    def _target(self, value: Any, doc: SourceDocument, path: PathKey) -> list[ScenarioFileError]:
        """A ``target:`` nobody declares (when the run's targets are known)."""
        if self.targets is None or not isinstance(value, str) or Templates.is_template(value):
            return []
        if value == MOCK_TARGET or value in self.targets:
            return []
        if is_address(value):
            try:
                Target.parse(value, value)
            except ConfigError as exc:
                return [doc.error(exc.message, path)]
            return []
        known = ", ".join([MOCK_TARGET, *sorted(self.targets)])
        close = difflib.get_close_matches(value, [MOCK_TARGET, *self.targets], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return [
            doc.error(
                f"unknown target {value!r}: {hint}give --target {value}=HOST:PORT, declare it "
                f"in scenario-run.yaml, or write host:port (targets: {known})",
                path,
            )
        ]

    @staticmethod
    def _matchers(value: Any, doc: SourceDocument, path: PathKey) -> list[ScenarioFileError]:
        """Value matchers that cannot work: unknown operators, bad operands, bad regexes."""
        return [
            doc.error(message, where, key=_unknown_operator(where))
            for where, message in matcher_problems(value, path)
        ]

    def _method(
        self, call: str, doc: SourceDocument, path: PathKey
    ) -> tuple[MethodInfo | None, list[ScenarioFileError]]:
        if Templates.is_template(call):
            return None, []
        method = self.registry.find_call(call)
        if method is not None:
            return method, []
        return None, [doc.error(self.unknown_method_message(call), path)]

    def unknown_method_message(self, call: str) -> str:
        service, _, name = call.lstrip("/").partition("/")
        full = self.registry.resolve_service(service)
        if full is None:
            known = ", ".join(sorted(self.registry.services)) or "(none: no service in the protos)"
            return f"unknown service {service!r} (services: {known})"
        methods = ", ".join(self.registry.services[full])
        return f"service {full} has no method {name!r} (methods: {methods})"

    def _fields(
        self,
        value: Any,
        message_class: Any,
        doc: SourceDocument,
        path: PathKey,
        *,
        enums: bool = True,
        literals: bool = False,
    ) -> list[ScenarioFileError]:
        if value is None:
            return []
        found = unknown_fields(
            value, message_class.DESCRIPTOR, path, enums=enums, literals=literals
        )
        # An unknown field is the key's mistake; an enum name or a literal the value's.
        return [
            doc.error(message, where, key=" has no field " in message) for where, message in found
        ]

    # -- stubs ---------------------------------------------------------------------------

    def check_stub(
        self, raw: dict[str, Any], doc: SourceDocument, path: PathKey
    ) -> tuple[StubSource | None, list[ScenarioFileError]]:
        """Resolve a stub's method and check its field names."""
        service, method_name = raw["service"], raw["method"]
        if Templates.is_template(service) or Templates.is_template(method_name):
            return None, [doc.error("a stub's service and method cannot be templates", path)]
        method = self.registry.find_method(service, method_name)
        if method is None:
            message = self.unknown_method_message(f"{service}/{method_name}")
            # A known service with a wrong method is the `method:` line's mistake.
            wrong = "method" if self.registry.resolve_service(service) else "service"
            return None, [doc.error(message, (*path, wrong))]
        errors: list[ScenarioFileError] = []
        matchers: list[tuple[PathKey, Any]] = [((*path, "input"), raw.get("input"))]
        streams = "inputs" if "inputs" in raw else "stream"
        matchers += [((*path, streams, i), m) for i, m in enumerate(raw.get(streams) or [])]
        while matchers:
            where_path, matcher = matchers.pop(0)
            if not isinstance(matcher, dict):
                continue
            for section in ("equals", "contains", "matches", "glob"):
                literal = section in ("equals", "contains")  # the others are patterns
                errors.extend(
                    self._fields(
                        matcher.get(section),
                        method.input_type,
                        doc,
                        (*where_path, section),
                        enums=literal,
                        literals=literal,
                    )
                )
            for i, block in enumerate(matcher.get("anyOf") or []):
                matchers.append(((*where_path, "anyOf", i), block))
        for where, message in pattern_problems(raw, path):
            errors.append(doc.error(message, where))
        output = raw.get("output") or {}
        if not (output.get("template") is True or "dataTemplate" in output):
            data = output.get("data")
            errors.extend(self._output_message(data, method, doc, (*path, "output", "data")))
            stream = output.get("stream")
            for i, item in enumerate(stream if isinstance(stream, list) else []):
                if isinstance(item, dict) and DIRECTIVE_KEY in item:
                    item = {k: v for k, v in item.items() if k != DIRECTIVE_KEY}
                errors.extend(
                    self._output_message(item, method, doc, (*path, "output", "stream", i))
                )
        for where, text in _strings(output, (*path, "output")):
            if is_go_template(text):
                from ..gotemplate import compile_template

                try:
                    compile_template(text)
                except GoTemplateSyntaxError as exc:
                    errors.append(doc.error(f"template {text!r}: {exc}", where))
        for where, message in effect_problems(raw.get("effects"), self.registry):
            errors.append(doc.error(message, (*path, "effects", *where)))
        if self.parse_outputs and not errors:
            # What the mock would refuse when the stub is registered: values of the wrong
            # type (down to the field), error details, an output of the wrong shape.
            problem = output_problem(self.registry, method, raw.get("output"), path)
            if problem is not None:
                errors.append(doc.error(problem[1], problem[0]))
        return (None if errors else StubSource(raw, doc, path, method)), errors

    def _output_message(
        self, value: Any, method: MethodInfo, doc: SourceDocument, path: PathKey
    ) -> list[ScenarioFileError]:
        if not isinstance(value, dict):
            return []
        if (
            method.server_streaming
            and set(value) == {"stream"}
            and "stream" not in method.output_type.DESCRIPTOR.fields_by_name
        ):
            return []  # GripMock's older `data: {stream: [...]}` form of a stream
        return self._fields(value, method.output_type, doc, path)

    def _stub_file_entry(
        self, doc: SourceDocument, relative: str, path: PathKey
    ) -> tuple[list[StubSource], list[ScenarioFileError]]:
        base = Path(doc.file) if Path(doc.file).is_absolute() else self.root / doc.file
        target = (base.parent / relative).resolve()
        if not target.is_relative_to(self.root):
            return [], [doc.error(f"{relative!r} leaves the working directory {self.root}", path)]
        if not target.is_file():
            return [], [doc.error(f"stub file not found: {display_path(target, self.root)}", path)]
        try:
            return self.load_stub_file(target), []
        except ScenarioFileError as exc:
            return [], [exc]

    def load_stub_file(
        self, path: Path, skipped: list[ScenarioFileError] | None = None
    ) -> list[StubSource]:
        """A GripMock stub file (YAML or JSON; one stub or a list); cached per run.

        Load-time template functions (``{{ uuid2int64 "…" }}``) are rendered first, as
        GripMock does. With ``skipped``, a stub that cannot be served is left out and its
        problem added there (the file's other stubs still load); without, it is raised.
        """
        resolved = path.resolve()
        cached = self._stub_files.get(resolved)
        if cached is not None and skipped is None:
            return cached
        shown = display_path(resolved, self.root)
        text = read_source(resolved, shown)
        if resolved.suffix != ".json":
            try:
                text = render_load_time(text)
            except GoTemplateError as exc:
                line = re.match(r"line (\d+)", str(exc))
                raise ScenarioFileError(
                    f"template: {exc}",
                    location=Location(shown, int(line.group(1)) if line else None),
                ) from exc
        stubs: list[StubSource] = []
        try:
            documents = load_documents(text, shown)
        except ScenarioFileError as exc:
            if resolved.suffix == ".json" and exc.message.startswith("invalid YAML: "):
                exc.message = "invalid JSON: " + exc.message.removeprefix("invalid YAML: ")
                exc.args = (exc.message,)
            raise
        for document in documents:
            if document.value is None:
                continue  # an empty document: a trailing `---`
            problems = validate_stub_file(document)
            items = document.value if isinstance(document.value, list) else [document.value]
            if problems and skipped is not None and isinstance(document.value, list):
                problems = []  # checked stub by stub below
            if problems:
                raise _combined(problems)
            prefix: tuple[int, ...] = ()
            for i, raw in enumerate(items):
                path_key: PathKey = (i,) if isinstance(document.value, list) else prefix
                if skipped is not None and isinstance(document.value, list):
                    item_problems = validate_stub_item(document, raw, path_key)
                    if item_problems:
                        skipped.append(_combined(item_problems))
                        continue
                stub, problems = self.check_stub(raw, document, path_key)
                if problems:
                    if skipped is None:
                        raise _combined(problems)
                    skipped.append(_combined(problems))
                    continue
                assert stub is not None
                stubs.append(stub)
        self._stub_files[resolved] = stubs
        return stubs

    def load_stub_dir(
        self, directory: Path, skipped: list[ScenarioFileError] | None = None
    ) -> list[StubSource]:
        """Every GripMock stub file under a directory (``--stubs DIR``).

        With ``skipped``, a stub (or file) that cannot be served is left out and reported
        there; the others load, as GripMock loads them. A stub identical to one loaded
        before (same content, no ``id``) is loaded once.
        """
        if not directory.exists():
            raise ConfigError(f"--stubs: no such folder: {directory}")
        stubs: list[StubSource] = []
        seen: set[str] = set()
        for file in discover([directory], STUB_SUFFIXES):
            try:
                loaded = self.load_stub_file(file, skipped)
            except ScenarioFileError as exc:
                if skipped is None:
                    raise
                skipped.append(exc)
                continue
            for stub in loaded:
                key = json.dumps([stub.method.path, stub.raw], sort_keys=True, default=str)
                if "id" not in stub.raw and key in seen:
                    continue
                seen.add(key)
                stubs.append(stub)
        return stubs


def _one_per_place(errors: list[ScenarioFileError]) -> list[ScenarioFileError]:
    """The first error at each place: two checks that find one mistake say it once."""
    seen: set[tuple[str, str | None]] = set()
    kept = []
    for error in errors:
        place = (str(error.location), error.path)
        if place not in seen:
            seen.add(place)
            kept.append(error)
    return kept


def _unknown_operator(path: PathKey) -> bool:
    last = path[-1] if path else None
    return isinstance(last, str) and last.startswith("$") and last not in MATCHER_OPERATORS


def _combined(errors: list[ScenarioFileError]) -> ScenarioFileError:
    first = errors[0]
    if len(errors) == 1:
        return first
    rest = "\n".join(str(e) for e in errors[1:])
    return ScenarioFileError(
        first.message,
        location=first.location,
        path=first.path,
        snippet=f"{first.snippet or ''}\n{rest}".strip("\n"),
    )


def _new_step(
    raw: dict[str, Any], index: int, method: MethodInfo | None, doc: SourceDocument
) -> Step:
    retry_raw = raw.get("retry")
    retry = None
    if retry_raw:
        retry = Retry(int(retry_raw["attempts"]), _duration(retry_raw.get("interval")) or 0.0)
    return Step(index, str(raw.get("name", "")), raw, method, retry, ("steps", index), doc)


def _strings(value: Any, path: PathKey) -> list[tuple[PathKey, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings(v, (*path, k))]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _strings(v, (*path, i))]
    return []


def _duration(value: Any) -> float | None:
    if value is None or Templates.is_template(value):
        return None
    return parse_duration(value)


def _document_name(document: SourceDocument, fallback: str) -> str:
    value = document.value
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        return str(value["name"])
    if document.index:
        return f"{fallback} [document {document.index + 1}]"
    return fallback


def _line(error: ScenarioFileError) -> int:
    return error.location.line if error.location and error.location.line else 1
