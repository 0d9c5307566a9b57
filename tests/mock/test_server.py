"""The embedded mock over real loopback gRPC: every RPC kind, sessions, errors, cancellation.

One ``MockServer`` per module (protos compiled once); every test gets a fresh stub store and
session hub on it, and its own session id, so tests never see each other's stubs.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc import aio

from scenario_runner.mock import server as server_module
from scenario_runner.mock.hub import SessionHub
from scenario_runner.mock.server import AnsweredCall, MockServer, request_reader
from scenario_runner.mock.store import StubStore
from scenario_runner.mock.stubs import Stub, build_stub
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.runner.calls import CallResult, invoke

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROTOS = Path(__file__).resolve().parents[2] / "protos"
SAY_HELLO = "helloworld.Greeter/SayHello"
LIST_BOOKS = "bookstore.v1.Catalog/ListBooks"
UPLOAD = "bookstore.v1.Orders/UploadBasket"
SUPPORT = "bookstore.v1.Orders/Support"


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(registry: ProtoRegistry) -> AsyncIterator[tuple[MockServer, aio.Channel]]:
    mock = MockServer(registry)
    port = await mock.start()
    channel = aio.insecure_channel(f"127.0.0.1:{port}")
    await channel.channel_ready()
    yield mock, channel
    await channel.close()
    await mock.stop(None)


class Env:
    """A test's view of the shared server: its own session, store and hub."""

    def __init__(self, mock: MockServer, channel: aio.Channel, registry: ProtoRegistry) -> None:
        self.mock = mock
        self.channel = channel
        self.registry = registry
        self.session = f"s-{uuid.uuid4().hex[:8]}"

    def method(self, call: str) -> Any:
        method = self.registry.find_call(call)
        assert method is not None, call
        return method

    def stub(self, raw: dict[str, Any], session: str | None = "", **kw: Any) -> Stub:
        """Build and register a stub (in this test's session unless ``session`` says)."""
        service, _, name = raw.pop("call").partition("/")
        raw = {"service": service, "method": name, **raw}
        built = build_stub(raw, self.method(f"{service}/{name}"), self.registry, **kw)
        self.mock.store.add(self.session if session == "" else session, [built])
        return built

    def encode(self, call: str, data: dict[str, Any]) -> bytes:
        return self.registry.from_json(self.method(call).input_type, data).SerializeToString()

    def decode(self, call: str, blob: bytes) -> dict[str, Any]:
        return self.registry.to_json(self.method(call).output_type.FromString(blob))

    def metadata(
        self, session: str | None = None, extra: Sequence[tuple[str, str]] = ()
    ) -> list[tuple[str, str]]:
        return [("x-mock-session", session or self.session), *extra]

    async def call(
        self,
        call: str,
        *requests: dict[str, Any],
        session: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float | None = 5,
    ) -> CallResult:
        blobs = [self.encode(call, r) for r in requests] or [b""]
        return await invoke(
            self.channel,
            self.registry,
            self.method(call),
            blobs,
            self.metadata(session, metadata),
            timeout,
        )

    async def events(self, session: str | None = None, count: int = 0) -> list[dict[str, Any]]:
        """The session's mock_call events, waiting (bounded) until at least ``count`` exist."""
        deadline = time.monotonic() + 2
        while True:
            events = await self.mock.hub.events(session or self.session, kinds=("mock_call",))
            if len(events) >= count or time.monotonic() > deadline:
                return [e.data for e in events]
            await asyncio.sleep(0.005)


@pytest.fixture
def env(running: tuple[MockServer, aio.Channel], registry: ProtoRegistry) -> Env:
    mock, channel = running
    mock.store = StubStore()
    mock.hub = SessionHub()
    return Env(mock, channel, registry)


def hello(name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "call": SAY_HELLO,
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": message}},
        **extra,
    }


# -- unary: matching ---------------------------------------------------------------------------


async def test_a_static_answer_is_recorded_like_any_other_call(env: Env) -> None:
    """The inline path (static reply) records what the general path records."""
    stub = env.stub(hello("ada", "hi ada"))
    result = await env.call(SAY_HELLO, {"name": "ada"}, metadata=(("x-extra", "1"),))
    assert result.status is grpc.StatusCode.OK
    (event,) = await env.events(count=1)
    assert event["method"] == "helloworld.Greeter/SayHello"
    assert event["stub_id"] == stub.id
    assert event["status"] == "OK"
    assert event["message"] == ""
    assert event["request"] == {"name": "ada"}
    assert event["response"] == {"message": "hi ada"}
    assert event["metadata"]["x-extra"] == "1"
    assert event["metadata"]["x-mock-session"] == env.session
    assert 0 <= event["elapsed"] < 5


async def test_an_inline_answer_and_a_general_one_make_the_same_event(env: Env) -> None:
    env.stub(hello("ada", "hi ada"))  # a static reply: answered inline
    env.stub({**hello("bob", "hi bob"), "output": {"data": {"message": "hi bob"}, "delay": "1ms"}})
    await env.call(SAY_HELLO, {"name": "ada"})
    await env.call(SAY_HELLO, {"name": "bob"})
    await env.events(count=2)
    inline, general = await env.mock.hub.events(env.session, kinds=("mock_call",))
    assert set(inline.data) == set(general.data)
    assert (inline.data["request"], general.data["request"]) == ({"name": "ada"}, {"name": "bob"})
    for event in (inline, general):
        assert (event.kind, event.author, event.state_delta) == ("mock_call", "mock", {})
    assert inline.id != general.id and (inline.sequence, general.sequence) == (1, 2)
    assert 0 < general.timestamp - inline.timestamp < 5
    assert isinstance(inline, AnsweredCall) and not isinstance(general, AnsweredCall)
    assert inline.data is not inline.data, "made when read: the request is kept as its bytes"


