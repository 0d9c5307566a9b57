"""The remote client's pure parts: what a stub looks like on the wire, one merged log."""

from __future__ import annotations

from pathlib import Path

from scenario_runner.mock.stubs import build_stub
from scenario_runner.protos import compile_protos
from scenario_runner.remote.client import RemoteMock, _merged
from scenario_runner.sessions import Event

PROTOS = Path(__file__).resolve().parents[1] / "protos"


def test_a_posted_stub_carries_its_source_and_the_names_its_templates_use() -> None:
    registry = compile_protos([PROTOS], [], cache_dir=None)
    method = registry.find_call("helloworld.Greeter/SayHello")
    assert method is not None
    raw = {
        "service": "Greeter",
        "method": "SayHello",
        "input": {"equals": {"name": "alice"}},
        "output": {"data": {"message": "{{ greeting }}, {{ request.name }}"}},
    }
    context = {"greeting": "hello", "secret": "not used", "env": {"HOME": "/root"}}
    stub = build_stub(raw, method, registry, source="scenarios/a.yaml:3:5", context=context)
    body = RemoteMock("h:1", "http://h:2")._stub_body(stub)
    assert body["id"] == stub.id
    assert (body["service"], body["method"]) == ("helloworld.Greeter", "SayHello")
    assert body["source"] == "scenarios/a.yaml:3:5"
    assert body["context"] == {"greeting": "hello"}  # only what its templates read
    assert body["input"] == {"equals": {"name": "alice"}}


def test_the_log_merges_the_runners_events_and_the_mocks_calls_by_time() -> None:
    local = [
        Event("stub_added", timestamp=1.0, sequence=1),
        Event("client_call", timestamp=3.0, sequence=2),
    ]
    remote = [Event("mock_call", author="mock", timestamp=2.0, sequence=7)]
    merged = _merged(local, remote)
    assert [(e.kind, e.sequence) for e in merged] == [
        ("stub_added", 1),
        ("mock_call", 2),
        ("client_call", 3),
    ]


def test_a_mock_call_recorded_after_the_client_saw_it_still_comes_first() -> None:
    # A stream that failed: the client saw the status at 3.0 and logged its call at 3.1; the
    # loaded server recorded the call only at 3.2, after 1.5 s of work.
    local = [
        Event("stub_added", timestamp=1.0, sequence=1),
        Event("client_call", timestamp=3.1, sequence=2),
    ]
    remote = [
        Event("mock_call", {"elapsed": 1.5}, author="mock", timestamp=3.2, sequence=3),
    ]
    assert [e.kind for e in _merged(local, remote)] == ["stub_added", "mock_call", "client_call"]
