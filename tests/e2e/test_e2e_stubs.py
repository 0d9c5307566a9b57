"""Stubs (inline, ``file:`` in YAML and JSON, ``--stubs DIR``), all four RPC kinds through the
mock, and ``verify`` (SPEC §3, §4). One scenario set, run once with ``--stubs global``.
"""

from __future__ import annotations

import pytest
from e2e_support import Project, RunResult, assert_outcomes_as_named, scenario_names

ONE_STUB_YAML = """
service: helloworld.Greeter
method: SayHello
input: {equals: {name: yaml-one}}
output: {data: {message: from a yaml file with one stub}}
"""

LIST_YAML = """
- id: list-yaml-1
  service: Greeter
  method: SayHello
  input: {equals: {name: yaml-list}}
  output: {data: {message: from a yaml list}}
- service: bookstore.v1.Catalog
  method: GetBook
  input: {contains: {isbn: "42"}}
  output: {data: {isbn: "42", title: Hitchhiker}}
"""

ONE_STUB_JSON = """
{
  "service": "helloworld.Greeter",
  "method": "SayHello",
  "input": {"equals": {"name": "json-one"}},
  "output": {"data": {"message": "from a json file"}}
}
"""

LIST_JSON = """
[
  {"id": "json-list-1", "service": "helloworld.Greeter", "method": "SayHello",
   "headers": {"equals": {"x-tenant": "acme"}},
   "input": {"equals": {"name": "json-list"}},
   "output": {"data": {"message": "from a json list"}, "headers": {"x-from": "json"}}}
]
"""

BAD_STUB_FILE = """
service: helloworld.Greeter
method: SayHello
outputs: {data: {message: typo}}
"""

GLOBAL_STUBS = """
- service: helloworld.Greeter
  method: SayHello
  input: {equals: {name: global}}
  output: {data: {message: from the global stubs}}
- service: helloworld.Greeter
  method: SayHello
  input: {equals: {name: shadowed}}
  output: {data: {message: global answer}}
"""

