"""``expect``: status, message, response (subset / exact), responses, headers, trailers, every
value matcher, field-name spellings and the protobuf JSON forms of SPEC §3.

One scenario set, run once; each scenario's name starts with the outcome SPEC.md gives it.
"""

from __future__ import annotations

import pytest
from e2e_support import Project, RunResult, assert_outcomes_as_named, scenario_names

GREETER_STUB = """\
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: alice}}
    output:
      data: {message: "Hello {{ request.name }}"}
      headers: {x-served-by: mock, x-count: 5, x-flag: true}
      trailers: {x-trace: abc-123}
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: blocked}}
    output: {error: "user blocked", code: PERMISSION_DENIED}
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: down}}
    output: {error: "backend down", code: UNAVAILABLE}
  - service: helloworld.Greeter
    method: SayHello
    input: {equals: {name: nocode}}
    output: {error: "no code given"}
"""

STATUS = (
    """
name: "passed: status OK by name, exact message of an error by name and by number"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {status: OK}
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {status: 0}
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: PERMISSION_DENIED, message: user blocked}
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: 7, message: {$regex: "^user"}}
  - call: helloworld.Greeter/SayHello
    request: {name: nocode}
    expect: {status: UNKNOWN, message: no code given}
  - call: helloworld.Greeter/SayHello
    request: {name: down}
    expect: {status: UNAVAILABLE}
  - name: no stub matches
    call: helloworld.Greeter/SayHello
    request: {name: zed}
    expect:
      status: NOT_FOUND
      message: {$regex: "(?s)^No matching stub found.*helloworld.Greeter.*SayHello.*zed"}
---
name: "failure: the status differs (OK expected by default)"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
---
name: "failure: a status sent by a stub is an answer, not a harness problem (UNAVAILABLE)"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: down}
    expect: {status: OK}
---
name: "failure: the status number differs"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: 5}
---
name: "failure: the exact message differs"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: PERMISSION_DENIED, message: user Blocked}
---
name: "failure: the message regex does not match"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: PERMISSION_DENIED, message: {$regex: "^blocked"}}
---
name: "failure: a response is expected but the call failed"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: blocked}
    expect: {status: PERMISSION_DENIED, response: {message: x}}
"""
)

RESPONSES = (
    """
name: "passed: response subset, headers and trailers (values as text, matchers allowed)"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect:
      response: {message: Hello alice}
      headers: {x-served-by: mock, X-Count: 5, x-flag: true}
      trailers: {x-trace: {$regex: "^abc-\\\\d+$"}}
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect:
      response: {}
      headers: {x-served-by: {$any: true}, x-missing: {$any: false}}
---
name: "failure: a header value differs"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {headers: {x-served-by: other}}
---
name: "failure: an expected trailer is missing"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {trailers: {x-other: abc}}
---
name: "failure: a response field differs"
stubs:
"""
    + GREETER_STUB
    + """
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {response: {message: Hello bob}}
---
name: "passed: exact match needs every field, defaults included"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {isbn: "1", title: T}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    request: {isbn: "1"}
    expect:
      match: exact
      response: {isbn: "1", title: T, authors: [], stock: 0}
  - name: an unset message field may be written as null
    call: bookstore.v1.Catalog/GetBook
    expect:
      match: exact
      response: {isbn: "1", title: T, authors: [], stock: 0, price: null, publishedAt: null}
---
name: "failure: exact match rejects a missing default field"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {isbn: "1", title: T}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect:
      match: exact
      response: {isbn: "1", title: T, authors: []}
---
name: "failure: exact match rejects a nested extra field"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {isbn: "1", price: {currency: EUR, amount_cents: 5}}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect:
      match: exact
      response: {isbn: "1", title: "", authors: [], stock: 0, price: {currency: EUR}}
---
name: "passed: subset match ignores fields not written"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {isbn: "1", title: T, authors: [a, b], price: {currency: EUR, amount_cents: 5}}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect:
      response: {price: {currency: EUR}, authors: [a, b]}
---
name: "failure: subset match still compares arrays in full"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {authors: [a, b]}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect:
      response: {authors: [a]}
---
name: "passed: responses of a server stream, subset and exact"
stubs:
  - service: bookstore.v1.Catalog
    method: ListBooks
    input: {equals: {shelf: scifi}}
    output:
      stream:
        - {isbn: "1", title: Dune, stock: 3}
        - {isbn: "2", title: Solaris}
steps:
  - call: bookstore.v1.Catalog/ListBooks
    request: {shelf: scifi}
    expect:
      responses: [{title: Dune}, {isbn: "2"}]
  - call: bookstore.v1.Catalog/ListBooks
    request: {shelf: scifi}
    expect:
      match: exact
      responses:
        - {isbn: "1", title: Dune, authors: [], stock: 3}
        - {isbn: "2", title: Solaris, authors: [], stock: 0}
---
name: "failure: a server stream sent fewer messages than expected"
stubs:
  - service: bookstore.v1.Catalog
    method: ListBooks
    output:
      stream: [{isbn: "1"}]
steps:
  - call: bookstore.v1.Catalog/ListBooks
    expect:
      responses: [{isbn: "1"}, {isbn: "2"}]
"""
)

