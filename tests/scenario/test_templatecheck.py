"""Templates checked at load time with the names each place sees (no server)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario.loader import Loader, discover

PROTOS = Path(__file__).resolve().parents[2] / "protos"


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


def _errors(tmp_path: Path, registry: ProtoRegistry, text: str, **loader: object) -> list[str]:
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "s.yaml").write_text(textwrap.dedent(text).lstrip())
    result = Loader(registry, root=tmp_path, parse_outputs=True, **loader).load(  # type: ignore[arg-type]
        discover([tmp_path / "scenarios"])
    )
    return [e.headline() for b in result.broken for e in b.errors]


VALID = """
name: every place sees what it will see
vars:
  who: bob
  greeting: "hi {{ who }}"              # an earlier var
  tagged: "{{ session.id }}-{{ who }}"  # waits for the session id
  from_option: "{{ region }}"           # --var region
session: {id: "{{ scenario.slug }}-{{ uuid() }}-{{ greeting }}"}
timeout: "{{ '5s' if who else '1s' }}"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: "{{ answer }}"}}         # saved by a step: registered after it
    output:
      data: {message: "{{ request.name }} #{{ attempt }} {{ headers['x-a'] }} {{ tagged }}"}
      headers: {x-go: "{{.Request.name}}", x-jinja: "{{ who | upper }}"}
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "{{ [1, 2] | length }}"}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ who }} {{ env.HOME }} {{ mock.address }} {{ now() }}"}
    save: {answer: response.message}
  - name: "{{ not rendered }}"
    call: helloworld.Greeter/SayHello
    request: {name: "{{ answer }}"}
    metadata: {x-a: "{{ scenario.name }}"}
verify:
  - call: helloworld.Greeter/SayHello
    with: {name: "{{ answer }}"}
"""


def test_names_are_known_where_the_runner_defines_them(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    assert _errors(tmp_path, registry, VALID, option_vars={"region"}) == []


def test_vars_see_the_ones_before_them_and_the_options(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    text = 'name: s\nvars:\n  a: "{{ b }}"\n  b: "{{ region }}"\n'
    errors = _errors(tmp_path, registry, text)
    assert len(errors) == 2, errors
    assert errors[0].startswith("scenarios/s.yaml:3:6: vars.a: template '{{ b }}': 'b' is")
    assert "vars.b: template '{{ region }}': 'region' is undefined here" in errors[1]
    assert len(_errors(tmp_path, registry, text, option_vars={"region"})) == 1  # b still later
    # a var --var sets is never rendered: its template is not checked
    assert _errors(tmp_path, registry, text, option_vars={"region", "a"}) == []


@pytest.mark.parametrize(
    ("snippet", "path", "problem"),
    [
        ('request: {name: "{{ later }}"}', "steps[0].request.name", "'later' is undefined here"),
        ('request: {name: "{{ a + }}"}', "steps[0].request.name", "syntax error"),
        ('request: {name: "{{ x | shout }}"}', "steps[0].request.name", "No filter named 'shout'"),
        (
            'request: {name: "{{ scenario.nmae }}"}',
            "steps[0].request.name",
            "did you mean scenario.name?",
        ),
        (
            'request: {name: "{{ session.uid }}"}',
            "steps[0].request.name",
            "'session' has no attribute 'uid'",
        ),
        (
            'request: {name: "{{.Request.name}}"}',
            "steps[0].request.name",
            "only rendered in stub outputs",
        ),
        (
            'metadata: {x-a: "{{ request.name }}"}',
            "steps[0].metadata.x-a",
            "'request' is undefined here",
        ),
    ],
)
def test_step_templates(
    tmp_path: Path, registry: ProtoRegistry, snippet: str, path: str, problem: str
) -> None:
    text = f"""
    name: s
    vars: {{x: 1}}
    steps:
      - call: helloworld.Greeter/SayHello
        {snippet}
      - call: helloworld.Greeter/SayHello
        save: {{later: response.message}}
    """
    (error,) = _errors(tmp_path, registry, text)
    assert f": {path}: " in error and problem in error, error


@pytest.mark.parametrize(
    ("output", "where", "problem"),
    [
        ('{data: {message: "{{ nobody }}"}}', "output.data.message", "'nobody' is undefined here"),
        ('{data: {message: "{{.Reqest.name}}"}}', "output.data.message", "did you mean .Request?"),
        ('{data: {message: "{{ $x }}"}}', "output.data.message", 'undefined variable "$x"'),
        ('{data: {message: "{{ upper }"}}', "output.data.message", "template"),
        (
            '{data: {message: a}, headers: {x-a: "{{ request.name }}"}}',
            "output.headers.x-a",
            "only known in output data, stream and error",
        ),
        (
            '{data: {message: a}, code: "{{.Request.code}}"}',
            "output.code",
            "only rendered in stub outputs",
        ),
        ('{template: true, data: "{{ .Reqest }}"}', "output.data", "can't evaluate field Reqest"),
    ],
)
def test_stub_output_templates(
    tmp_path: Path, registry: ProtoRegistry, output: str, where: str, problem: str
) -> None:
    text = f"""
    name: s
    stubs:
      - service: helloworld.Greeter
        method: SayHello
        output: {output}
    """
    errors = _errors(tmp_path, registry, text)
    assert any(f"stubs[0].{where}: " in e and problem in e for e in errors), errors


def test_templates_of_an_included_stub_file_see_the_scenario(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    (tmp_path / "scenarios" / "_stubs").mkdir(parents=True)
    (tmp_path / "scenarios" / "_stubs" / "s.yaml").write_text(
        "service: helloworld.Greeter\nmethod: SayHello\n"
        'output: {data: {message: "{{ who }} {{ whom }}"}}\n'
    )
    errors = _errors(
        tmp_path,
        registry,
        "name: s\nvars: {who: a}\nstubs:\n  - file: _stubs/s.yaml\n",
    )
    assert len(errors) == 1
    assert errors[0].startswith("scenarios/_stubs/s.yaml:3:26: output.data.message: template")
    assert "'whom' is undefined here" in errors[0]
