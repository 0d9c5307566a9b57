"""Property tests: any string, rendered as a Jinja template with any names, gives a value or
a ``TemplateProblem`` (one of our errors), never anything else; so does analysing it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_runner.errors import ScenarioError
from scenario_runner.templating import TemplateProblem, Templates, template_use

SETTINGS = settings(max_examples=400, deadline=None)
PIECES = [
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "request", "name", ".", "|", "upper", "length",
    "(", ")", "[", "]", "'", '"', "0", "1", "-", "+", "*", "/", "%", "~", ",", ":", "if",
    "else", "endif", "for", "in", "endfor", "set", "=", "x", "range", "uuid()", "now()",
    "__class__", "mro", "pop", "items", "attempt", "None", "true", "1e308", "**", "//",
    "is", "defined", "not", "and", "or", "lipsum", "dict", "join", "default",
]  # fmt: skip
templates = st.lists(st.sampled_from(PIECES), max_size=14).map("".join) | st.text(max_size=30)
names = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=10,
)
contexts = st.fixed_dictionaries(
    {"request": names, "x": names, "attempt": st.integers(min_value=1, max_value=5)}
)
TEMPLATES = Templates()


@SETTINGS
@given(templates, contexts)
def test_any_template_renders_or_is_our_error(text: str, context: dict[str, Any]) -> None:
    try:
        TEMPLATES.render({"value": text}, context)
    except TemplateProblem as problem:
        assert isinstance(problem, ScenarioError)
        assert problem.key_path == ["value"]
        assert problem.message.startswith("template ") or "Go templates" in problem.message


@SETTINGS
@given(templates)
def test_any_template_is_analysed_or_is_our_error(text: str) -> None:
    try:
        use = template_use(text)
    except TemplateProblem as problem:
        assert problem.message.startswith(f"template {text!r}: ")
    else:
        assert all(isinstance(name, str) for name in use.names)


def test_a_template_nested_thousands_deep_is_our_error() -> None:
    deep = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    for attempt in (lambda: TEMPLATES.render(deep, {}), lambda: template_use(deep)):
        try:
            attempt()
        except TemplateProblem as problem:
            assert problem.message.startswith("template ")
        else:  # pragma: no cover
            raise AssertionError("a 5000-deep template rendered")