async def test_unary_equals_contains_matches(env: Env) -> None:
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"equals": {"name": "alice"}},
            "output": {"data": {"message": "eq"}},
        }
    )
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"contains": {"name": "bob"}},
            "output": {"data": {"message": "co"}},
        }
    )
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"matches": {"name": "^car.l$"}},
            "output": {"data": {"message": "re"}},
        }
    )
    assert (await env.call(SAY_HELLO, {"name": "alice"})).response == {"message": "eq"}
    assert (await env.call(SAY_HELLO, {"name": "bob"})).response == {"message": "co"}
    assert (await env.call(SAY_HELLO, {"name": "carol"})).response == {"message": "re"}
    assert (await env.call(SAY_HELLO, {"name": "carel"})).response == {"message": "re"}
    missed = await env.call(SAY_HELLO, {"name": "alicia"})
    assert missed.status is grpc.StatusCode.NOT_FOUND


async def test_unary_headers_matching(env: Env) -> None:
    env.stub({**hello("a", "tenant-1"), "headers": {"equals": {"x-tenant": "t1"}}})
    env.stub({**hello("a", "beta"), "headers": {"matches": {"x-flags": "beta"}}})
    t1 = await env.call(SAY_HELLO, {"name": "a"}, metadata=[("x-tenant", "t1")])
    assert t1.response == {"message": "tenant-1"}
    beta = await env.call(SAY_HELLO, {"name": "a"}, metadata=[("x-flags", "x,beta,y")])
    assert beta.response == {"message": "beta"}
    none = await env.call(SAY_HELLO, {"name": "a"}, metadata=[("x-tenant", "t2")])
    assert none.status is grpc.StatusCode.NOT_FOUND


async def test_unary_priority_beats_specificity(env: Env) -> None:
    env.stub(hello("a", "specific"))
    env.stub({"call": SAY_HELLO, "priority": 5, "output": {"data": {"message": "catch-all"}}})
    assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "catch-all"}


async def test_unary_most_declared_fields_wins(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"data": {"message": "any"}}})
    env.stub(hello("a", "exact"))
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"matches": {"name": "^a"}},
            "output": {"data": {"message": "re"}},
        }
    )
    env.stub(
        {**hello("a", "exact+header"), "headers": {"equals": {"x-tenant": "t1"}}},
    )
    assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "exact"}
    with_header = await env.call(SAY_HELLO, {"name": "a"}, metadata=[("x-tenant", "t1")])
    assert with_header.response == {"message": "exact+header"}
    assert (await env.call(SAY_HELLO, {"name": "zed"})).response == {"message": "any"}


async def test_session_stub_beats_global_then_declaration_order(env: Env) -> None:
    env.stub(hello("a", "global"), session=None)
    env.stub(hello("a", "session-first"))
    env.stub(hello("a", "session-second"))
    assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "session-first"}
    # Another session sees only the global stub.
    other = await env.call(SAY_HELLO, {"name": "a"}, session="someone-else")
    assert other.response == {"message": "global"}
    # Among global stubs, the first declared wins.
    env.stub(hello("b", "g1"), session=None)
    env.stub(hello("b", "g2"), session=None)
    assert (await env.call(SAY_HELLO, {"name": "b"})).response == {"message": "g1"}


async def test_times_exhaustion_then_not_found(env: Env) -> None:
    env.stub({**hello("a", "twice"), "options": {"times": 2}})
    for _ in range(2):
        assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "twice"}
    third = await env.call(SAY_HELLO, {"name": "a"})
    assert third.status is grpc.StatusCode.NOT_FOUND


async def test_times_exhausted_stub_lets_the_next_one_answer(env: Env) -> None:
    env.stub({**hello("a", "first"), "priority": 1, "options": {"times": 1}})
    env.stub(hello("a", "fallback"))
    assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "first"}
    assert (await env.call(SAY_HELLO, {"name": "a"})).response == {"message": "fallback"}


# -- unary: outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PERMISSION_DENIED", grpc.StatusCode.PERMISSION_DENIED),
        (7, grpc.StatusCode.PERMISSION_DENIED),
        ("FailedPrecondition", grpc.StatusCode.FAILED_PRECONDITION),
        (None, grpc.StatusCode.UNKNOWN),
    ],
)
async def test_unary_error_and_code(env: Env, code: Any, expected: grpc.StatusCode) -> None:
    output: dict[str, Any] = {"error": "nope"}
    if code is not None:
        output["code"] = code
    env.stub({"call": SAY_HELLO, "output": output})
    result = await env.call(SAY_HELLO, {"name": "a"})
    assert result.status is expected
    assert result.message == "nope"
    assert result.responses == []
    (event,) = await env.events(count=1)
    assert event["status"] == expected.name
    assert event["message"] == "nope"
    assert event["response"] is None


async def test_unary_delay(env: Env) -> None:
    env.stub({**hello("a", "late"), "output": {"data": {"message": "late"}, "delay": "150ms"}})
    started = time.perf_counter()
    result = await env.call(SAY_HELLO, {"name": "a"})
    elapsed = time.perf_counter() - started
    assert result.response == {"message": "late"}
    assert elapsed >= 0.15