MATCHERS = """
name: "passed: every value matcher holds"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    output:
      data:
        order_id: ord-77
        customer_id: ""
        lines: [{isbn: a, quantity: 1}, {isbn: b, quantity: 2}]
        total: {currency: EUR, amount_cents: 1999}
        status: ORDER_STATUS_PENDING
        loyalty_points: 12
steps:
  - call: bookstore.v1.Orders/PlaceOrder
    expect:
      response:
        order_id: {$regex: "^ord-\\\\d+$"}
        customer_id: {$type: string, $len: 0}
        lines: {$type: array, $len: 2, $contains: {isbn: b}}
        total: {$type: object, $contains: {currency: EUR}}
        status: {$any: true}
        created_at: {$any: false}
        loyalty_points: {$type: string, $gt: 11, $gte: 12, $lt: 13, $lte: 12}
  - call: bookstore.v1.Orders/PlaceOrder
    expect:
      response:
        order_id: {$contains: "-7"}
        total: {amount_cents: {$type: string}}
        lines: [{isbn: {$type: string}, quantity: {$lte: 1}}, {$any: true}]
        status: {$regex: PENDING}
---
name: "passed: $type boolean, null and number"
stubs:
  - service: wkt.Echo
    method: Echo
    output: {data: {value: null, bool_wrapper: true, ratio: 0.5, struct_value: {n: null}}}
steps:
  - call: wkt.Echo/Echo
    expect:
      response:
        bool_wrapper: {$type: boolean}
        ratio: {$type: number, $gt: 0.25}
        struct_value: {n: {$type: "null"}}
---
name: "failure: $regex does not match"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: Hello}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: {$regex: "^Bye"}}}
---
name: "failure: $type differs"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: Hello}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: {$type: number}}}
---
name: "failure: $gt does not hold"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {stock: 3}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect: {response: {stock: {$gt: 3}}}
---
name: "failure: $lte does not hold"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {stock: 3}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect: {response: {stock: {$lte: 2}}}
---
name: "failure: $len differs"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {authors: [a]}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect: {response: {authors: {$len: 2}}}
---
name: "failure: $contains finds nothing"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {authors: [a]}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect: {response: {authors: {$contains: b}}}
---
name: "failure: $any false but the field is there"
stubs:
  - service: bookstore.v1.Catalog
    method: GetBook
    output: {data: {price: {currency: EUR}}}
steps:
  - call: bookstore.v1.Catalog/GetBook
    expect: {response: {price: {$any: false}}}
---
name: "error: an unknown matcher operator is an invalid file"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: {$startswith: H}}}
---
name: "error: a regex that does not compile is an invalid file"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {message: {$regex: "("}}
"""

