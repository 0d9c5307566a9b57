"""Literal values a run would refuse, found at load time and located down to the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_runner.protos import ProtoRegistry, compile_protos, descriptor_of
from scenario_runner.scenario.values import (
    message_problem,
    metadata_problems,
    output_problem,
    pattern_problems,
    regex_problem,
)

PROTOS = Path(__file__).resolve().parents[2] / "protos"


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


def _problem(registry: ProtoRegistry, call: str, value: object, *, output: bool = False) -> object:
    method = registry.find_call(call)
    assert method is not None
    cls = method.output_type if output else method.input_type
    return message_problem(registry, descriptor_of(cls), value, ("request",))


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        (
            {"lines": [{"isbn": "a"}, {"quantity": "abc"}]},
            ("request", "lines", 1, "quantity"),
            'expected an integer (int32), got string "abc"',
        ),
        ({"customer_id": 5}, ("request", "customer_id"), "expected a string, got number 5"),
        ({"lines": {"isbn": "a"}}, ("request", "lines"), "expected a list, got an object"),
        (
            {"lines": [5]},
            ("request", "lines", 0),
            "expected a bookstore.v1.OrderLine object, got number 5",
        ),
        ({"gift_options": 5}, ("request", "gift_options"), "expected an object, got number 5"),
        (
            {"lines": [{"quantity": 2**40}]},
            ("request", "lines", 0, "quantity"),
            "expected an integer within the range of int32, got number 1099511627776",
        ),
        (
            "just text",
            ("request",),
            'expected a bookstore.v1.PlaceOrderRequest object, got string "just text"',
        ),
    ],
)
def test_a_request_of_the_wrong_type_is_located_at_the_field(
    registry: ProtoRegistry, value: object, path: tuple[object, ...], message: str
) -> None:
    assert _problem(registry, "bookstore.v1.Orders/PlaceOrder", value) == (path, message)


def test_well_known_types_and_enums_name_their_form(registry: ProtoRegistry) -> None:
    call = "bookstore.v1.Orders/PlaceOrder"
    where, message = _problem(registry, call, {"created_at": "yesterday"}, output=True)
    assert where == ("request", "created_at")
    assert message.startswith('expected a Timestamp in RFC 3339 (such as "2024-05-01T10:00:00Z")')
    assert "missing valid timezone offset" in message
    _, message = _problem(registry, call, {"delivery_estimate": "soon"}, output=True)
    assert message.startswith('expected a Duration (such as "1.5s"), got string "soon"')
    _, message = _problem(registry, call, {"status": "NOPE"}, output=True)
    assert message.startswith("expected one of ORDER_STATUS_UNSPECIFIED, ORDER_STATUS_PENDING")


def test_valid_values_and_templates_pass(registry: ProtoRegistry) -> None:
    call = "bookstore.v1.Orders/PlaceOrder"
    assert _problem(registry, call, {"customer_id": "c", "lines": [{"quantity": "3"}]}) is None
    assert _problem(registry, call, {"customer_id": "{{ who }}", "lines": "{{ lines }}"}) is None
    assert _problem(registry, call, "{{ request }}") is None
    # a template in a list leaves the list out, so that indexes stay true
    assert _problem(registry, call, {"lines": ["{{ a }}", 5], "customer_id": 1}) == (
        ("request", "customer_id"),
        "expected a string, got number 1",
    )


def test_outputs_are_built_as_the_mock_would(registry: ProtoRegistry) -> None:
    method = registry.find_call("helloworld.Greeter/SayHello")
    assert method is not None

    def problem(output: object) -> object:
        return output_problem(registry, method, output, ("stubs", 0))

    assert problem({"data": {"message": "hi"}}) is None
    assert problem({"data": {"message": 5}}) == (
        ("stubs", 0, "output", "data", "message"),
        "expected a string, got number 5",
    )
    assert problem({"data": "hello"}) == (
        ("stubs", 0, "output"),
        "invalid stub: output.data is a string: add `template: true` to make it a template",
    )
    where, message = problem(
        {
            "error": "x",
            "code": 3,
            "details": [
                {"@type": "google.protobuf.StringValue", "value": "a"},
                {"@type": "nope.Nope"},
            ],
        }
    )
    assert where == ("stubs", 0, "output", "details", 1)
    assert message.startswith("@type 'nope.Nope' is not a message of the loaded protos")
    assert problem({"data": {"message": "hi"}, "details": [{"type": "google.protobuf.Empty"}]}) == (
        ("stubs", 0, "output"),
        "invalid stub: output.details needs output.error or a non-OK output.code",
    )
    # Jinja templates in the static parts are checked once rendered, at registration
    assert problem({"data": {"message": "hi"}, "code": "{{ code }}"}) is None


def test_stub_patterns_are_checked_in_every_matcher_block() -> None:
    stub = {
        "input": {"matches": {"name": "([A-"}, "anyOf": [{"glob": {"name": "[a-"}}]},
        "inputs": [{"matches": {"items": [{"isbn": "ok.*"}, {"isbn": "*bad"}]}}],
        "stream": [{"matches": {"x": "(?P<"}}],
        "headers": {"matches": {"x-a": "{{ pattern }}", "x-b": "\\"}},
    }
    found = dict(pattern_problems(stub, ("stubs", 2)))
    assert set(found) == {
        ("stubs", 2, "input", "matches", "name"),
        ("stubs", 2, "input", "anyOf", 0, "glob", "name"),
        ("stubs", 2, "inputs", 0, "matches", "items", 1, "isbn"),
        ("stubs", 2, "stream", 0, "matches", "x"),
        ("stubs", 2, "headers", "matches", "x-b"),
    }
    assert found[("stubs", 2, "input", "matches", "name")] == (
        "'([A-' is not a valid regular expression: unterminated character set at position 1"
    )
    assert "not a valid glob pattern" in found[("stubs", 2, "input", "anyOf", 0, "glob", "name")]


def test_absurd_regexes_are_refused_not_raised() -> None:
    assert regex_problem("a{1,99999999999}") is not None
    assert regex_problem("^ok$") is None


def test_metadata_gRPC_refuses() -> None:
    found = metadata_problems({"Bad Key": "x", "x-ok": 5, "x-bin": "\x00", "x-a": "é"}, ("m",))
    assert [path for path, _ in found] == [("m", "Bad Key"), ("m", "x-a")]
