"""Names a Go template uses that cannot exist when it runs (reported at load time)."""

from __future__ import annotations

import pytest

from scenario_runner.gotemplate import STUB_DOT_FIELDS, compile_template, name_problems
from scenario_runner.mock.gripmock import go_data


def _problems(text: str) -> list[str]:
    return name_problems(compile_template(text).nodes)


@pytest.mark.parametrize(
    "text",
    [
        "{{.Request.name}} {{ .Headers.x }} {{ .AttemptNumber }}",
        "{{ $n := .Request.name }}{{ $n }}",
        "{{ range $i, $v := .Requests }}{{ $i }}{{ $v.name }}{{ .name }}{{ end }}",
        "{{ with .Request }}{{ .anything }}{{ end }}",
        "{{ if .Request.a }}{{ $x := 1 }}{{ $x }}{{ else }}{{ .StubID }}{{ end }}",
        "{{ $.Request.name }} {{ (index .Requests 0).name }}",
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
    ],
)
def test_names_that_exist_pass(text: str) -> None:
    assert _problems(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ $x }}", 'undefined variable "$x"'),
        ("{{ $x = 1 }}", 'undefined variable "$x"'),
        ("{{ if .Request }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
        ("{{ range .Requests }}{{ end }}{{ $i }}", 'undefined variable "$i"'),
        ("{{ upper (print $z) }}", 'undefined variable "$z"'),
        ("{{.Reqest.name}}", "can't evaluate field Reqest; did you mean .Request?"),
        ("{{ $.Headerz }}", "can't evaluate field Headerz; did you mean .Headers?"),
        ("{{ if .Nope }}x{{ end }}", "can't evaluate field Nope"),
    ],
)
def test_undefined_names_are_reported(text: str, problem: str) -> None:
    problems = _problems(text)
    assert problems and problems[0].startswith(problem), problems


def test_the_dot_fields_are_those_the_mock_gives() -> None:
    import datetime

    data = go_data(
        request={},
        requests=None,
        headers={},
        message_index=0,
        attempt=1,
        stub_id="s",
        times=0,
        started=datetime.datetime.now(datetime.timezone.utc),
    )
    assert set(data) == STUB_DOT_FIELDS
