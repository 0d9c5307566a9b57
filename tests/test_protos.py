"""Runtime proto compilation, JSON conversion and normalisation of expected values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from scenario_runner.errors import ProtoCompileError
from scenario_runner.protos import (
    ProtoRegistry,
    compile_protos,
    normalize_expected,
    normalize_stub_input,
)

PROTOS = Path(__file__).resolve().parents[1] / "protos"

EXTRA = """\
syntax = "proto3";
package extra;
import "google/protobuf/wrappers.proto";
service Maps { rpc Get (WithMaps) returns (WithMaps); rpc Wrap (google.protobuf.StringValue)
  returns (google.protobuf.StringValue); }
enum Kind { KIND_UNSPECIFIED = 0; BIG = 1; }
message Inner { int64 n = 1; Kind kind = 2; }
message WithMaps {
  map<int32, string> by_number = 1;
  map<bool, Inner> by_flag = 2;
  map<string, Kind> kinds = 3;
  repeated Kind many = 4;
}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ProtoRegistry:
    root = tmp_path_factory.mktemp("protos")
    (root / "extra.proto").write_text(EXTRA)
    return compile_protos([PROTOS, root])


def _descriptor(registry: ProtoRegistry, call: str, output: bool = True) -> Any:
    method = registry.find_call(call)
    assert method is not None
    return (method.output_type if output else method.input_type).DESCRIPTOR


def test_services_and_methods(registry: ProtoRegistry) -> None:
    assert registry.services["bookstore.v1.Orders"] == ["PlaceOrder", "UploadBasket", "Support"]
    support = registry.find_call("/bookstore.v1.Orders/Support")
    assert support is not None and support.kind == "bidi_streaming"
    assert registry.find_call("Greeter/SayHello") is not None  # short service name
    assert registry.find_call("helloworld.Greeter/Nope") is None
    assert registry.find_call("no slash") is None


def test_to_json_has_defaults_proto_names_enum_names_and_int64_as_int(
    registry: ProtoRegistry,
) -> None:
    method = registry.find_call("bookstore.v1.Orders/PlaceOrder")
    assert method is not None
    order = registry.from_json(
        method.output_type,
        {
            "orderId": "o",
            "loyaltyPoints": "9007199254740993",
            "status": 2,
            "deliveryEstimate": "1.5s",
        },
    )
    data = registry.to_json(order)
    assert data["order_id"] == "o" and data["customer_id"] == "" and data["lines"] == []
    assert data["loyalty_points"] == 9007199254740993
    assert data["status"] == "ORDER_STATUS_CONFIRMED"
    assert data["delivery_estimate"] == "1.500s"
    assert "total" not in data and "created_at" not in data  # unset messages have no default


@pytest.mark.parametrize(
    "value",
    [5, "text", [1], None, True],
)
def test_from_json_refuses_non_objects_with_a_value_error(
    registry: ProtoRegistry, value: Any
) -> None:
    method = registry.find_call("helloworld.Greeter/SayHello")
    assert method is not None
    with pytest.raises(ValueError, match="expected a JSON object"):
        registry.from_json(method.input_type, value)


def test_from_json_accepts_well_known_types_in_their_json_form(registry: ProtoRegistry) -> None:
    method = registry.find_call("extra.Maps/Wrap")
    assert method is not None
    assert registry.from_json(method.input_type, "hello").value == "hello"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [{"name": 5}, {"name": ["a"]}, {"nope": 1}, {"name": {"a": 1}}],
)
def test_from_json_reports_bad_values_as_value_errors(registry: ProtoRegistry, value: Any) -> None:
    method = registry.find_call("helloworld.Greeter/SayHello")
    assert method is not None
    with pytest.raises(ValueError):
        registry.from_json(method.input_type, value)