PROTO_JSON = """
name: "passed: lowerCamelCase and proto names, enums by name and number, int64 both ways"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    input:
      equals:
        customerId: c-1
        lines: [{isbn: x, quantity: 2}]
    output:
      data:
        orderId: o-1
        status: ORDER_STATUS_CONFIRMED
        loyaltyPoints: "9007199254740993"
        total: {currency: EUR, amountCents: 1234}
        createdAt: "2024-01-02T03:04:05Z"
        deliveryEstimate: 1.5s
steps:
  - call: bookstore.v1.Orders/PlaceOrder
    request: {customer_id: c-1, lines: [{isbn: x, quantity: 2}]}
    expect:
      response:
        order_id: o-1
        orderId: o-1
        status: ORDER_STATUS_CONFIRMED
        loyalty_points: 9007199254740993
        total: {amount_cents: "1234", amountCents: 1234}
        created_at: "2024-01-02T03:04:05Z"
        delivery_estimate: 1.5s
  - call: bookstore.v1.Orders/PlaceOrder
    request: {customerId: c-1, lines: [{isbn: x, quantity: "2"}]}
    expect:
      response:
        status: 2
        loyaltyPoints: "9007199254740993"
        deliveryEstimate: "1.500s"
verify:
  - call: bookstore.v1.Orders/PlaceOrder
    times: 2
    with: {customerId: c-1, lines: [{quantity: 2}]}
---
name: "failure: an int64 beyond 2^53 differs by one"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    output: {data: {loyalty_points: "9007199254740993"}}
steps:
  - call: bookstore.v1.Orders/PlaceOrder
    expect: {response: {loyalty_points: 9007199254740992}}
---
name: "failure: an enum differs"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    output: {data: {status: ORDER_STATUS_PENDING}}
steps:
  - call: bookstore.v1.Orders/PlaceOrder
    expect: {response: {status: ORDER_STATUS_SHIPPED}}
---
name: "passed: well-known types in requests, stub matchers and responses"
stubs:
  - service: wkt.Echo
    method: Echo
    input:
      contains:
        color: RED
        big: 9007199254740993
        took: 1.5s
        at: "2024-01-01T00:00:00Z"
        int64_wrapper: "5"
        struct_value: {a: 1}
    output:
      data:
        any: {"@type": "type.googleapis.com/wkt.Inner", label: L, big: "5"}
        structValue: {a: 1, b: [true, null, x], c: {d: e}}
        value: 3.5
        listValue: [1, two]
        int64Wrapper: "12345678901234567"
        int32Wrapper: 0
        stringWrapper: sw
        boolWrapper: false
        at: "2024-05-06T07:08:09.5Z"
        took: 90s
        big: -3
        ubig: "18446744073709551615"
        color: GREEN
        colors: [RED, 2]
        innerMap: {k: {label: v, big: 1}}
        inners: [{label: i1}]
        ratio: 0.25
steps:
  - call: wkt.Echo/Echo
    request:
      color: 1
      big: "9007199254740993"
      at: "2024-01-01T00:00:00Z"
      took: 1.5s
      int64Wrapper: 5
      structValue: {a: 1, nested: {list: [1, "2"]}}
      any: {"@type": type.googleapis.com/google.protobuf.Duration, value: 2s}
    expect:
      response:
        any: {"@type": "type.googleapis.com/wkt.Inner", label: L, big: "5"}
        struct_value: {a: 1, b: [true, null, x], c: {d: e}}
        value: 3.5
        list_value: [1, two]
        int64_wrapper: 12345678901234567
        int32_wrapper: 0
        string_wrapper: sw
        bool_wrapper: false
        at: "2024-05-06T07:08:09.500Z"
        took: 90s
        big: -3
        ubig: 18446744073709551615
        color: 2
        colors: [RED, GREEN]
        inner_map: {k: {label: v, big: "1"}}
        inners: [{label: i1, big: 0}]
        ratio: 0.25
  - call: wkt.Echo/Ping
    expect: {status: NOT_FOUND}
verify:
  - call: wkt.Echo/Echo
    times: 1
    with:
      big: 9007199254740993
      took: 1.5s
      any: {"@type": type.googleapis.com/google.protobuf.Duration, value: 2s}
      int64Wrapper: "5"
---
name: "failure: a Timestamp differs"
stubs:
  - service: wkt.Echo
    method: Echo
    output: {data: {at: "2024-05-06T07:08:09Z"}}
steps:
  - call: wkt.Echo/Echo
    expect: {response: {at: "2024-05-06T07:08:10Z"}}
---
name: "failure: a Duration differs"
stubs:
  - service: wkt.Echo
    method: Echo
    output: {data: {took: 2s}}
steps:
  - call: wkt.Echo/Echo
    expect: {response: {took: 2.5s}}
---
name: "error: a request that does not fit the message is a harness problem"
steps:
  - call: wkt.Echo/Echo
    request: {big: "{{ 'not a number' }}"}
---
name: "error: an unknown field in a request is an invalid file"
steps:
  - call: helloworld.Greeter/SayHello
    request: {nam: x}
---
name: "error: an unknown field in an expected response is an invalid file"
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {mesage: x}}
---
name: "error: an unknown enum name in a stub output is an invalid file"
stubs:
  - service: bookstore.v1.Orders
    method: PlaceOrder
    output: {data: {status: ORDER_STATUS_LOST}}
steps:
  - call: bookstore.v1.Orders/PlaceOrder
"""


@pytest.fixture(scope="module")
def run(module_project: Project) -> RunResult:
    module_project.write("scenarios/expect/status.yaml", STATUS)
    module_project.write("scenarios/expect/responses.yaml", RESPONSES)
    module_project.write("scenarios/expect/matchers.yaml", MATCHERS)
    module_project.write("scenarios/expect/proto_json.yaml", PROTO_JSON)
    return module_project.run("--workers", "32")


def test_every_scenario_ends_as_the_spec_says(run: RunResult) -> None:
    assert sorted(run.outcomes) == sorted(scenario_names(STATUS, RESPONSES, MATCHERS, PROTO_JSON))
    assert_outcomes_as_named(run)
    assert run.code == 1


def test_a_failure_names_step_file_line_expected_and_actual(run: RunResult) -> None:
    text = run.problem("failure: the exact message differs")
    assert "steps[0]" in text
    assert "scenarios/expect/status.yaml:" in text
    assert "user Blocked" in text and "user blocked" in text


def test_a_failed_response_shows_both_sides(run: RunResult) -> None:
    text = run.problem("failure: a response field differs")
    assert "response.message" in text
    assert "Hello bob" in text and "Hello alice" in text


def test_an_invalid_file_error_names_file_line_column_and_path(run: RunResult) -> None:
    text = run.problem("error: an unknown field in a request is an invalid file")
    assert "scenarios/expect/proto_json.yaml:" in text
    assert "steps[0].request.nam" in text
    text = run.problem("error: an unknown matcher operator is an invalid file")
    assert "$startswith" in text and "steps[0].expect.response.message" in text


def test_system_out_holds_the_event_log(run: RunResult) -> None:
    log = run.system_out(
        "passed: response subset, headers and trailers (values as text, matchers allowed)"
    )
    assert "stub_added" in log and "mock_call" in log and "client_call" in log