STUBS = """
name: "passed: stub files, YAML and JSON, one stub or a list, relative to the scenario"
stubs:
  - file: _stubs/one.yaml
  - file: _stubs/list.yml
  - file: ../shared_stubs/one.json
  - file: ../shared_stubs/list.json
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: yaml-one}
    expect: {response: {message: from a yaml file with one stub}}
  - call: helloworld.Greeter/SayHello
    request: {name: yaml-list}
    expect: {response: {message: from a yaml list}}
  - call: helloworld.Greeter/SayHello
    request: {name: json-one}
    expect: {response: {message: from a json file}}
  - call: helloworld.Greeter/SayHello
    request: {name: json-list}
    metadata: {x-tenant: acme}
    expect: {response: {message: from a json list}, headers: {x-from: json}}
  - name: the header matcher does not hold without the header
    call: helloworld.Greeter/SayHello
    request: {name: json-list}
    expect: {status: NOT_FOUND}
  - call: bookstore.v1.Catalog/GetBook
    request: {isbn: "42"}
    expect: {response: {title: Hitchhiker}}
verify:
  - unmatched: 1
---
name: "error: a stub file outside the working directory"
stubs:
  - file: ../../../outside.yaml
---
name: "error: a stub file that does not exist"
stubs:
  - file: _stubs/missing.yaml
---
name: "error: a stub file with an unknown key"
stubs:
  - file: _stubs/bad.yaml
---
name: "error: a stub for an unknown method"
stubs:
  - service: helloworld.Greeter
    method: SayGoodbye
    output: {data: {}}
---
name: "passed: global stubs are visible, a session stub wins over an equal global one"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: shadowed}}
    output: {data: {message: session answer}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: global}
    expect: {response: {message: from the global stubs}}
  - call: helloworld.Greeter/SayHello
    request: {name: shadowed}
    expect: {response: {message: session answer}}
---
name: "passed: a higher priority wins, then the most declared fields"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: catch-all}}
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: vip}}
    output: {data: {message: specific}}
  - service: helloworld.Greeter
    method: SayHello
    priority: 5
    input: {matches: {name: "^boss"}}
    output: {data: {message: priority}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: someone}
    expect: {response: {message: catch-all}}
  - call: helloworld.Greeter/SayHello
    request: {name: vip}
    expect: {response: {message: specific}}
  - call: helloworld.Greeter/SayHello
    request: {name: boss-vip}
    expect: {response: {message: priority}}
---
name: "passed: options.times exhausts a stub, then nothing matches"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    options: {times: 2}
    output: {data: {message: limited}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: limited}}
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: limited}}
  - call: helloworld.Greeter/SayHello
    expect: {status: NOT_FOUND}
verify:
  - call: helloworld.Greeter/SayHello
    times: 3
  - unmatched: 1
  - stubs: all_used
---
name: "passed: error output with code by number, details and trailers"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output:
      error: "quota exceeded"
      code: 8
      trailers: {x-retry-after: "30"}
steps:
  - call: helloworld.Greeter/SayHello
    expect:
      status: RESOURCE_EXHAUSTED
      message: quota exceeded
      trailers: {x-retry-after: 30}
---
name: "passed: server streaming sends output.stream in order"
stubs:
  - service: bookstore.v1.Catalog
    method: ListBooks
    input: {equals: {shelf: scifi, page_size: 2}}
    output:
      delay: 10ms
      stream:
        - {isbn: "1", title: Dune}
        - {isbn: "2", title: Solaris}
        - {isbn: "3", title: "{{ request.shelf }}"}
steps:
  - call: bookstore.v1.Catalog/ListBooks
    request: {shelf: scifi, pageSize: 2}
    expect:
      responses: [{title: Dune}, {title: Solaris}, {title: scifi}]
---
name: "passed: client streaming matches inputs[i] against message i"
stubs:
  - service: bookstore.v1.Orders
    method: UploadBasket
    inputs:
      - {equals: {isbn: a, quantity: 1}}
      - {contains: {isbn: b}}
    output: {data: {order_id: two-lines}}
  - service: bookstore.v1.Orders
    method: UploadBasket
    inputs:
      - {matches: {isbn: "^x"}}
    output: {data: {order_id: every-line-is-x}}
steps:
  - call: bookstore.v1.Orders/UploadBasket
    requests: [{isbn: a, quantity: 1}, {isbn: b, quantity: 9}]
    expect: {response: {order_id: two-lines}}
  - call: bookstore.v1.Orders/UploadBasket
    requests: [{isbn: x1}, {isbn: x2}, {isbn: x3}]
    expect: {response: {order_id: every-line-is-x}}
  - name: one message that does not match
    call: bookstore.v1.Orders/UploadBasket
    requests: [{isbn: x1}, {isbn: y2}]
    expect: {status: NOT_FOUND}
verify:
  - call: bookstore.v1.Orders/UploadBasket
    times: 3
  - call: bookstore.v1.Orders/UploadBasket
    with: {isbn: b}
    times: 1
  - unmatched: 1
---
name: "passed: bidi streaming answers message i with stream[i]"
stubs:
  - service: bookstore.v1.Orders
    method: Support
    inputs: [{contains: {order_id: o-1}}]
    output:
      stream:
        - {order_id: o-1, text: first answer}
        - {order_id: o-1, text: second answer}
steps:
  - call: bookstore.v1.Orders/Support
    requests:
      - {order_id: o-1, text: "hello?"}
      - {orderId: o-1, text: "still there?"}
    expect:
      responses:
        - {text: first answer}
        - {text: second answer}
verify:
  - call: bookstore.v1.Orders/Support
    times: 1
---
name: "passed: verify times, at_least, at_most and with"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
  - call: helloworld.Greeter/SayHello
    request: {name: bob}
verify:
  - call: helloworld.Greeter/SayHello
    times: 3
  - call: helloworld.Greeter/SayHello
    at_least: 2
    at_most: 3
  - call: helloworld.Greeter/SayHello
    with: {name: alice}
    times: 2
  - call: helloworld.Greeter/SayHello
    with: {name: {$regex: "^b"}}
    times: 1
  - call: helloworld.Greeter/SayHello
    with: {name: carol}
    times: 0
  - call: bookstore.v1.Catalog/GetBook
    times: 0
  - call: helloworld.Greeter/SayHello
  - unmatched: 0
  - stubs: all_used
---
name: "failure: verify times"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
verify:
  - call: helloworld.Greeter/SayHello
    times: 2
---
name: "failure: verify at_least"
verify:
  - call: helloworld.Greeter/SayHello
    at_least: 1
---
name: "failure: verify at_most"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
  - call: helloworld.Greeter/SayHello
verify:
  - call: helloworld.Greeter/SayHello
    at_most: 1
---
name: "failure: verify with"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
verify:
  - call: helloworld.Greeter/SayHello
    with: {name: bob}
    times: 1
---
name: "failure: verify unmatched"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {status: NOT_FOUND}
verify:
  - unmatched: 0
---
name: "failure: verify stubs all_used (a stub never used)"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {}}
steps:
  - call: helloworld.Greeter/SayHello
verify:
  - stubs: all_used
---
name: "failure: verify stubs all_used (times not reached)"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    options: {times: 2}
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
verify:
  - stubs: all_used
---
name: "error: a verification of an unknown method"
verify:
  - call: helloworld.Greeter/Nope
    times: 0
---
name: "error: a verification with two kinds"
verify:
  - unmatched: 0
    stubs: all_used
"""