async def test_unary_response_headers_and_trailers(env: Env) -> None:
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"equals": {"name": "ok"}},
            "output": {
                "data": {"message": "hi"},
                "headers": {"X-Served-By": "mock", "x-count": 3},
                "trailers": {"x-trace": "abc", "x-flag": True},
            },
        }
    )
    env.stub(
        {
            "call": SAY_HELLO,
            "input": {"equals": {"name": "err"}},
            "output": {
                "error": "denied",
                "code": "PERMISSION_DENIED",
                "headers": {"x-served-by": "mock"},
                "trailers": {"x-reason": "policy"},
            },
        }
    )
    ok = await env.call(SAY_HELLO, {"name": "ok"})
    assert ok.status is grpc.StatusCode.OK
    assert ok.headers["x-served-by"] == "mock"
    assert ok.headers["x-count"] == "3"
    assert ok.trailers["x-trace"] == "abc"
    assert ok.trailers["x-flag"] == "true"
    err = await env.call(SAY_HELLO, {"name": "err"})
    assert err.status is grpc.StatusCode.PERMISSION_DENIED
    # An error is a trailers-only answer: the stub's headers come with the trailers.
    assert err.trailers["x-served-by"] == "mock"
    assert err.trailers["x-reason"] == "policy"


async def test_unary_templates(env: Env) -> None:
    env.stub(
        {
            "call": SAY_HELLO,
            "output": {
                "data": {"message": "{{ request.name }}@{{ headers['x-tenant'] }} #{{ attempt }}"}
            },
        }
    )
    tenant = [("x-tenant", "acme")]
    first = await env.call(SAY_HELLO, {"name": "ann"}, metadata=tenant)
    second = await env.call(SAY_HELLO, {"name": "ben"}, metadata=tenant)
    assert first.response == {"message": "ann@acme #1"}
    assert second.response == {"message": "ben@acme #2"}
    events = await env.events(count=2)
    assert [e["response"] for e in events] == [first.response, second.response]


async def test_templated_error_message(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"error": "no user {{ request.name }}", "code": 5}})
    result = await env.call(SAY_HELLO, {"name": "zoe"})
    assert result.status is grpc.StatusCode.NOT_FOUND
    assert result.message == "no user zoe"


async def test_template_error_is_internal_and_recorded(env: Env) -> None:
    stub = env.stub({"call": SAY_HELLO, "output": {"data": {"message": "{{ request.missing }}"}}})
    result = await env.call(SAY_HELLO, {"name": "a"})
    assert result.status is grpc.StatusCode.INTERNAL
    assert "missing" in result.message
    (event,) = await env.events(count=1)
    assert event["status"] == "INTERNAL"
    assert event["stub_id"] == stub.id
    assert "missing" in event["error"]


async def test_rendered_output_that_does_not_fit_is_internal(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"data": {"nope": "{{ request.name }}"}}})
    result = await env.call(SAY_HELLO, {"name": "a"})
    assert result.status is grpc.StatusCode.INTERNAL
    (event,) = await env.events(count=1)
    assert "does not fit" in event["error"]


async def test_not_found_message_names_everything(env: Env) -> None:
    close = env.stub({**hello("alice", "hi"), "id": "close-one"})
    env.stub(
        {**hello("zzzzzz", "far"), "id": "far-one", "input": {"equals": {"name": "x", "nope": 1}}}
    )
    result = await env.call(SAY_HELLO, {"name": "alicia"})
    assert result.status is grpc.StatusCode.NOT_FOUND
    assert "helloworld.Greeter" in result.message
    assert "SayHello" in result.message
    assert result.message.startswith("No matching stub found\n\nService: helloworld.Greeter")
    assert '"name": "alicia"' in result.message
    assert close.id in result.message
    assert "far-one" not in result.message
    (event,) = await env.events(count=1)
    assert event["status"] == "NOT_FOUND"
    assert event["stub_id"] is None
    assert event["request"] == {"name": "alicia"}


async def test_not_found_without_any_stub(env: Env) -> None:
    result = await env.call(SAY_HELLO, {"name": "a"})
    assert result.status is grpc.StatusCode.NOT_FOUND
    assert result.message.endswith("No similar stubs found.")


async def test_unknown_method_is_unimplemented(env: Env) -> None:
    call = env.channel.unary_unary("/helloworld.Greeter/SayGoodbye")
    with pytest.raises(aio.AioRpcError) as info:
        await call(b"", metadata=env.metadata(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    other = env.channel.unary_unary("/no.such.Service/Method")
    with pytest.raises(aio.AioRpcError) as info:
        await other(b"", timeout=5)
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_undecodable_request_is_invalid_argument(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"data": {"message": "x"}}})
    call = env.channel.unary_unary(env.method(SAY_HELLO).path)
    with pytest.raises(aio.AioRpcError) as info:
        await call(b"\xff\xff\xff", metadata=env.metadata(), timeout=5)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    (event,) = await env.events(count=1)
    assert event["status"] == "INVALID_ARGUMENT"


async def test_repeated_header_is_joined_for_matching(env: Env) -> None:
    env.stub({**hello("a", "both"), "headers": {"equals": {"x-role": "admin;ops"}}})
    result = await env.call(
        SAY_HELLO, {"name": "a"}, metadata=[("x-role", "admin"), ("x-role", "ops")]
    )
    assert result.response == {"message": "both"}


