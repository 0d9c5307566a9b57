"""A stub's `equals` / `contains` scalars that no request could hold are found at load time;
every scalar it lets through does match some request."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from scenario_runner import cli
from scenario_runner.matchers import scalar_equal
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario.fields import unknown_fields

PROTO = """syntax = "proto3";
package kinds;
message Kinds {
  string text = 1;
  bytes blob = 2;
  bool flag = 3;
  int32 small = 4;
  int64 big = 5;
  uint32 count = 6;
  double ratio = 7;
  float share = 8;
  repeated int32 numbers = 9;
  Inner inner = 10;
  map<string, int32> scores = 11;
}
message Inner { int64 id = 1; }
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ProtoRegistry:
    folder = tmp_path_factory.mktemp("kinds")
    (folder / "kinds.proto").write_text(PROTO)
    return compile_protos([folder])


def problems(registry: ProtoRegistry, value: dict[str, Any]) -> list[tuple[object, str]]:
    descriptor = registry.message_class("kinds.Kinds").DESCRIPTOR
    return list(unknown_fields(value, descriptor, ("equals",), literals=True))


@pytest.mark.parametrize(
    ("value", "where", "text"),
    [
        ({"text": 1.5}, ("equals", "text"), "text is a string field: expected text (quote"),
        ({"text": True}, ("equals", "text"), "got true (a boolean)"),
        ({"blob": False}, ("equals", "blob"), "blob is a bytes field"),
        ({"flag": "yes"}, ("equals", "flag"), "expected true or false, got string 'yes'"),
        ({"flag": 1}, ("equals", "flag"), "expected true or false, got 1 (a number)"),
        ({"small": "abc"}, ("equals", "small"), "small is an int32 field: expected an integer"),
        ({"small": 2.5}, ("equals", "small"), "got 2.5 (a number)"),
        ({"small": True}, ("equals", "small"), "expected an integer"),
        ({"big": "12x"}, ("equals", "big"), "big is an int64 field"),
        ({"count": "-"}, ("equals", "count"), "count is an uint32 field"),
        ({"ratio": "0.5"}, ("equals", "ratio"), "expected a number, unquoted, got string '0.5'"),
        ({"share": True}, ("equals", "share"), "share is a float field"),
        ({"numbers": [1, "two", 3]}, ("equals", "numbers", 1), "expected an integer"),
        ({"inner": {"id": "none"}}, ("equals", "inner", "id"), "id is an int64 field"),
        ({"scores": {"a": "lots"}}, ("equals", "scores", "a"), "expected an integer"),
    ],
)
def test_a_scalar_no_request_can_hold_is_reported_at_its_place(
    registry: ProtoRegistry, value: dict[str, Any], where: tuple[object, ...], text: str
) -> None:
    found = problems(registry, value)
    assert len(found) == 1, found
    assert found[0][0] == where
    assert text in found[0][1] and "no request can match this stub" in found[0][1]


# (what a stub says, a request field value that it matches)
MATCHING = [
    ({"text": "hi"}, {"text": "hi"}),
    ({"text": 5}, {"text": "5"}),
    ({"blob": "aGk="}, {"blob": "aGk="}),
    ({"flag": True}, {"flag": True}),
    ({"small": 7}, {"small": 7}),
    ({"small": "7"}, {"small": 7}),
    ({"small": 7.0}, {"small": 7}),
    ({"big": 123}, {"big": "123"}),
    ({"big": "-123"}, {"big": "-123"}),
    ({"count": 4}, {"count": 4}),
    ({"ratio": 0.5}, {"ratio": 0.5}),
    ({"ratio": 2}, {"ratio": 2.0}),
    ({"ratio": "NaN"}, {"ratio": "NaN"}),
    ({"share": "-Infinity"}, {"share": "-Infinity"}),
    ({"numbers": [1, "2"]}, {"numbers": [1, 2]}),
    ({"inner": {"id": 9}}, {"inner": {"id": "9"}}),
    ({"scores": {"a": 1}}, {"scores": {"a": 1}}),
]


@pytest.mark.parametrize(("stub", "request_value"), MATCHING)
def test_what_is_let_through_matches_a_real_request(
    registry: ProtoRegistry, stub: dict[str, Any], request_value: dict[str, Any]
) -> None:
    assert problems(registry, stub) == []
    cls = registry.message_class("kinds.Kinds")
    request = registry.to_json(registry.from_json(cls, request_value))
    ((key, expected),) = stub.items()
    actual = request[key]
    if isinstance(expected, dict):
        ((inner_key, expected),) = expected.items()
        actual = actual[inner_key]
    if isinstance(expected, list):
        assert all(scalar_equal(e, a) for e, a in zip(expected, actual, strict=True))
    else:
        assert scalar_equal(expected, actual), (expected, actual)


def test_templates_matchers_and_null_are_left_alone(registry: ProtoRegistry) -> None:
    value = {"small": "{{ vars.n }}", "big": {"$gt": 1}, "flag": None, "text": "{{ x }}"}
    assert problems(registry, value) == []


def test_without_literals_only_names_are_checked(registry: ProtoRegistry) -> None:
    descriptor = registry.message_class("kinds.Kinds").DESCRIPTOR
    assert list(unknown_fields({"small": "abc"}, descriptor, ("matches",), enums=False)) == []


def test_a_stub_file_reports_it_with_file_line_and_column(tmp_path: Path) -> None:
    protos = Path(__file__).resolve().parents[2] / "protos"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: a stub no request matches\n"
        "stubs:\n"
        "  - service: bookstore.v1.Orders\n"
        "    method: PlaceOrder\n"
        "    input: {equals: {lines: [{quantity: abc}]}}\n"
        "    output: {data: {order_id: o1}}\n"
        "steps:\n"
        "  - call: bookstore.v1.Orders/PlaceOrder\n"
        "    request: {customer_id: c}\n"
    )
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["validate", str(scenario), "--protos", str(protos)])
    assert code == 1
    assert f"{scenario}:5:41: stubs[0].input.equals.lines[0].quantity:" in err.getvalue()
