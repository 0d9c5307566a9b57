"""Session logs as the admin API shows them, and replayed after a restart (pure)."""

from __future__ import annotations

from typing import Any

from scenario_runner.serve import records
from scenario_runner.sessions import Event


def event(kind: str, data: dict[str, Any], sequence: int = 1, timestamp: float = 0.0) -> Event:
    return Event(kind=kind, data=data, sequence=sequence, timestamp=timestamp, id=f"e{sequence}")


def test_call_record_of_a_unary_call() -> None:
    call = event(
        "mock_call",
        {
            "method": "helloworld.Greeter/SayHello",
            "metadata": {},
            "stub_id": "s1",
            "status": "OK",
            "message": "",
            "elapsed": 0.001,
            "request": {"name": "a"},
            "response": {"message": "hi"},
        },
        timestamp=1_700_000_000.5,
    )
    assert records.call_record(call) == {
        "service": "helloworld.Greeter",
        "method": "SayHello",
        "request": {"name": "a"},
        "response": {"message": "hi"},
        "stubId": "s1",
        "timestamp": "2023-11-14T22:13:20.500000Z",
    }


def test_call_record_of_a_failed_stream() -> None:
    call = event(
        "mock_call",
        {
            "method": "bookstore.v1.Orders/UploadBasket",
            "stub_id": None,
            "status": "NOT_FOUND",
            "message": "no stub for …",
            "requests": [{"isbn": "1"}, {"isbn": "2"}],
            "response": None,
        },
    )
    record = records.call_record(call)
    assert record["requests"] == [{"isbn": "1"}, {"isbn": "2"}]
    assert record["request"] == {"isbn": "1"}  # GripMock shows the first one too
    assert record["error"] == "no stub for …" and record["code"] == 5
    assert "stubId" not in record and "response" not in record


def test_history_starts_again_after_a_clear() -> None:
    log = [
        event("mock_call", {"method": "a/B"}, 1),
        event("history_cleared", {}, 2),
        event("stub_added", {}, 3),
        event("mock_call", {"method": "a/B"}, 4),
        event("mock_call", {"method": "a/C"}, 5),
    ]
    assert [e.sequence for e in records.history_events(log)] == [4, 5]
    assert records.count_calls(log, "a/B") == 1


def test_replay_gives_back_stubs_ttl_and_uses() -> None:
    def added(stub_id: str, message: str) -> dict[str, Any]:
        return {"stub_id": stub_id, "stub": {"id": stub_id, "output": {"data": message}}}

    log = [
        event("stub_added", added("a", "first"), 1),
        event("stub_added", added("b", "b"), 2),
        event("stub_added", added("c", "c"), 3),
        event("stub_removed", {"stub_id": "b"}, 4),
        event("stub_added", added("a", "second"), 5),
        event("session_ttl", {"ttl": 30.0}, 6),
        event("mock_call", {"stub_id": "a"}, 7),
        event("mock_call", {"stub_id": "a"}, 8),
        event("mock_call", {"stub_id": None}, 9),
    ]
    replayed = records.replay(log)
    assert list(replayed.stubs) == ["c", "a"]  # a replaced stub goes last
    assert replayed.stubs["a"]["output"] == {"data": "second"}
    assert replayed.ttl == 30.0
    assert replayed.uses == {"a": 2}
    cleared = records.replay(
        [*log, event("stubs_cleared", {}, 10), event("session_ttl", {"ttl": None}, 11)]
    )
    assert cleared.stubs == {} and cleared.ttl is None and cleared.uses == {"a": 2}