async def test_the_same_request_bytes_are_matched_afresh_and_recorded_apart(env: Env) -> None:
    """Repeated request bytes are decoded once; nothing a call does reaches the next one."""
    env.stub(hello("a", "first"), session="one")
    env.stub(
        {"call": SAY_HELLO, "output": {"data": {"message": "{{ request.pop('name') }}"}}},
        session="two",
    )
    env.stub(hello("a", "third"), session="three")
    assert (await env.call(SAY_HELLO, {"name": "a"}, session="one")).response == {
        "message": "first"
    }
    refused = await env.call(SAY_HELLO, {"name": "a"}, session="two")
    assert refused.status is grpc.StatusCode.INTERNAL
    assert (await env.call(SAY_HELLO, {"name": "a"}, session="three")).response == {
        "message": "third"
    }
    (one,), (two,), (three,) = [await env.events(s, count=1) for s in ("one", "two", "three")]
    assert one["request"] == two["request"] == three["request"] == {"name": "a"}
    assert one["request"] is not three["request"]


async def test_remembered_requests_are_bounded(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "_DECODED_KEPT", 3)
    monkeypatch.setattr(server_module, "_DECODED_SIZE", 20)
    env.mock._decoded.clear()
    env.stub({"call": SAY_HELLO, "output": {"data": {"message": "any"}}})
    for name in ("a", "b", "c", "d", "e", "x" * 30):
        assert (await env.call(SAY_HELLO, {"name": name})).response == {"message": "any"}
        assert len(env.mock._decoded) <= 3
    assert all(len(raw) <= 20 for _, raw in env.mock._decoded), "a large request was kept"


# -- sessions ----------------------------------------------------------------------------------


async def test_sessions_never_see_each_other(env: Env) -> None:
    env.stub(hello("a", "from s1"), session="s1")
    env.stub(hello("a", "from s2"), session="s2")

    async def many(session: str) -> set[str]:
        results = await asyncio.gather(
            *(env.call(SAY_HELLO, {"name": "a"}, session=session) for _ in range(20))
        )
        return {r.response["message"] for r in results if r.response}

    s1, s2 = await asyncio.gather(many("s1"), many("s2"))
    assert s1 == {"from s1"}
    assert s2 == {"from s2"}
    assert (
        await env.call(SAY_HELLO, {"name": "a"}, session="s3")
    ).status is grpc.StatusCode.NOT_FOUND
    e1 = await env.events("s1", count=20)
    e2 = await env.events("s2", count=20)
    assert len(e1) == len(e2) == 20
    assert {e["response"]["message"] for e in e1} == {"from s1"}
    assert {e["metadata"]["x-mock-session"] for e in e2} == {"s2"}


async def test_alias_session_header(env: Env) -> None:
    env.stub(hello("a", "aliased"), session="gm")
    call = env.channel.unary_unary(env.method(SAY_HELLO).path)
    blob = await call(
        env.encode(SAY_HELLO, {"name": "a"}), metadata=[("x-gripmock-session", "gm")], timeout=5
    )
    assert env.decode(SAY_HELLO, blob) == {"message": "aliased"}
    (event,) = await env.events("gm", count=1)
    assert event["response"] == {"message": "aliased"}


async def test_times_counts_per_session_for_a_global_stub(env: Env) -> None:
    env.stub({**hello("a", "once"), "options": {"times": 1}}, session=None)
    for session in ("p", "q"):
        assert (await env.call(SAY_HELLO, {"name": "a"}, session=session)).response == {
            "message": "once"
        }
        again = await env.call(SAY_HELLO, {"name": "a"}, session=session)
        assert again.status is grpc.StatusCode.NOT_FOUND


# -- server streaming --------------------------------------------------------------------------


def books(*isbns: str) -> list[dict[str, Any]]:
    return [{"isbn": isbn, "title": f"Book {isbn}"} for isbn in isbns]


def isbns(result: CallResult) -> list[str]:
    return [r["isbn"] for r in result.responses]


async def test_server_stream_in_order_with_headers_and_trailers(env: Env) -> None:
    env.stub(
        {
            "call": LIST_BOOKS,
            "input": {"equals": {"shelf": "sf"}},
            "output": {
                "stream": books("1", "2", "3"),
                "headers": {"x-kind": "stream"},
                "trailers": {"x-count": "3"},
            },
        }
    )
    result = await env.call(LIST_BOOKS, {"shelf": "sf"})
    assert result.status is grpc.StatusCode.OK
    assert isbns(result) == ["1", "2", "3"]
    assert result.headers["x-kind"] == "stream"
    assert result.trailers["x-count"] == "3"
    (event,) = await env.events(count=1)
    assert [r["isbn"] for r in event["responses"]] == ["1", "2", "3"]
    assert event["request"]["shelf"] == "sf"


async def test_server_stream_delay_before_each_message(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "output": {"stream": books("1", "2", "3"), "delay": "50ms"}})
    call = env.channel.unary_stream(env.method(LIST_BOOKS).path)(
        env.encode(LIST_BOOKS, {}), metadata=env.metadata(), timeout=5
    )
    started = time.perf_counter()
    arrivals = []
    async for _ in call:
        arrivals.append(time.perf_counter() - started)
    assert len(arrivals) == 3
    assert arrivals[0] >= 0.05
    assert arrivals[1] - arrivals[0] >= 0.04
    assert arrivals[2] >= 0.15