@pytest.fixture(scope="module")
def run(module_project: Project) -> RunResult:
    p = module_project
    p.write("scenarios/stubs/stubs.yaml", STUBS)
    p.write("scenarios/stubs/_stubs/one.yaml", ONE_STUB_YAML)
    p.write("scenarios/stubs/_stubs/list.yml", LIST_YAML)
    p.write("scenarios/stubs/_stubs/bad.yaml", BAD_STUB_FILE)
    p.write("scenarios/shared_stubs/one.json", ONE_STUB_JSON)
    p.write("scenarios/shared_stubs/list.json", LIST_JSON)
    p.write("global/greeter.yaml", GLOBAL_STUBS)
    return p.run("--stubs", "global")


def test_every_scenario_ends_as_the_spec_says(run: RunResult) -> None:
    assert sorted(run.outcomes) == sorted(scenario_names(STUBS))
    assert_outcomes_as_named(run)


def test_stub_files_in_scenario_folders_are_not_scenarios(run: RunResult) -> None:
    # scenarios/shared_stubs/*.json are not *.yaml, scenarios/stubs/_stubs is a fragment
    assert {case.get("classname") for case in run.cases} == {"scenarios.stubs.stubs"}


def test_an_outside_stub_file_is_refused_naming_the_line(run: RunResult) -> None:
    text = run.problem("error: a stub file outside the working directory")
    assert "leaves the working directory" in text
    assert "scenarios/stubs/stubs.yaml:" in text and "stubs[0].file" in text


def test_a_bad_stub_file_names_its_own_file(run: RunResult) -> None:
    text = run.problem("error: a stub file with an unknown key")
    assert "scenarios/stubs/_stubs/bad.yaml:" in text and "outputs" in text


def test_verification_failures_say_what_was_expected(run: RunResult) -> None:
    text = run.problem("failure: verify times")
    assert "verify[0]" in text and "called 1 time" in text and "exactly 2 times" in text
    text = run.problem("failure: verify stubs all_used (a stub never used)")
    assert "bookstore.v1.Catalog/GetBook" in text


def test_the_mock_records_calls_in_the_event_log(run: RunResult) -> None:
    log = run.system_out("passed: bidi streaming answers message i with stream[i]")
    assert "mock_call bookstore.v1.Orders/Support" in log
    assert "second answer" in log


def test_a_template_error_in_an_included_stub_points_at_the_stub_file(project: Project) -> None:
    project.write(
        "scenarios/_stubs/greeter.yaml",
        """
        - service: helloworld.Greeter
          method: SayHello
          input: {equals: {name: "{{ missing_name }}"}}
          output: {data: {message: hi}}
        """,
    )
    project.write(
        "scenarios/uses_file.yaml",
        """
        name: "error: the included stub uses an undefined name"
        stubs:
          - file: _stubs/greeter.yaml
        steps:
          - call: helloworld.Greeter/SayHello
        """,
    )
    result = project.run()
    assert result.outcomes == {"error: the included stub uses an undefined name": "error"}
    problem = result.problem("error: the included stub uses an undefined name")
    assert "scenarios/_stubs/greeter.yaml:3:" in problem
    assert "'missing_name' is undefined" in problem


def test_a_number_in_stub_headers_is_the_same_text_in_expect_headers(project: Project) -> None:
    project.write(
        "scenarios/headers.yaml",
        """
        name: "passed: numbers and booleans in metadata mean one text everywhere"
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            headers: {equals: {x-client: "2.0"}}
            output: {data: {message: hi}, headers: {x-version: 2.0, x-beta: true, x-n: 5}}
        steps:
          - call: helloworld.Greeter/SayHello
            metadata: {x-client: 2.0}
            expect:
              headers: {x-version: 2.0, x-beta: true, x-n: 5}
        """,
    )
    result = project.run()
    assert_outcomes_as_named(result)
