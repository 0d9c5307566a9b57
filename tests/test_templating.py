"""Jinja2 templates in scenario values (pure)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest

from scenario_runner.templating import TemplateProblem, Templates, slugify, template_strings


@pytest.fixture
def templates() -> Templates:
    return Templates()


NAMES: dict[str, Any] = {
    "n": 5,
    "user": {"name": "alice", "tags": ["a", "b"]},
    "flag": False,
    "nothing": None,
    "env": {"HOME": "/home/x"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ n }}", 5),
        ("  {{ n }}  ", 5),
        ("{{ n + 1 }}", 6),
        ("{{ user }}", NAMES["user"]),
        ("{{ user.tags }}", ["a", "b"]),
        ("{{ flag }}", False),
        ("{{ nothing }}", None),
        ("{{ n }}{{ n }}", "55"),
        ("n={{ n }}", "n=5"),
        ("{{ user.name | upper }}", "ALICE"),
        ("{% if flag %}yes{% else %}no{% endif %}", "no"),
        ("{{ env.HOME }}", "/home/x"),
        ("plain", "plain"),
        ("{{ '{{' }}", "{{"),
    ],
)
def test_render_string(templates: Templates, text: str, expected: Any) -> None:
    assert templates.render(text, NAMES) == expected


def test_render_walks_dicts_and_lists_and_keeps_other_values(templates: Templates) -> None:
    value = {"a": ["{{ n }}", 1, True, None], "b": {"c": "x{{ n }}"}}
    assert templates.render(value, NAMES) == {"a": [5, 1, True, None], "b": {"c": "x5"}}


def test_globals(templates: Templates) -> None:
    first, second = templates.render("{{ uuid() }}", {}), templates.render("{{ uuid() }}", {})
    assert first != second and uuid.UUID(first).version == 4
    now = templates.render("{{ now() }}", {})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", now)
    moment = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - moment).total_seconds()) < 5


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ("{{ missing }}", [], ["'missing' is undefined"]),
        ({"a": [1, {"b": "x {{ user.nope }}"}]}, ["a", 1, "b"], ["nope"]),
        ("{{ 1 + }}", [], ["syntax error"]),
        ("{{ 1 / 0 }}", [], ["ZeroDivisionError"]),
        ("{{ ''.__class__.__mro__ }}", [], ["__class__"]),
        ("{{ missing.attr }}", [], ["missing"]),
    ],
)
def test_problems_say_what_and_where(
    templates: Templates, value: Any, path: list[Any], words: list[str]
) -> None:
    with pytest.raises(TemplateProblem) as info:
        templates.render(value, NAMES)
    assert info.value.key_path == path
    for word in words:
        assert word in str(info.value)


def test_undeclared_names(templates: Templates) -> None:
    assert templates.undeclared_names("{{ a }} {{ b.c }} {{ uuid() }} {% set d = 1 %}{{ d }}") == {
        "a",
        "b",
    }


def test_template_strings_and_is_template() -> None:
    assert template_strings({"a": ["{{ x }}", "y", {"b": "{% if 1 %}{% endif %}"}], "c": 1}) == [
        "{{ x }}",
        "{% if 1 %}{% endif %}",
    ]
    assert Templates.is_template("{# note #}") and not Templates.is_template("{ x }")
    assert not Templates.is_template(5)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Greeter answers a known user", "greeter-answers-a-known-user"),
        ("  --weird__Name!!  ", "weird-name"),
        ("ünïcode Café", "unicode-cafe"),
        ("!!!", "scenario"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_a_template_cannot_change_the_values_it_is_given(templates: Templates) -> None:
    """The mock hands every template the same decoded request for the same bytes."""
    given = {"request": {"name": "ada", "tags": ["a"]}}
    for text in ("{{ request.pop('name') }}", "{{ request.tags.append('b') }}"):
        with pytest.raises(TemplateProblem):
            templates.render(text, given)
    assert given == {"request": {"name": "ada", "tags": ["a"]}}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ 9 ** 9999999 }}", "9 ** 9999999 is too large to compute"),
        ("{{ 'x' * 10**9 }}", "a repetition of more than 1000000 items"),
        ("{{ [0] * 10**8 }}", "a repetition of more than 1000000 items"),
    ],
)
def test_arithmetic_cannot_run_away(text: str, problem: str) -> None:
    with pytest.raises(TemplateProblem, match=re.escape(problem)):
        Templates().render(text, {})
    assert Templates().render("{{ 2 ** 10 }} {{ 'ab' * 2 }}", {}) == "1024 abab"