async def test_server_stream_then_error(env: Env) -> None:
    env.stub(
        {
            "call": LIST_BOOKS,
            "output": {
                "stream": books("1", "2"),
                "error": "shelf on fire",
                "code": "ABORTED",
                "headers": {"x-kind": "stream"},
                "trailers": {"x-why": "fire"},
            },
        }
    )
    result = await env.call(LIST_BOOKS, {"shelf": "x"})
    assert isbns(result) == ["1", "2"]
    assert result.status is grpc.StatusCode.ABORTED
    assert result.message == "shelf on fire"
    assert result.headers["x-kind"] == "stream"
    assert result.trailers["x-why"] == "fire"
    (event,) = await env.events(count=1)
    assert event["status"] == "ABORTED"
    assert len(event["responses"]) == 2


async def test_server_stream_empty_completes_ok(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "output": {"stream": [], "trailers": {"x-empty": "1"}}})
    result = await env.call(LIST_BOOKS, {})
    assert result.status is grpc.StatusCode.OK
    assert result.responses == []
    assert result.trailers["x-empty"] == "1"


async def test_server_stream_data_is_one_message(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "output": {"data": {"isbn": "solo"}}})
    assert isbns(await env.call(LIST_BOOKS, {})) == ["solo"]


async def test_server_stream_templates(env: Env) -> None:
    env.stub(
        {
            "call": LIST_BOOKS,
            "output": {"stream": [{"isbn": "{{ request.shelf }}-{{ attempt }}"}, {"isbn": "b"}]},
        }
    )
    assert isbns(await env.call(LIST_BOOKS, {"shelf": "s"})) == ["s-1", "b"]
    assert isbns(await env.call(LIST_BOOKS, {"shelf": "t"})) == ["t-2", "b"]


async def test_server_stream_not_found(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "input": {"equals": {"shelf": "a"}}, "output": {"stream": []}})
    result = await env.call(LIST_BOOKS, {"shelf": "b"})
    assert result.status is grpc.StatusCode.NOT_FOUND
    assert "Service: bookstore.v1.Catalog\nMethod: ListBooks" in result.message


async def test_server_stream_deadline_mid_stream(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "output": {"stream": books(*"12345678"), "delay": "100ms"}})
    result = await env.call(LIST_BOOKS, {}, timeout=0.35)
    assert result.status is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 2 <= len(result.responses) <= 3
    (event,) = await env.events(count=1)
    assert event["status"] == "DEADLINE_EXCEEDED"
    assert [r["isbn"] for r in event["responses"]] == isbns(result)


async def test_unary_deadline_during_delay_is_recorded(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"data": {"message": "x"}, "delay": "1s"}})
    result = await env.call(SAY_HELLO, {"name": "a"}, timeout=0.1)
    assert result.status is grpc.StatusCode.DEADLINE_EXCEEDED
    (event,) = await env.events(count=1)
    assert event["status"] == "DEADLINE_EXCEEDED"
    assert event["response"] is None


async def _tasks_settle(baseline: int, timeout: float = 2.0) -> int:
    deadline = time.monotonic() + timeout
    while len(asyncio.all_tasks()) > baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return len(asyncio.all_tasks())


async def test_cancelled_stream_leaves_no_task_behind(env: Env) -> None:
    env.stub({"call": LIST_BOOKS, "output": {"stream": books(*"123456"), "delay": "200ms"}})
    # Without a delay: 4 MB, far more than flow control lets through before the cancel.
    big = [{"isbn": str(i), "title": "x" * 10_000} for i in range(400)]
    env.stub(
        {"call": LIST_BOOKS, "input": {"equals": {"shelf": "fast"}}, "output": {"stream": big}}
    )
    path = env.method(LIST_BOOKS).path
    baseline = len(asyncio.all_tasks())
    for shelf, events in (("slow", 1), ("fast", 2)):
        call = env.channel.unary_stream(path)(
            env.encode(LIST_BOOKS, {"shelf": shelf}), metadata=env.metadata(), timeout=10
        )
        assert (await call.read()) is not aio.EOF  # the handler is running, mid-stream
        assert len(asyncio.all_tasks()) > baseline
        call.cancel()
        recorded = await env.events(count=events)
        assert len(recorded) == events, "the handler's finally did not run"
        assert recorded[-1]["status"] == "CANCELLED", shelf
        assert 1 <= len(recorded[-1]["responses"]) < (6 if shelf == "slow" else 2000)
        assert await _tasks_settle(baseline) == baseline


async def test_cancelled_calls_do_not_grow_memory(env: Env) -> None:
    stub = {"call": LIST_BOOKS, "output": {"stream": books(*"123"), "delay": "10s"}}
    env.stub({**stub, "output": {**stub["output"], "headers": {"x-started": "1"}}}, session=None)
    path = env.method(LIST_BOOKS).path
    request = env.encode(LIST_BOOKS, {})

    async def cancelled_call() -> None:
        call = env.channel.unary_stream(path)(request, metadata=env.metadata("mem"), timeout=20)
        await call.initial_metadata()  # sent before the first delay: the handler is waiting
        call.cancel()

    baseline = len(asyncio.all_tasks())
    for _ in range(3):  # warm-up: lazily created state, caches
        await asyncio.gather(*(cancelled_call() for _ in range(20)))
    await _tasks_settle(baseline)
    env.mock.store.drop_session("mem")
    await env.mock.hub.close("mem")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(10):
            await asyncio.gather(*(cancelled_call() for _ in range(20)))
        assert await _tasks_settle(baseline) == baseline
        assert len(await env.events("mem", count=200)) == 200
        env.mock.store.drop_session("mem")
        await env.mock.hub.close("mem")
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # A handler task left behind per call would be several KB each: 200 of them, far more.
    assert grown < 100 * 1024, f"memory grew by {grown} bytes over 200 cancelled calls"


