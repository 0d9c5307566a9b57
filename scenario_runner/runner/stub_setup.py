"""A scenario's stubs: rendered, checked and built for the mock, some only after a step.

A stub whose matchers use a value a later step saves (``{{ order_id }}``) waits until that
value exists; every other stub is built when the session starts. Output ``data``, ``stream``
and ``error`` stay templates the mock renders per call; the rest is rendered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import TemplateError
from ..mock.stubs import Stub, build_stub
from ..protos import ProtoRegistry, descriptor_of, normalize_stub_input
from ..scenario.model import StubSource
from ..scenario.values import locate_output_error
from ..scenario.yamlsource import PathKey, SourceDocument
from ..templating import GoRenderer, TemplateProblem, Templates, template_strings

STUB_CALL_NAMES = frozenset({"request", "headers", "attempt"})
_STATIC_OUTPUT_KEYS = frozenset({"code", "delay", "headers", "trailers", "details"})


class ScenarioStubs:
    """Builds one scenario's stubs against its session's names (a live mapping)."""

    def __init__(
        self,
        registry: ProtoRegistry,
        templates: Templates,
        names: Callable[[], Mapping[str, Any]],
        saved_later: set[str],
    ) -> None:
        self.registry = registry
        self.templates = templates
        self._names = names
        self.saved_later = saved_later  # names some step of the scenario saves
        self.deferred: list[StubSource] = []  # stubs waiting for a value a step saves

    @property
    def names(self) -> Mapping[str, Any]:
        return self._names()

    def ready(self, sources: Sequence[StubSource]) -> list[Stub]:
        """Build the stubs that can be built now; keep the others for ``after_save``."""
        built = []
        for source in sources:
            if source.templated and self._waits_for_saved_values(source):
                self.deferred.append(source)
            else:
                built.append(self._build_stub(source))
        return built

    def after_save(self) -> list[Stub]:
        """The deferred stubs whose saved values now exist, in declaration order."""
        waiting, self.deferred = self.deferred, []
        return self.ready(waiting)

    def _waits_for_saved_values(self, source: StubSource) -> bool:
        """Whether the stub's matchers name a value that only a later ``save`` defines."""
        raw = {k: v for k, v in source.raw.items() if k != "output"}
        for where, text in template_paths(raw, source.path):
            try:
                names = self.templates.undeclared_names(text)
            except TemplateProblem as exc:
                raise source.document.error(str(exc), where) from exc
            missing = names - set(self.names)
            if missing and missing <= self.saved_later:
                return True
        return False

    def _build_stub(self, source: StubSource) -> Stub:
        doc = source.document
        rendered = source.raw  # as written, when nothing in it is a template
        output = rendered.get("output")
        if source.templated:
            rendered = dict(source.raw)
            output = rendered.pop("output", None)
            rendered = self._render(rendered, source.path, doc)
            if output is not None:
                rendered["output"] = output = self._output(output, source)
        # Matchers in the request's JSON form, as the stub keeps them (a NOT_FOUND shows them).
        descriptor = descriptor_of(source.method.input_type)
        rendered = dict(rendered)
        if rendered.get("input"):
            rendered["input"] = normalize_stub_input(rendered["input"], descriptor)
        # `stream` is GripMock's older name for `inputs`.
        key = "inputs" if rendered.get("inputs") is not None else "stream"
        if isinstance(rendered.get(key), list):
            rendered[key] = [normalize_stub_input(m, descriptor) for m in rendered[key]]
        try:
            return build_stub(
                rendered,
                source.method,
                self.registry,
                source=str(source.location),
                context=self.names,
                normalized=True,
                plain=not source.templated,
            )
        except ValueError as exc:
            where, message = locate_output_error(
                self.registry, source.method, output, source.path, exc
            )
            raise doc.error(message, where) from exc

    def _output(self, output: Any, source: StubSource) -> Any:
        """A templated output with its names checked and its static parts rendered."""
        doc = source.document
        output = dict(output) if isinstance(output, dict) else output
        known = STUB_CALL_NAMES | set(self.names) | self.saved_later
        for where, text in template_paths(output, (*source.path, "output")):
            try:
                names = self.templates.undeclared_names(text)
            except TemplateProblem as exc:
                raise doc.error(str(exc), where) from exc
            unknown = sorted(names - known)
            if unknown:
                what = ", ".join(map(repr, unknown))
                verb = "is" if len(unknown) == 1 else "are"
                raise doc.error(f"template {text!r}: {what} {verb} undefined", where)
        if isinstance(output, dict):
            # The mock renders data, stream and error per call; the other parts (code,
            # delay, headers, trailers) are rendered here, from the session's names.
            for key in _STATIC_OUTPUT_KEYS & output.keys():
                output[key] = self._render_static(output[key], (*source.path, "output", key), doc)
        return output

    def _render_static(self, value: Any, path: PathKey, doc: SourceDocument) -> Any:
        """Render the templates of a stub output part that only use the session's names."""
        if not template_strings(value):
            return value
        for where, text in template_paths(value, path):
            try:
                call_time = self.templates.undeclared_names(text) & STUB_CALL_NAMES
            except TemplateProblem as exc:
                raise doc.error(str(exc), where) from exc
            if call_time:
                raise doc.error(
                    f"template {text!r}: request, headers and attempt are only known in "
                    "output data, stream and error",
                    where,
                )
        # A Go template (in `headers` or `delay`) is left as it is: the mock renders it per call.
        return self._render(value, path, doc, go=_unchanged)

    def _render(
        self, value: Any, path: PathKey, doc: SourceDocument, go: GoRenderer | None = None
    ) -> Any:
        try:
            return self.templates.render(value, self.names, go)
        except TemplateProblem as exc:
            raise doc.error(str(exc), (*path, *exc.key_path), TemplateError) from exc


def _unchanged(text: str) -> str:
    return text


def template_paths(value: Any, path: PathKey) -> list[tuple[PathKey, str]]:
    """``(document path, text)`` of every template string inside a value."""
    if isinstance(value, str):
        return [(path, value)] if Templates.is_template(value) else []
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in template_paths(v, (*path, k))]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in template_paths(v, (*path, i))]
    return []
