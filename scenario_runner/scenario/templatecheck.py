"""Templates checked when a scenario is loaded, with the names each one will see. Pure.

Every template string of a scenario (and of the stub files it includes) is parsed in its
dialect; a Jinja template that reads a name nobody defines where it runs, a filter Jinja
lacks, a field that ``scenario``/``session``/``mock`` do not have, a Go template outside a
stub output, or a Go template naming an undefined variable or a field its dot lacks is an
error of the file, reported by ``validate`` and by a run before any call.

What each place sees mirrors the runner (``runner/execute.py``, ``runner/stub_setup.py``):
``vars`` see the ones declared before them (and ``--var``), a step sees what earlier steps
saved, stubs and ``verify`` see every saved name, stub outputs also ``request``,
``headers`` and ``attempt``.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections.abc import Sequence
from typing import Any

from ..errors import ScenarioFileError, TemplateError
from ..gotemplate import GoTemplateSyntaxError, is_go_template
from ..templating import (
    TemplateProblem,
    Templates,
    TemplateUse,
    filter_names,
    template_use,
    test_names,
)
from .model import StubSource
from .yamlsource import PathKey, SourceDocument

CALL_NAMES = frozenset({"request", "headers", "attempt"})
"""What a stub output's templates see besides the session's names, per call."""
_BASE = frozenset({"env", "scenario", "mock"})
_SESSION = "session"
_FIXED = {
    "scenario": frozenset({"name", "slug"}),
    "session": frozenset({"id"}),
    "mock": frozenset({"address"}),
}
_DICT_MEMBERS = frozenset(dir(dict))
_PER_CALL = frozenset({"data", "stream", "error"})
_GO_STATIC = frozenset({"headers", "delay"})  # rendered per call when Go, at setup when Jinja
_GO_ONLY = "GripMock's Go templates ({{.Request…}}) are only rendered in stub outputs"

# How a string may be a template: "jinja" (Go refused), "output" (either dialect; Go per call),
# "go" (always Go: a whole-output template).
_JINJA, _EITHER, _GO = "jinja", "output", "go"


def template_problems(
    document: SourceDocument,
    data: dict[str, Any],
    stubs: Sequence[StubSource],
    option_vars: frozenset[str],
) -> list[ScenarioFileError]:
    """Every template of a scenario that cannot work where it stands (its own strings, and
    those of the stub files it includes)."""
    included = [stub for stub in stubs if stub.document is not document]
    if not document.braced and not included:
        return []
    check = _Checker(document)
    by_part: dict[str, list[tuple[PathKey, str]]] = {}
    for path, text in document.braced:
        if path and Templates.is_template(text):
            by_part.setdefault(str(path[0]), []).append((path, text))
    scenario_vars = data.get("vars")
    if not isinstance(scenario_vars, dict):
        scenario_vars = {}
    defined = option_vars.union(map(str, scenario_vars)) if scenario_vars else option_vars
    plain_vars = defined
    if "vars" in by_part:
        plain_vars = _check_vars(check, by_part["vars"], scenario_vars, option_vars)
    if "session" in by_part:
        texts = [(p, t) for p, t in by_part["session"] if p == ("session", "id")]
        check.texts(texts, _BASE | option_vars | plain_vars)
    if "timeout" in by_part:
        check.texts(by_part["timeout"], _BASE | option_vars | defined)
    everything = _BASE | {_SESSION} | defined
    steps = data.get("steps")
    saved: set[str] = set()
    known_at: dict[int, frozenset[str]] = {}  # what the templates of step i see
    for index, step in enumerate(steps if isinstance(steps, list) else ()):
        known_at[index] = everything.union(saved) if saved else everything
        save = step.get("save") if isinstance(step, dict) else None
        if isinstance(save, dict):
            saved.update(map(str, save))
    for path, text in by_part.get("steps", ()):
        if len(path) > 2 and path[2] != "name" and isinstance(path[1], int):
            check.text(path, text, known_at.get(path[1], everything))
    known = everything.union(saved) if saved else everything
    check.texts(by_part.get("verify", ()), known)
    for path, text in by_part.get("stubs", ()):
        check.stub_text(document, path, 2, text, known, data["stubs"][path[1]])
    for stub in included:
        width = len(stub.path)
        for path, text in stub.document.braced:
            if path[:width] == stub.path and Templates.is_template(text):
                check.stub_text(stub.document, path, width, text, known, stub.raw)
    return check.errors


def _check_vars(
    check: _Checker,
    texts: Sequence[tuple[PathKey, str]],
    scenario_vars: dict[Any, Any],
    option_vars: frozenset[str],
) -> frozenset[str]:
    """Check the templates of ``vars`` in order; the names known once the session starts
    (those that wait for ``session.id`` are not)."""
    by_var: dict[Any, list[tuple[PathKey, str]]] = {}
    for path, text in texts:
        by_var.setdefault(path[1], []).append((path, text))
    # those that read `session` wait until the session id is known
    deferred = {
        key
        for key, found in by_var.items()
        if key not in option_vars and _SESSION in _names_read(found)
    }
    plain_vars = frozenset(str(k) for k in scenario_vars if k not in deferred)
    seen: set[str] = set()
    for key in scenario_vars:
        if key in option_vars:
            continue  # --var / --vars-file win: this value is never rendered
        if key in by_var:
            if key in deferred:
                known = _BASE | {_SESSION} | option_vars | plain_vars | seen
            else:
                known = _BASE | option_vars | (seen - deferred)
            check.texts(by_var[key], known)
        seen.add(str(key))
    return plain_vars


def _names_read(texts: Sequence[tuple[PathKey, str]]) -> set[str]:
    names: set[str] = set()
    for _, text in texts:
        if not is_go_template(text):
            with contextlib.suppress(TemplateProblem):  # reported where it is checked
                names |= template_use(text).names
    return names


class _Checker:
    def __init__(self, document: SourceDocument) -> None:
        self.document = document
        self.errors: list[ScenarioFileError] = []
        self._per_call: dict[frozenset[str], frozenset[str]] = {}

    def texts(self, texts: Sequence[tuple[PathKey, str]], known: frozenset[str]) -> None:
        for path, text in texts:
            self.text(path, text, known)

    def text(
        self,
        path: PathKey,
        text: str,
        known: frozenset[str],
        *,
        dialect: str = _JINJA,
        document: SourceDocument | None = None,
        static_output: bool = False,
    ) -> None:
        problem = self._problem(text, known, dialect, static_output)
        if problem is not None:
            self.errors.append((document or self.document).error(problem, path, TemplateError))

    def stub_text(
        self,
        document: SourceDocument,
        path: PathKey,
        width: int,
        text: str,
        known: frozenset[str],
        raw: Any,
    ) -> None:
        """A template at ``path`` of the stub whose own path is ``path[:width]``."""
        part = path[width:]
        if not part or part[0] != "output" or len(part) < 2:
            self.text(path, text, known, document=document)
            return
        key = part[1]
        output = raw.get("output") if isinstance(raw, dict) else None
        whole = isinstance(output, dict) and output.get("template") is True
        if key == "dataTemplate" or (whole and key in ("data", "stream")):
            self.text(path, text, known, dialect=_GO, document=document)
        elif key in _PER_CALL:
            with_call = self._per_call.get(known)
            if with_call is None:
                with_call = self._per_call[known] = known | CALL_NAMES
            self.text(path, text, with_call, dialect=_EITHER, document=document)
        else:
            dialect = _EITHER if key in _GO_STATIC else _JINJA
            self.text(path, text, known, dialect=dialect, document=document, static_output=True)

    def _problem(
        self, text: str, known: frozenset[str], dialect: str, static_output: bool
    ) -> str | None:
        problem, use = _analysis(text, dialect)
        if use is None:
            return problem
        missing = sorted(use.names - known)
        if missing:
            if static_output and CALL_NAMES & set(missing):
                return (
                    f"template {text!r}: request, headers and attempt are only known in "
                    "output data, stream and error"
                )
            return f"template {text!r}: {_undefined(missing, known)}"
        for name, attribute in use.attributes:
            members = _FIXED.get(name)
            if members is not None and attribute not in members | _DICT_MEMBERS:
                close = difflib.get_close_matches(attribute, sorted(members), n=1)
                hint = f"; did you mean {name}.{close[0]}?" if close else ""
                return (
                    f"template {text!r}: {name!r} has no attribute {attribute!r}{hint} "
                    f"({name} has {', '.join(sorted(members))})"
                )
        return None


@functools.lru_cache(maxsize=8192)
def _analysis(text: str, dialect: str) -> tuple[str | None, TemplateUse | None]:
    """What can be said of a template whatever names it will see (cached: suites repeat
    their templates): a problem, or what a Jinja template reads."""
    if dialect == _GO or is_go_template(text):
        if dialect == _JINJA:
            return f"template {text!r}: {_GO_ONLY} (data, stream, error, headers, delay)", None
        from ..gotemplate import compile_template, name_problems

        try:
            problems = name_problems(compile_template(text).nodes)
        except GoTemplateSyntaxError as exc:
            return f"template {text!r}: {exc}", None
        return (f"template {text!r}: {problems[0]}" if problems else None), None
    try:
        use = template_use(text)
    except TemplateProblem as exc:
        return str(exc), None
    filters, tests = sorted(use.filters - filter_names()), sorted(use.tests - test_names())
    if filters:
        return f"template {text!r}: no filter named {filters[0]!r}", None
    if tests:
        return f"template {text!r}: no test named {tests[0]!r}", None
    return None, use


def _undefined(missing: list[str], known: frozenset[str]) -> str:
    what = ", ".join(map(repr, missing))
    verb = "is" if len(missing) == 1 else "are"
    close = difflib.get_close_matches(missing[0], sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{what} {verb} undefined here{hint} (names known here: {', '.join(sorted(known))})"
