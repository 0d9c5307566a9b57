"""Templates, ``save``, ``retry``, ``vars`` / ``--var`` / ``--vars-file``, ``env``, timeouts and
harness problems (SPEC §3, §8). One scenario set, run once with ``--var`` and ``--vars-file``.
"""

from __future__ import annotations

import re

import pytest
from e2e_support import Project, RunResult, assert_outcomes_as_named, scenario_names

TEMPLATES = """
name: "passed: scenario.slug, session.id, uuid(), now(), env, vars"
session: {id: "{{ scenario.slug }}-{{ uuid() }}"}
vars: {user: alice, limit: 5}
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output:
      data:
        isbn: "{{ session.id }}"
        title: "{{ scenario.name }}"
        authors: ["{{ env.SCENARIO_E2E_ENV }}", "{{ uuid() }}", "{{ user }}"]
        stock: "{{ limit * 2 }}"
        published_at: "{{ now() }}"
steps:
  - call: bookstore.v1.Catalog/GetBook
    metadata: {x-session-copy: "{{ session.id }}"}
    expect:
      response:
        isbn: {$regex: "^passed-scenario-slug-session-id-uuid-now-env-vars-[0-9a-f-]{36}$"}
        title: "{{ scenario.name }}"
        authors:
          - from-the-environment
          - {$regex: "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"}
          - alice
        stock: 10
        published_at: {$regex: "^20\\\\d\\\\d-\\\\d\\\\d-\\\\d\\\\dT"}
verify:
  - call: bookstore.v1.Catalog/GetBook
    times: "{{ 1 }}"
---
name: "passed: a template that is one expression keeps its type"
vars: {count: 7, shelf: {name: scifi}, flags: [1, 2]}
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {stock: "{{ count }}", authors: "{{ ['a', 'b'] }}"}}
  - service: bookstore.v1.Catalog
    method: ListBooks
    input: {equals: {shelf: "{{ shelf.name }}"}}
    output: {stream: [{stock: "{{ count }}"}, {stock: "{{ count + 1 }}"}]}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect:
      response:
        stock: {$type: integer, $gte: "{{ count }}"}
        authors: {$len: "{{ flags | length }}"}
  - call: bookstore.v1.Catalog/GetBook
    expect:
      match: exact
      response: {isbn: "", title: "", authors: [a, b], stock: "{{ count }}"}
  - call: bookstore.v1.Catalog/ListBooks
    request: "{{ {'shelf': shelf.name} }}"
    expect:
      responses: [{stock: 7}, {stock: 8}]
---
name: "passed: --var and --vars-file values are session state (--var wins over the file)"
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ from_cli }}-{{ from_file }}-{{ both }}"}
    expect:
      status: NOT_FOUND
      message: {$regex: "cli-value-file-value-cli"}
---
name: "passed: vars may use --var values, env and session.id"
session: {id: "custom-{{ prefix }}-{{ scenario.slug }}"}
vars:
  prefix: p1
  greeting: "{{ from_cli }} from {{ prefix }}"
  tagged: "{{ session.id }}/{{ env.SCENARIO_E2E_ENV }}"
  both: overridden by the command line
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ greeting }}|{{ tagged }}|{{ both }}"}
    expect:
      status: NOT_FOUND
verify:
  - call: helloworld.Greeter/SayHello
    with:
      name: "cli-value from p1|\\
        custom-p1-passed-vars-may-use-var-values-env-and-session-id/from-the-environment|cli"
---
name: "passed: save from response, headers, status and message, reuse in steps and stubs"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    output:
      data: {order_id: "ord-{{ uuid() }}", lines: [{isbn: first}, {isbn: second}]}
      headers: {x-request-id: rid-1}
  - service: bookstore.v1.Catalog
    method: GetBook
    input: {equals: {isbn: "{{ second_isbn }}"}}
    output: {data: {title: "book for {{ order }}", isbn: "{{ request.isbn }}"}}
  - service: helloworld.Greeter
    method: SayHello
    output: {error: "nope", code: NOT_FOUND}
steps:
  - name: place
    call: bookstore.v1.Orders/PlaceOrder
    save:
      order: response.order_id
      second_isbn: "response.lines[1].isbn"
      last_isbn: "response.lines[-1].isbn"
      request_id: headers.x-request-id
      all_lines: response.lines
  - name: error fields can be saved too
    call: helloworld.Greeter/SayHello
    expect: {status: NOT_FOUND}
    save: {code: status, why: message}
  - name: the saved values are used in a request, a stub matcher and a stub output
    call: bookstore.v1.Catalog/GetBook
    request: {isbn: "{{ second_isbn }}"}
    expect:
      response:
        isbn: second
        title: "book for {{ order }}"
  - call: helloworld.Greeter/SayHello
    request:
      name: "{{ code }}/{{ why }}/{{ request_id }}/{{ last_isbn }}/{{ all_lines | length }}"
    expect: {status: NOT_FOUND}
verify:
  - call: helloworld.Greeter/SayHello
    with: {name: "NOT_FOUND/nope/rid-1/second/2"}
    times: 1
  - call: bookstore.v1.Catalog/GetBook
    with: {isbn: "{{ second_isbn }}"}
    times: 1
---
name: "error: save from a path that is not there"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    save: {x: response.nothing}
---
name: "error: save from a path that does not start with a known root"
steps:
  - call: helloworld.Greeter/SayHello
    save: {x: body.message}
---
name: "passed: retry until a stub with options.times is exhausted"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    priority: 10
    options: {times: 2}
    output: {error: busy, code: UNAVAILABLE}
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: finally}}
steps:
  - call: helloworld.Greeter/SayHello
    retry: {attempts: 3, interval: 10ms}
    expect: {response: {message: finally}}
verify:
  - call: helloworld.Greeter/SayHello
    times: 3
  - stubs: all_used
---
name: "passed: retry on an attempt-based template"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "attempt {{ attempt }}"}}
steps:
  - call: helloworld.Greeter/SayHello
    retry: {attempts: 4, interval: 1ms}
    expect: {response: {message: attempt 4}}
---
name: "failure: retry gives up after its attempts"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "attempt {{ attempt }}"}}
steps:
  - call: helloworld.Greeter/SayHello
    retry: {attempts: 2, interval: 1ms}
    expect: {response: {message: attempt 3}}
---
name: "error: an undefined name in a request"
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ nobody_defined_this }}"}
---
name: "error: an undefined name in a stub output"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "{{ no_such_name }}"}}
steps:
  - call: helloworld.Greeter/SayHello
---
name: "error: an undefined name in a verification"
verify:
  - call: helloworld.Greeter/SayHello
    times: "{{ no_count }}"
---
name: "error: a template syntax error"
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ 1 + }}"}
---
name: "error: the sandbox refuses unsafe attribute access"
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: "{{ ''.__class__.__mro__ }}"}
---
name: "error: the scenario timeout is exceeded"
timeout: 300ms
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: slow}, delay: 5s}
steps:
  - name: the slow step
    call: helloworld.Greeter/SayHello
---
name: "error: the call deadline is exceeded"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: slow}, delay: 2s}
steps:
  - call: helloworld.Greeter/SayHello
    timeout: 100ms
---
name: "passed: an expected DEADLINE_EXCEEDED is not a problem"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: slow}, delay: 2s}
steps:
  - call: helloworld.Greeter/SayHello
    timeout: 50ms
    expect: {status: DEADLINE_EXCEEDED}
---
name: "error: connection refused"
steps:
  - name: nobody listens
    call: helloworld.Greeter/SayHello
    target: 127.0.0.1:1
    timeout: 5s
---
name: "error: an unknown --target name"
steps:
  - call: helloworld.Greeter/SayHello
    target: "{{ 'nowhere-at-all' }}"
    timeout: 5s
---
name: "error: a host that does not resolve"
steps:
  - call: helloworld.Greeter/SayHello
    target: "no-such-host.invalid:50051"
    timeout: 5s
---
name: "skipped: skip with a reason"
skip: not today
steps:
  - call: helloworld.Greeter/SayHello
---
name: "skipped: skip true"
skip: true
---
name: "passed: skip false runs"
skip: false
"""

