"""The scenario model: whether a stub or a step needs rendering, known from the strings the
parser found (``braced``) the same as from walking the value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario.loader import Loader, discover
from scenario_runner.scenario.model import Scenario, StubSource
from scenario_runner.scenario.yamlsource import DocumentCache, SourceDocument
from scenario_runner.templating import template_strings

PROTOS = Path(__file__).resolve().parents[2] / "protos"

SCENARIOS = """
name: plain
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: "{not a template}"}}
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    name: "{{ 'a name is not sent' }}"
    request: {name: "{braces}"}
    save: {m: "{{ 'response.message' }}"}
---
name: templated
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: x}}
    output: {data: {message: hi}}
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: "{{ session.id }}"}}
    output: {data: {message: "hello {{ session.id }}"}}
  - file: ../stubs/templated.yaml
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: x}
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ session.id }}"}
  - call: helloworld.Greeter/SayHello
    request: {name: y}
    metadata: {x-id: "{% if true %}1{% endif %}"}
"""

STUB_FILE = """
- service: helloworld.Greeter
  method: SayHello
  input: {equals: {name: z}}
  output: {data: {message: "{{ session.id }}"}}
"""


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


def _scenarios(root: Path, registry: ProtoRegistry, cache: DocumentCache | None) -> list[Scenario]:
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    (root / "stubs").mkdir(exist_ok=True)
    (root / "scenarios" / "s.yaml").write_text(textwrap.dedent(SCENARIOS).lstrip())
    (root / "stubs" / "templated.yaml").write_text(textwrap.dedent(STUB_FILE).lstrip())
    loader = Loader(registry, root=root, documents=cache)
    result = loader.load(discover([root / "scenarios"]))
    assert not result.broken
    return result.scenarios


def _walked(scenarios: list[Scenario]) -> list[list[bool]]:
    return [
        [bool(template_strings(s.raw)) for s in scenario.stubs]
        + [bool(template_strings(step.call_values)) for step in scenario.steps]
        for scenario in scenarios
    ]


def _known(scenarios: list[Scenario]) -> list[list[bool]]:
    return [
        [s.templated for s in scenario.stubs] + [step.templated for step in scenario.steps]
        for scenario in scenarios
    ]


def test_parsed_and_cached_documents_tell_templates_as_walking_does(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    expected = [[False, False], [False, True, True, False, True, True]]
    parsed = _scenarios(tmp_path, registry, None)
    assert all(s.document.scanned for s in parsed)
    assert _known(parsed) == _walked(parsed) == expected
    cache = DocumentCache(tmp_path / "cache")
    _scenarios(tmp_path, registry, cache)  # fills the cache, marks the file checked
    cached = _scenarios(tmp_path, registry, cache)  # trusted: built from the cache
    assert _known(cached) == _walked(cached) == expected


def test_a_document_made_of_a_value_is_walked(registry: ProtoRegistry) -> None:
    raw = {
        "service": "helloworld.Greeter",
        "method": "SayHello",
        "output": {"data": {"message": "{{ session.id }}"}},
    }
    method = registry.find_call("helloworld.Greeter/SayHello")
    assert method is not None
    made = SourceDocument("sdk.py", 0, raw)  # as the SDK and the admin API make them
    assert made.braced_under(()) is None
    assert StubSource(raw, made, (), method).templated


def test_braced_under_keeps_the_strings_below_a_path(tmp_path: Path) -> None:
    document = SourceDocument(
        "s.yaml",
        0,
        {},
        braced=[(("stubs", 0, "a"), "{{ x }}"), (("stubs", 1), "{y}"), (("steps", 0), "{z}")],
        scanned=True,
    )
    assert document.braced_under(("stubs", 1)) == [(("stubs", 1), "{y}")]
    assert document.braced_under(("stubs",)) == [
        (("stubs", 0, "a"), "{{ x }}"),
        (("stubs", 1), "{y}"),
    ]
    assert document.braced_under(("verify", 0)) == []