def test_normalize_expected(registry: ProtoRegistry) -> None:
    order = _descriptor(registry, "bookstore.v1.Orders/PlaceOrder")
    assert normalize_expected(
        {
            "orderId": "o",
            "status": 1,
            "lines": [{"isbn": "x"}],
            "total": {"amountCents": 5},
            "createdAt": "2024-01-01T00:00:00.000Z",
            "deliveryEstimate": "90s",
            "loyalty_points": {"$gt": 5},
            "unknown": 1,
        },
        order,
    ) == {
        "order_id": "o",
        "status": "ORDER_STATUS_PENDING",
        "lines": [{"isbn": "x"}],
        "total": {"amount_cents": 5},
        "created_at": "2024-01-01T00:00:00Z",
        "delivery_estimate": "90s",
        "loyalty_points": {"$gt": 5},
        "unknown": 1,
    }
    assert normalize_expected({"$len": 2}, order) == {"$len": 2}
    assert normalize_expected("{{ not rendered }}", order) == "{{ not rendered }}"
    assert normalize_expected({"deliveryEstimate": "soon"}, order) == {"delivery_estimate": "soon"}


def test_normalize_expected_maps_and_repeated_enums(registry: ProtoRegistry) -> None:
    maps = _descriptor(registry, "extra.Maps/Get")
    assert normalize_expected(
        {
            "byNumber": {1: "one"},
            "by_flag": {True: {"kind": 1}},
            "kinds": {"a": 1},
            "many": [1, "BIG"],
        },
        maps,
    ) == {
        "by_number": {"1": "one"},
        "by_flag": {"true": {"kind": "BIG"}},
        "kinds": {"a": "BIG"},
        "many": ["BIG", "BIG"],
    }


def test_normalize_stub_input(registry: ProtoRegistry) -> None:
    order = _descriptor(registry, "bookstore.v1.Orders/PlaceOrder", output=False)
    matcher = {
        "equals": {"customerId": "c"},
        "contains": {"lines": [{"quantity": 2}]},
        "matches": {"customerId": "^c"},
        "ignoreArrayOrder": True,
    }
    assert normalize_stub_input(matcher, order) == {
        "equals": {"customer_id": "c"},
        "contains": {"lines": [{"quantity": 2}]},
        "matches": {"customerId": "^c"},
        "ignoreArrayOrder": True,
    }
    assert normalize_stub_input(None, order) is None


def test_compile_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.proto").write_text('syntax = "proto3";\nmessage X {\n  int32 a = 1\n}\n')
    with pytest.raises(ProtoCompileError, match=r"x\.proto:4:1: Expected \";\""):
        compile_protos([tmp_path / "bad"])
    with pytest.raises(ProtoCompileError, match="not found"):
        compile_protos([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProtoCompileError, match=r"no \.proto files"):
        compile_protos([tmp_path / "empty"])


def test_plain_messages_take_the_direct_path_with_json_format_results(tmp_path: Path) -> None:
    (tmp_path / "plain.proto").write_text(
        'syntax = "proto3";\npackage plain;\n'
        "enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }\n"
        "message P { string s = 1; int32 i = 2; int64 big = 3; bool b = 4; Color c = 5; }\n"
    )
    registry = compile_protos([tmp_path])
    cls = registry.message_class("plain.P")
    assert registry.plain_plan(cls.DESCRIPTOR) is not None
    for data in ({"s": "x", "i": 3, "big": 2**40, "b": True, "c": "RED"}, {}, {"c": "RED"}):
        direct = registry.from_json(cls, data)
        slow = cls()
        json_format.ParseDict(data, slow)
        assert direct == slow
        expected = json_format.MessageToDict(
            slow, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        expected["big"] = int(expected["big"])
        assert registry.to_json(direct) == expected
    # Anything the direct path cannot take goes through json_format, errors included.
    assert registry.from_json(cls, {"big": "12", "c": 1}).big == 12
    with pytest.raises(ValueError, match="s"):
        registry.from_json(cls, {"s": 5})