VARS_FILE = """
from_file: file-value
both: from-file
"""


@pytest.fixture(scope="module")
def run(module_project: Project) -> RunResult:
    module_project.write("scenarios/templates.yaml", TEMPLATES)
    module_project.write("vars.yaml", VARS_FILE)
    return module_project.run(
        "--var",
        "from_cli=cli-value",
        "--var",
        "both=cli",
        "--vars-file",
        "vars.yaml",
        env={"SCENARIO_E2E_ENV": "from-the-environment"},
    )


def test_every_scenario_ends_as_the_spec_says(run: RunResult) -> None:
    assert sorted(run.outcomes) == sorted(scenario_names(TEMPLATES))
    assert_outcomes_as_named(run)
    assert run.code == 1


def test_an_undefined_name_is_named_with_file_line_and_path(run: RunResult) -> None:
    text = run.problem("error: an undefined name in a request")
    assert "nobody_defined_this" in text
    assert re.search(r"scenarios/templates\.yaml:\d+:\d+", text)
    assert "steps[0].request.name" in text
    text = run.problem("error: an undefined name in a stub output")
    assert "no_such_name" in text and "stubs[0].output.data.message" in text
    assert re.search(r"scenarios/templates\.yaml:\d+:\d+", text)
    text = run.problem("error: an undefined name in a verification")
    assert "no_count" in text and "verify[0].times" in text


def test_a_scenario_timeout_names_the_step(run: RunResult) -> None:
    text = run.problem("error: the scenario timeout is exceeded")
    assert "the slow step" in text
    assert "scenarios/templates.yaml:" in text


def test_connection_refused_names_the_target(run: RunResult) -> None:
    text = run.problem("error: connection refused")
    assert "127.0.0.1:1" in text
    assert "nobody listens" in text


def test_retry_reports_the_attempts(run: RunResult) -> None:
    assert "after 2 attempts" in run.problem("failure: retry gives up after its attempts")


def test_skip_reason_is_reported(run: RunResult) -> None:
    skipped = run.case("skipped: skip with a reason").find("skipped")
    assert skipped is not None and skipped.text == "not today"


def test_saved_values_appear_in_the_event_log(run: RunResult) -> None:
    log = run.system_out(
        "passed: save from response, headers, status and message, reuse in steps and stubs"
    )
    assert "state_saved" in log and '"request_id": "rid-1"' in log