# -- client streaming --------------------------------------------------------------------------


def order(order_id: str) -> dict[str, Any]:
    return {"data": {"order_id": order_id}}


async def test_client_stream_inputs_one_element_every_message(env: Env) -> None:
    env.stub({"call": UPLOAD, "inputs": [{"matches": {"isbn": "^97"}}], "output": order("all-97")})
    ok = await env.call(UPLOAD, {"isbn": "971"}, {"isbn": "972"}, {"isbn": "973"})
    assert ok.response is not None and ok.response["order_id"] == "all-97"
    bad = await env.call(UPLOAD, {"isbn": "971"}, {"isbn": "123"})
    assert bad.status is grpc.StatusCode.NOT_FOUND
    assert "UploadBasket" in bad.message


async def test_client_stream_inputs_positional(env: Env) -> None:
    env.stub(
        {
            "call": UPLOAD,
            "inputs": [
                {"equals": {"isbn": "a", "quantity": 1}},
                {"equals": {"isbn": "b"}},
            ],
            "output": {**order("ab"), "headers": {"x-k": "cs"}, "trailers": {"x-t": "cs"}},
        }
    )
    ok = await env.call(UPLOAD, {"isbn": "a", "quantity": 1}, {"isbn": "b", "quantity": 7})
    assert ok.response is not None and ok.response["order_id"] == "ab"
    assert ok.headers["x-k"] == "cs"
    assert ok.trailers["x-t"] == "cs"
    swapped = await env.call(UPLOAD, {"isbn": "b"}, {"isbn": "a", "quantity": 1})
    assert swapped.status is grpc.StatusCode.NOT_FOUND
    longer = await env.call(UPLOAD, {"isbn": "a", "quantity": 1}, {"isbn": "b"}, {"isbn": "b"})
    assert longer.status is grpc.StatusCode.NOT_FOUND
    shorter = await env.call(UPLOAD, {"isbn": "a", "quantity": 1})
    assert shorter.status is grpc.StatusCode.NOT_FOUND


async def test_client_stream_single_input_any_message(env: Env) -> None:
    env.stub({"call": UPLOAD, "input": {"equals": {"isbn": "x"}}, "output": order("has-x")})
    ok = await env.call(UPLOAD, {"isbn": "a"}, {"isbn": "x"}, {"isbn": "b"})
    assert ok.response is not None and ok.response["order_id"] == "has-x"
    assert (await env.call(UPLOAD, {"isbn": "a"})).status is grpc.StatusCode.NOT_FOUND
    events = await env.events(count=2)
    assert [m["isbn"] for m in events[0]["requests"]] == ["a", "x", "b"]
    assert events[0]["response"]["order_id"] == "has-x"
    assert [m["isbn"] for m in events[1]["requests"]] == ["a"]


async def test_client_stream_error(env: Env) -> None:
    env.stub(
        {
            "call": UPLOAD,
            "output": {"error": "too many", "code": "RESOURCE_EXHAUSTED", "trailers": {"x-t": "e"}},
        }
    )
    result = await env.call(UPLOAD, {"isbn": "a"})
    assert result.status is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert result.trailers["x-t"] == "e"


# -- bidi ----------------------------------------------------------------------------------------


async def test_bidi_interleaved(env: Env) -> None:
    env.stub(
        {
            "call": SUPPORT,
            "inputs": [{"equals": {"text": "hi"}}, {"equals": {"text": "where?"}}],
            "output": {
                "stream": [{"text": "hello"}, {"text": "on its way"}],
                "headers": {"x-k": "bidi"},
                "trailers": {"x-t": "bidi"},
            },
        }
    )
    call = env.channel.stream_stream(env.method(SUPPORT).path)(metadata=env.metadata(), timeout=5)
    await call.write(env.encode(SUPPORT, {"text": "hi"}))
    first = await call.read()
    assert isinstance(first, bytes)
    assert env.decode(SUPPORT, first)["text"] == "hello"
    assert dict(await call.initial_metadata())["x-k"] == "bidi"
    await call.write(env.encode(SUPPORT, {"text": "where?"}))
    second = await call.read()
    assert isinstance(second, bytes)
    assert env.decode(SUPPORT, second)["text"] == "on its way"
    await call.done_writing()
    assert (await call.read()) is aio.EOF
    assert await call.code() is grpc.StatusCode.OK
    assert dict(await call.trailing_metadata())["x-t"] == "bidi"
    (event,) = await env.events(count=1)
    assert [m["text"] for m in event["requests"]] == ["hi", "where?"]
    assert [m["text"] for m in event["responses"]] == ["hello", "on its way"]


