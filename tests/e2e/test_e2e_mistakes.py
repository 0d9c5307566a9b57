"""User mistakes end as errored (or failed) test cases with a message pointing into the file,
never as a Python traceback or an "internal error" (SPEC §3, §8)."""

from __future__ import annotations

import pytest
from e2e_support import Project, RunResult, assert_outcomes_as_named, scenario_names

MISTAKES = """
name: "error: a request template that renders to a number"
steps:
  - call: helloworld.Greeter/SayHello
    request: "{{ 5 }}"
---
name: "error: a request template that renders to a list"
steps:
  - call: helloworld.Greeter/SayHello
    request: "{{ [1] }}"
---
name: "error: stream messages that are not objects"
steps:
  - call: bookstore.v1.Orders/UploadBasket
    requests: [1, 2]
---
name: "error: requests that render to something else than a list"
steps:
  - call: bookstore.v1.Orders/UploadBasket
    requests: "{{ 5 }}"
---
name: "error: a stub output template that renders to a number"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: "{{ 5 }}"}
steps:
  - call: helloworld.Greeter/SayHello
---
name: "error: a stub output that is a plain string"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: hello}
steps:
  - call: helloworld.Greeter/SayHello
---
name: "error: a stub output template that fails for the request"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "{{ request.nothing.deeper }}"}}
steps:
  - call: helloworld.Greeter/SayHello
---
name: "error: a stub output that renders to the wrong type"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {stock: "{{ 'many' }}"}}
steps:
  - call: bookstore.v1.Catalog/GetBook
---
name: "error: a metadata key gRPC refuses"
steps:
  - call: helloworld.Greeter/SayHello
    metadata: {"Bad Key": x}
---
name: "error: a metadata value gRPC refuses"
steps:
  - call: helloworld.Greeter/SayHello
    metadata: {x-note: "line\\nbreak"}
---
name: "error: a status template that is no status"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {status: "{{ 'NOPE' }}"}
---
name: "error: a verification count that is no number"
verify:
  - call: helloworld.Greeter/SayHello
    times: "{{ 'x' }}"
---
name: "error: a call template naming an unknown method"
vars: {service: helloworld.Greeter}
steps:
  - call: "{{ service }}/SayGoodbye"
---
name: "error: a scenario timeout template that is no duration"
timeout: "{{ 'soon' }}"
---
name: "error: a scenario timeout template that runs out"
vars: {limit: 100ms}
timeout: "{{ limit }}"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: slow}, delay: 3s}
steps:
  - call: helloworld.Greeter/SayHello
---
name: "error: a session id that cannot be sent as metadata"
session: {id: "{{ 'tab\\there' }}"}
---
name: "error: requests for a unary method"
steps:
  - call: helloworld.Greeter/SayHello
    requests: [{name: a}]
---
name: "error: responses for a unary method"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {responses: [{message: a}]}
---
name: "error: response for a server stream"
steps:
  - call: bookstore.v1.Catalog/ListBooks
    expect: {response: {isbn: a}}
---
name: "error: request and requests together"
steps:
  - call: bookstore.v1.Orders/UploadBasket
    request: {isbn: a}
    requests: [{isbn: a}]
---
name: "error: an unknown status name"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {status: NOT_A_STATUS}
---
name: "error: a duration that is no duration"
steps:
  - call: helloworld.Greeter/SayHello
    timeout: soon
---
name: "error: a step calling an unknown method"
steps:
  - call: helloworld.Greeter/SayGoodbye
---
name: "error: a step calling an unknown service"
steps:
  - call: nowhere.Service/Method
---
name: "error: a call that is not package.Service/Method"
steps:
  - call: SayHello
---
name: "error: an unknown top-level key"
stpes: []
---
name: "error: a stub without method"
stubs:
  - service: helloworld.Greeter
    output: {data: {}}
---
name: "failure: a templated regex that does not compile"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: x}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: {$regex: "{{ '(' }}"}}}
"""

UNSAFE = """
name: unsafe
vars: {x: !!python/object/apply:os.system ["echo owned > owned.txt"]}
"""


@pytest.fixture(scope="module")
def run(module_project: Project) -> RunResult:
    module_project.write("scenarios/mistakes.yaml", MISTAKES)
    module_project.write("scenarios/unsafe.yaml", UNSAFE)
    module_project.write("scenarios/tagged.yaml", "name: custom tag\nvars: !mytag {a: 1}\n")
    return module_project.run()


def test_every_mistake_ends_as_the_spec_says(run: RunResult) -> None:
    names = scenario_names(MISTAKES)
    assert sorted(run.outcomes) == sorted([*names, "unsafe.yaml", "tagged.yaml"])
    assert run.outcomes["unsafe.yaml"] == "error"
    assert run.outcomes["tagged.yaml"] == "error"
    mistakes = [case for case in run.cases if case.get("name") in names]
    assert_outcomes_as_named(RunResult(run.code, run.stdout, run.stderr, run.junit, mistakes))
    assert run.code == 1


def test_only_a_safe_loader_reads_scenarios(run: RunResult, module_project: Project) -> None:
    assert not (module_project.root / "owned.txt").exists()
    assert "unsupported YAML tag" in run.problem("unsafe.yaml")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("error: a request template that renders to a number", ["steps[0].request", "object"]),
        ("error: a metadata key gRPC refuses", ["steps[0].metadata", "Bad Key"]),
        ("error: a stub output template that fails for the request", ["steps[0]", "stub"]),
        ("error: a session id that cannot be sent as metadata", ["session.id"]),
        ("error: a scenario timeout template that runs out", ["timed out after 0.1s"]),
        ("error: a call template naming an unknown method", ["steps[0].call", "SayGoodbye"]),
        ("error: a step calling an unknown method", ["steps[0].call", "methods: SayHello"]),
        ("error: a step calling an unknown service", ["steps[0].call", "helloworld.Greeter"]),
    ],
)
def test_messages_point_into_the_file(run: RunResult, name: str, words: list[str]) -> None:
    text = run.problem(name)
    assert "scenarios/mistakes.yaml:" in text
    for word in words:
        assert word in text
