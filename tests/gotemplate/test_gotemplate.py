"""GripMock's Go template dialect: parsing, evaluation, functions, sandbox, faker."""

from __future__ import annotations

from typing import Any

import pytest

from scenario_runner.gotemplate import (
    FakerRoot,
    GoTemplateError,
    GoTemplateSyntaxError,
    compile_template,
    is_go_template,
)
from scenario_runner.gotemplate.dialect import FUNCTION_NAMES, LOAD_TIME
from scenario_runner.gotemplate.functions import base_functions
from scenario_runner.gotemplate.values import go_float

DATA: dict[str, Any] = {
    "Request": {"name": "Alex", "user_id": "USER_123", "items": [{"price": 10}, {"price": 5}]},
    "Requests": [{"value": 15.0}, {"value": 25.0}, {"value": 35.0}],
    "Headers": {"x-user": "Ivan"},
    "MessageIndex": 2,
}


def render(text: str, data: Any = DATA) -> str:
    return compile_template(text).render(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, {{.Request.name}}!", "Hello, Alex!"),
        ('{{index .Headers "x-user"}}', "Ivan"),
        ('ORDER_{{index (split .Request.user_id "_") 1}}', "ORDER_123"),
        ("{{avg (extract .Requests `value`)}}", "25"),
        ("{{sum (extract .Requests `value`)}} {{len .Requests}}", "75 3"),
        ("{{(index .Requests 0).value}}", "15"),
        ("{{.Request.name | upper}}-{{.Request.name | lower}}", "ALEX-alex"),
        ("{{mul (len .Request.items) 25.50}}", "51"),
        ("{{div 1 0}} {{mod 7 2}} {{floor 2.7}} {{round 2.5}}", "1 1 2 3"),
        ("{{if .Request.name}}y{{else}}n{{end}}{{if .Request.none}}y{{else}}n{{end}}", "yn"),
        ("{{range $i, $x := .Requests}}{{$i}}:{{$x.value}} {{end}}", "0:15 1:25 2:35 "),
        ("{{with .Request}}{{.name}}{{end}}", "Alex"),
        ('{{$n := .Request.name}}{{$n}}{{$n = "B"}}{{$n}}', "AlexB"),
        ("{{- 1 -}}  {{- 2 }}", "12"),
        ("{{/* a comment */}}x", "x"),
        ("{{.Request.missing}}", "<no value>"),
        ("{{.MessageIndex}}", "2"),
        ('{{dict "a" 1 "b" (list 1 2)}}', '{"a":1,"b":[1,2]}\n'),
        ('{{sprintf "%s-%d-%.2f" "x" 3 1.5}}', "x-3-1.50"),
        ("{{ range $x := seq 3 }}{{ if eq $x 1 }}{{ continue }}{{ end }}{{ $x }}{{ end }}", "02"),
        ('{{ regressive 2 "30ms" "10ms" }} {{ backoff 3 "1s" }}', "20ms 4s"),
        ('{{ uuid2base64 "00000000-0000-0000-0000-000000000000" }}', "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("{{and 1 0}} {{or 0 2}} {{not 0}}", "0 2 true"),
        ('{{ .Request.items | where "price" "gt" 6 | len }}', "1"),
    ],
)
def test_renders_as_gripmock_does(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [(25.0, "25"), (0.5, "0.5"), (1e6, "1e+06"), (123456.0, "123456"), (1.5e-5, "1.5e-05")],
)
def test_floats_print_like_go(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.a", "unclosed action"),
        ("{{if .x}}", "missing {{end}}"),
        ("{{nope .x}}", 'function "nope" not defined'),
        ("{{end}}", "unexpected {{end}}"),
        ('{{define "x"}}{{end}}', "not supported"),
    ],
)
def test_syntax_errors_are_found_when_parsed(text: str, message: str) -> None:
    with pytest.raises(
        GoTemplateSyntaxError, match=message.replace("{", r"\{").replace("(", r"\(")
    ):
        compile_template(text)


def test_runtime_errors_name_the_function() -> None:
    with pytest.raises(GoTemplateError, match="index out of range"):
        render("{{index .Requests 9}}")
    with pytest.raises(GoTemplateError, match="dict requires an even number"):
        render('{{dict "a"}}')


def test_no_python_attribute_is_reachable() -> None:
    class Secret:
        password = "x"

    with pytest.raises(GoTemplateError, match="not a mapping"):
        render("{{.Obj.password}}", {"Obj": Secret()})
    with pytest.raises(GoTemplateError, match="can't evaluate field __class__"):
        render("{{faker.__class__}}")


def test_templates_cannot_change_their_data() -> None:
    data = {"Request": {"m": {"a": 1}}}
    render('{{ set .Request.m "b" 2 }}', data)
    assert data == {"Request": {"m": {"a": 1}}}


@pytest.mark.parametrize(
    ("text", "go"),
    [
        ("{{.Request.x}}", True),
        ("{{ uuid }}", True),
        ("{{ avg (list 1 2) }}", True),
        ("{{ faker.Person.Name }}", True),
        ("{{ if .x }}a{{ end }}", True),
        ("{{ request.name }}", False),
        ("{{ uuid() }}", False),
        ("{{ user }}", False),
        ("{% if x %}{{ .a }}{% endif %}", False),
        ("plain", False),
    ],
)
def test_dialects_are_told_apart(text: str, go: bool) -> None:
    assert is_go_template(text) is go


def test_the_dialect_knows_every_function_by_name() -> None:
    # The names are listed apart from the functions, so telling the dialects apart does not
    # import them: the two lists must stay the same.
    assert frozenset(base_functions()) | {"faker"} == FUNCTION_NAMES
    assert LOAD_TIME <= FUNCTION_NAMES


def test_faker_is_deterministic_with_a_seed() -> None:
    template = compile_template(
        "{{faker.Person.FirstName}} {{faker.Identity.UUID}} {{faker.Number.IntN 5}}"
    )
    first = template.render({}, FakerRoot(7))
    assert first == template.render({}, FakerRoot(7))
    assert first != template.render({}, FakerRoot(8))
    with pytest.raises(GoTemplateError, match="domains"):
        compile_template("{{faker.Nope.X}}").render({}, FakerRoot(1))


def test_printf_refuses_a_width_no_output_could_hold() -> None:
    with pytest.raises(GoTemplateError, match="a width or precision above 1000000"):
        compile_template('{{ printf "%0999999999d" 1 }}').render({})
    assert compile_template('{{ printf "%05d" 42 }}').render({}) == "00042"