async def test_bidi_unmatched_message_ends_with_not_found(env: Env) -> None:
    env.stub(
        {
            "call": SUPPORT,
            "input": {"equals": {"order_id": "o1"}},
            "output": {"stream": [{"text": "ok"}]},
        }
    )
    call = env.channel.stream_stream(env.method(SUPPORT).path)(metadata=env.metadata(), timeout=5)
    await call.write(env.encode(SUPPORT, {"order_id": "o1", "text": "q1"}))
    assert isinstance(await call.read(), bytes)
    await call.write(env.encode(SUPPORT, {"order_id": "o2", "text": "q2"}))
    with pytest.raises(aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert await call.code() is grpc.StatusCode.NOT_FOUND
    details = await call.details()
    assert "Method: Support" in details and '"o2"' in details and '"o1"' in details
    (event,) = await env.events(count=1)
    assert event["status"] == "NOT_FOUND"
    assert len(event["requests"]) == 2
    assert len(event["responses"]) == 1


async def test_bidi_error_after_stream(env: Env) -> None:
    env.stub(
        {
            "call": SUPPORT,
            "output": {"stream": [{"text": "a"}], "error": "closed", "code": "UNAVAILABLE"},
        }
    )
    result = await env.call(SUPPORT, {"text": "1"})
    assert [r["text"] for r in result.responses] == ["a"]
    assert result.status is grpc.StatusCode.UNAVAILABLE


async def test_bidi_error_stub_ends_the_call_without_waiting(env: Env) -> None:
    env.stub({"call": SUPPORT, "output": {"error": "go away", "code": "PERMISSION_DENIED"}})
    call = env.channel.stream_stream(env.method(SUPPORT).path)(metadata=env.metadata(), timeout=5)
    await call.write(env.encode(SUPPORT, {"text": "hello?"}))  # and the client keeps writing
    with pytest.raises(aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert info.value.details() == "go away"


async def test_bidi_times_counts_calls_not_messages(env: Env) -> None:
    env.stub(
        {
            "call": SUPPORT,
            "output": {"stream": [{"text": "a"}, {"text": "b"}, {"text": "c"}]},
            "options": {"times": 1},
        }
    )
    first = await env.call(SUPPORT, {"text": "1"}, {"text": "2"}, {"text": "3"})
    assert first.status is grpc.StatusCode.OK
    assert [r["text"] for r in first.responses] == ["a", "b", "c"]
    second = await env.call(SUPPORT, {"text": "1"})
    assert second.status is grpc.StatusCode.NOT_FOUND


# -- rich error details --------------------------------------------------------------------------


def _status_class() -> type[Message]:
    """google.rpc.Status built here independently of the server's own definition."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    message = proto.message_type.add(name="Status")
    label = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="code", number=1, type=label.TYPE_INT32, label=label.LABEL_OPTIONAL)
    message.field.add(name="message", number=2, type=label.TYPE_STRING, label=label.LABEL_OPTIONAL)
    message.field.add(
        name="details",
        number=3,
        type=label.TYPE_MESSAGE,
        type_name=".google.protobuf.Any",
        label=label.LABEL_REPEATED,
    )
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


async def test_error_details_trailer(env: Env) -> None:
    env.stub(
        {
            "call": SAY_HELLO,
            "output": {
                "error": "bad book",
                "code": "INVALID_ARGUMENT",
                "trailers": {"x-t": "1"},
                "details": [
                    {"@type": "type.googleapis.com/bookstore.v1.Book", "isbn": "42", "title": "T"},
                    {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "why"},
                ],
            },
        }
    )
    call = env.channel.unary_unary(env.method(SAY_HELLO).path)
    with pytest.raises(aio.AioRpcError) as info:
        await call(env.encode(SAY_HELLO, {"name": "a"}), metadata=env.metadata(), timeout=5)
    error = info.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(error.trailing_metadata() or ())
    assert trailers["x-t"] == "1"
    status = _status_class().FromString(trailers["grpc-status-details-bin"])
    assert status.code == 3  # type: ignore[attr-defined]
    assert status.message == "bad book"  # type: ignore[attr-defined]
    book, text = status.details  # type: ignore[attr-defined]
    assert book.type_url == "type.googleapis.com/bookstore.v1.Book"
    decoded = env.registry.message_class("bookstore.v1.Book").FromString(book.value)
    assert env.registry.to_json(decoded)["isbn"] == "42"
    assert text.type_url == "type.googleapis.com/google.protobuf.StringValue"
    assert text.value == b"\n\x03why"


async def test_error_details_on_a_stream(env: Env) -> None:
    env.stub(
        {
            "call": LIST_BOOKS,
            "output": {
                "stream": books("1"),
                "error": "stop",
                "code": 9,
                "details": [{"@type": "bookstore.v1.Money", "currency": "EUR"}],
            },
        }
    )
    call = env.channel.unary_stream(env.method(LIST_BOOKS).path)(
        env.encode(LIST_BOOKS, {}), metadata=env.metadata(), timeout=5
    )
    received = [blob async for blob in _drain(call)]
    assert len(received) == 1
    assert await call.code() is grpc.StatusCode.FAILED_PRECONDITION
    trailers = dict(await call.trailing_metadata())
    status = _status_class().FromString(trailers["grpc-status-details-bin"])
    (money,) = status.details  # type: ignore[attr-defined]
    assert money.type_url == "type.googleapis.com/bookstore.v1.Money"


async def _drain(call: Any) -> AsyncIterator[bytes]:
    try:
        async for blob in call:
            yield blob
    except aio.AioRpcError:
        return


@pytest.mark.parametrize(
    ("details", "problem"),
    [
        ([{"isbn": "1"}], "@type"),
        ([{"@type": "type.googleapis.com/no.such.Message"}], "no.such.Message"),
        ([{"@type": "bookstore.v1.Book", "nope": 1}], "nope"),
        (["text"], "object"),
        ({"@type": "bookstore.v1.Book"}, "list"),
    ],
)
async def test_bad_error_details_fail_at_build_time(
    registry: ProtoRegistry, details: Any, problem: str
) -> None:
    method = registry.find_call(SAY_HELLO)
    assert method is not None
    raw = {"output": {"error": "x", "code": 3, "details": details}}
    with pytest.raises(ValueError, match="details") as info:
        build_stub(raw, method, registry)
    assert problem in str(info.value)


# -- request decoding --------------------------------------------------------------------------

READER_PROTO = """
syntax = "proto3";
package rt;
enum Color { RED = 0; GREEN = 1; }
message Flat {
  string s = 1; int32 i = 2; int64 big = 3; uint64 u = 4; bool b = 5; Color c = 6;
  sint32 z = 7; fixed64 f = 8;
}
message Presence { optional string s = 1; int32 i = 2; }
message Floaty { float f = 1; double d = 2; }
message Raw { bytes data = 1; }
message Nested { Flat flat = 1; repeated string tags = 2; }
"""


async def test_request_reader_gives_what_to_json_gives(tmp_path: Path) -> None:
    (tmp_path / "rt.proto").write_text(READER_PROTO)
    registry = compile_protos([tmp_path])
    samples: dict[str, list[dict[str, Any]]] = {
        "rt.Flat": [
            {},
            {"s": "x", "i": -3, "big": "9007199254740993", "u": "18446744073709551615"},
            {"b": True, "c": "GREEN", "z": -7, "f": "42"},
        ],
        "rt.Presence": [{}, {"s": ""}, {"s": "a", "i": 1}],
        "rt.Floaty": [{}, {"f": 0.1, "d": 1.5}, {"d": "NaN"}],
        "rt.Raw": [{}, {"data": "aGk="}],
        "rt.Nested": [{}, {"flat": {"s": "x"}, "tags": ["a"]}],
    }
    fast = {"rt.Flat"}
    for name, messages in samples.items():
        message_class = registry.message_class(name)
        read = request_reader(registry, message_class)
        assert (read.__name__ != "read") == (name in fast), name
        for data in messages:
            raw = registry.from_json(message_class, data).SerializeToString()
            expected = registry.to_json(message_class.FromString(raw))
            assert read(raw) == expected, (name, data)
    # An enum number the proto does not name stays a number, as in to_json.
    flat = registry.message_class("rt.Flat")
    raw = bytes([0x30, 0x07])  # field 6 (c), varint 7
    assert request_reader(registry, flat)(raw) == registry.to_json(flat.FromString(raw))
    assert request_reader(registry, flat)(raw)["c"] == 7


# -- history limits ------------------------------------------------------------------------------


async def test_a_huge_request_is_kept_in_history_as_a_preview(env: Env) -> None:
    env.stub({"call": SAY_HELLO, "output": {"data": {"message": "big"}}})
    name = "x" * (server_module.HISTORY_MESSAGE_BYTES + 10)
    result = await env.call(SAY_HELLO, {"name": name})
    assert result.status == grpc.StatusCode.OK and result.response == {"message": "big"}
    (call,) = await env.events(count=1)
    kept = call["request"]["$truncated"]
    assert kept["bytes"] > server_module.HISTORY_MESSAGE_BYTES
    assert kept["preview"].startswith('{"name": "xxxx') and len(kept["preview"]) == 256
    await env.call(SAY_HELLO, {"name": "small"})
    assert (await env.events(count=2))[1]["request"] == {"name": "small"}


async def test_a_long_stream_keeps_its_first_messages_and_a_count(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "HISTORY_STREAM_MESSAGES", 3)
    books = [{"title": f"b{n}"} for n in range(7)]
    env.stub({"call": LIST_BOOKS, "output": {"stream": books}})
    result = await env.call(LIST_BOOKS, {})
    assert len(result.responses) == 7  # the client gets every message
    (call,) = await env.events(count=1)
    assert [r.get("title") for r in call["responses"][:3]] == ["b0", "b1", "b2"]
    assert call["responses"][3] == {"$truncated": {"messages": 4}}


# -- the local socket ----------------------------------------------------------------------------

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract Unix sockets exist on Linux only"
)


@linux_only
async def test_a_local_socket_answers_as_the_tcp_port_does(registry: ProtoRegistry) -> None:
    mock = MockServer(registry)
    port = await mock.start(local_socket=True)
    try:
        local = mock.local_address
        assert local is not None and local.startswith("unix-abstract:scenario-run-")
        session = Env(mock, None, registry)  # type: ignore[arg-type]
        session.stub(hello("ann", "hello ann"))
        for address in (f"127.0.0.1:{port}", local):
            async with aio.insecure_channel(address) as channel:
                session.channel = channel
                result = await session.call(SAY_HELLO, {"name": "ann"})
            assert result.status == grpc.StatusCode.OK
            assert result.response == {"message": "hello ann"}
        calls = await session.events(count=2)
        assert [c["response"] for c in calls] == [{"message": "hello ann"}] * 2
    finally:
        await mock.stop(None)
    assert mock.local_address is None


async def test_no_local_socket_unless_asked(registry: ProtoRegistry) -> None:
    mock = MockServer(registry)
    await mock.start()
    try:
        assert mock.local_address is None
    finally:
        await mock.stop(None)


@linux_only
async def test_two_servers_of_one_process_get_sockets_of_their_own(
    registry: ProtoRegistry,
) -> None:
    first, second = MockServer(registry), MockServer(registry)
    await first.start(local_socket=True)
    await second.start(local_socket=True)
    try:
        assert first.local_address and second.local_address
        assert first.local_address != second.local_address
    finally:
        await first.stop(None)
        await second.stop(None)
