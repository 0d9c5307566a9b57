"""Property tests: any string parsed as a GripMock Go template, and any parsed template
rendered with any data, gives a result or one of our errors (``GoTemplateSyntaxError``,
``GoTemplateError``: both ``ScenarioError``s), never anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_runner.errors import ScenarioError
from scenario_runner.gotemplate import (
    GoTemplateError,
    GoTemplateSyntaxError,
    compile_template,
    is_go_template,
    name_problems,
)
from scenario_runner.mock.gripmock import render_load_time

SETTINGS = settings(max_examples=400, deadline=None)
PIECES = [
    "{{", "}}", "{{-", "-}}", " ", ".", ".Request", ".Requests", ".name", "$", "$x", ":=", "=",
    "|", "(", ")", "if", "else", "end", "range", "with", "break", "continue", "upper", "index",
    "len", "add", "div", "mod", "printf", "json", "toJson", "split", "join", "seq", "list",
    "dict", "eq", "lt", "and", "or", "not", "\"a\"", "`raw`", "'c'", "0", "1", "-1", "1.5",
    "1e9", "0x1F", "nil", "true", "uuid", "now", "format", "unix", "extract", "sum", "avg",
    "faker.Person.Name", "/*", "*/", ",", "regressive", "backoff", "jitter", "bytes", "int",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=16).map("".join) | st.text(max_size=30)
data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
    max_leaves=12,
)
dots = st.fixed_dictionaries(
    {
        "Request": data,
        "Requests": st.lists(data, max_size=3),
        "Headers": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
        "MessageIndex": st.integers(min_value=0, max_value=3),
        "AttemptNumber": st.integers(min_value=1, max_value=3),
    }
)


@SETTINGS
@given(texts, dots)
def test_any_text_parses_and_renders_or_is_our_error(text: str, dot: dict[str, Any]) -> None:
    assert is_go_template(text) in (True, False)
    try:
        template = compile_template(text)
    except GoTemplateSyntaxError as problem:
        assert isinstance(problem, ScenarioError) and str(problem)
        return
    assert all(isinstance(p, str) for p in name_problems(template.nodes))
    try:
        assert isinstance(template.render(dot), str)
    except GoTemplateError as problem:
        assert isinstance(problem, ScenarioError) and str(problem)


@SETTINGS
@given(texts)
def test_load_time_functions_render_or_are_our_error(text: str) -> None:
    try:
        assert isinstance(render_load_time(f"id: {text}\n"), str)
    except (GoTemplateError, GoTemplateSyntaxError) as problem:
        assert isinstance(problem, ScenarioError)


def test_a_template_nested_thousands_deep_is_our_error() -> None:
    deep = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    try:
        compile_template(deep)
    except GoTemplateSyntaxError as problem:
        assert "nests too deeply" in str(problem)
    else:  # pragma: no cover - the parser would have to be iterative
        raise AssertionError("a 5000-deep template parsed")
