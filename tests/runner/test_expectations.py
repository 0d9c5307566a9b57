"""``expect`` checks and ``save`` paths (pure)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from scenario_runner.protos import ProtoRegistry
from scenario_runner.runner.calls import CallResult
from scenario_runner.runner.expectations import (
    PathNotFound,
    check,
    describe_mismatches,
    is_transport_problem,
    lookup,
)

VIEW: dict[str, Any] = {
    "response": {"items": [{"name": "a"}, {"name": "b", "tags": ["x", "y"]}], "n": 0},
    "responses": [{"id": 1}, {"id": 2}],
    "headers": {"x-request-id": "r-1"},
    "trailers": {},
    "status": "OK",
    "message": "",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("response", VIEW["response"]),
        ("response.items[0].name", "a"),
        ("response.items[1].tags[1]", "y"),
        ("response.items[-1].name", "b"),
        ("response.n", 0),
        ("responses[1].id", 2),
        ("headers.x-request-id", "r-1"),
        ("status", "OK"),
        ("message", ""),
        ('headers["x-request-id"]', "r-1"),
        ("response.items[1]['tags'][0]", "x"),
        ("  response.n  ", 0),
    ],
)
def test_lookup(path: str, expected: Any) -> None:
    assert lookup(VIEW, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "response.missing",
        "response.items[2]",
        "response.items[-3]",
        "response.items.name",
        "response.n[0]",
        "responses[0].id.deeper",
        "nothing",
        "response..items",
        ".response",
        "response.",
        "response[items]",
        "response.items[0]name",
        "response.items[0]]",
        "[0]",
        "",
    ],
)
def test_lookup_missing(path: str) -> None:
    with pytest.raises(PathNotFound):
        lookup(VIEW, path)


def _result(code: grpc.StatusCode, message: str = "", **extra: Any) -> CallResult:
    return CallResult(status=code, message=message, **extra)


@pytest.mark.parametrize(
    ("code", "message", "transport"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
            "Failed to connect to remote host: Connection refused",
            True,
        ),
        (grpc.StatusCode.UNAVAILABLE, "DNS resolution failed for nowhere:1", True),
        (grpc.StatusCode.UNAVAILABLE, "errors resolving nowhere: lookup failed", True),
        (grpc.StatusCode.UNAVAILABLE, "backend down", False),  # a stub said so
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "upstream too slow", False),
        (grpc.StatusCode.UNIMPLEMENTED, "Method not found!", True),
        (grpc.StatusCode.UNIMPLEMENTED, "not yet", False),
        (grpc.StatusCode.NOT_FOUND, "failed to connect", False),
    ],
)
def test_transport_problems(code: grpc.StatusCode, message: str, transport: bool) -> None:
    assert is_transport_problem(_result(code, message)) is transport


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ProtoRegistry:
    from pathlib import Path

    from scenario_runner.protos import compile_protos

    protos = Path(__file__).resolve().parents[2] / "protos"
    return compile_protos([protos])


def _book(registry: ProtoRegistry) -> Any:
    method = registry.find_call("bookstore.v1.Catalog/GetBook")
    assert method is not None
    return method.output_type.DESCRIPTOR


def test_check_status_message_and_headers(registry: ProtoRegistry) -> None:
    result = _result(
        grpc.StatusCode.NOT_FOUND,
        "no such book",
        headers={"x-count": "5", "x-flag": "true"},
        trailers={"x-t": "1.5"},
    )
    ok = check(
        {
            "status": "NOT_FOUND",
            "message": {"$regex": "^no such"},
            "headers": {"X-Count": 5, "x-flag": True},
            "trailers": {"x-t": 1.5},
        },
        result,
        _book(registry),
    )
    assert ok.ok, ok.mismatches
    assert check({"status": 5}, result, _book(registry)).ok
    bad = check({}, result, _book(registry))
    assert not bad.ok and not bad.harness_problem
    assert "expected OK, got NOT_FOUND" in describe_mismatches(bad, {}, result)


def test_check_exact_and_subset(registry: ProtoRegistry) -> None:
    response = {"isbn": "1", "title": "T", "authors": [], "stock": 0}
    result = _result(grpc.StatusCode.OK, responses=[response])
    book = _book(registry)
    assert check({"response": {"title": "T"}}, result, book).ok
    assert check({"response": dict(response), "match": "exact"}, result, book).ok
    assert check(
        {"response": {**response, "price": None, "publishedAt": None}, "match": "exact"},
        result,
        book,
    ).ok
    missing = check({"response": {"isbn": "1", "title": "T"}, "match": "exact"}, result, book)
    assert [m.path for m in missing.mismatches] == ["response.authors", "response.stock"]
    assert not check({"response": {"title": "X"}}, result, book).ok


def test_harness_problem_only_for_unexpected_transport_statuses(registry: ProtoRegistry) -> None:
    refused = _result(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert check({}, refused, _book(registry)).harness_problem
    assert check({"status": "UNAVAILABLE"}, refused, _book(registry)).ok
    stub_said = _result(grpc.StatusCode.UNAVAILABLE, "maintenance")
    assert not check({}, stub_said, _book(registry)).harness_problem


def test_a_deadline_cut_mid_stream_is_the_clients_own_but_a_servers_is_an_answer() -> None:
    def result(message: str, elapsed: float, deadline: float | None) -> CallResult:
        return CallResult(
            grpc.StatusCode.DEADLINE_EXCEEDED, message, elapsed=elapsed, deadline=deadline
        )

    assert is_transport_problem(result("Deadline Exceeded", 0.5, 0.5))
    assert is_transport_problem(result("Stream removed (Deadline Exceeded)", 0.503, 0.5))
    assert not is_transport_problem(result("Stream removed (Deadline Exceeded)", 0.1, 0.5))
    assert not is_transport_problem(result("upstream took too long", 0.6, 0.5))
    assert not is_transport_problem(result("Stream removed (Deadline Exceeded)", 0.6, None))


def test_a_long_status_message_is_shown_once(registry: ProtoRegistry) -> None:
    explanation = (
        "No matching stub found\n\nService: bookstore.v1.Catalog\nMethod: GetBook\n\n"
        'Request input:\n{\n\t"isbn": "1"\n}\n\nClosest match (stub s1):\n\nequals:\n{\n'
        '\t"isbn": "2"\n}'
    )
    result = _result(grpc.StatusCode.NOT_FOUND, explanation)
    verdict = check({"response": {"isbn": "1"}}, result, _book(registry))
    text = describe_mismatches(verdict, {"response": {"isbn": "1"}}, result)
    assert text.count("Closest match (stub s1)") == 1
    assert "  - status: expected OK, got NOT_FOUND (No matching stub found …)" in text
    assert "  actual status: NOT_FOUND, message:\n    | No matching stub found\n    |\n" in text
    short = _result(grpc.StatusCode.NOT_FOUND, "no such book")
    text = describe_mismatches(check({}, short, _book(registry)), {}, short)
    assert text.count("no such book") == 1
    assert text.splitlines() == [
        "  - status: expected OK, got NOT_FOUND (no such book)",
        "  actual status: NOT_FOUND",
    ]


def test_exact_names_the_value_of_an_unexpected_key(registry: ProtoRegistry) -> None:
    response = {"isbn": "1", "title": "Dune", "authors": [], "stock": 0}
    result = _result(grpc.StatusCode.OK, responses=[response])
    verdict = check(
        {"response": {"isbn": "1", "authors": [], "stock": 0}, "match": "exact"},
        result,
        _book(registry),
    )
    assert [str(m) for m in verdict.mismatches] == [
        "response.title: unexpected key (its value: 'Dune')"
    ]
