"""Tests that use the mock from Python: the `mock_server` fixture and `sdk.run_async`.

    pytest examples/sdk                                   # embedded mock
    pytest examples/sdk -n 4 --scenario-run-remote localhost:4770   # a shared `serve`

No generated code: `mock.call` is JSON in, JSON out, and `mock.message` builds a request
for a channel (generated `_pb2` stubs work on `mock.channel()` too).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from scenario_runner import sdk

PROTOS = Path(__file__).resolve().parents[2] / "protos"


def test_a_stub_answers_and_is_verified(mock_server: sdk.Mock) -> None:
    mock_server.stub("helloworld.Greeter", "SayHello").when(equals={"name": "alice"}).reply(
        data={"message": "Hello {{ request.name }}"}
    ).times(2).commit()

    assert mock_server.call("helloworld.Greeter/SayHello", {"name": "alice"}) == {
        "message": "Hello alice"
    }
    assert mock_server.call("helloworld.Greeter/SayHello", {"name": "alice"})["message"]

    mock_server.verify().method("helloworld.Greeter", "SayHello").called(2)
    mock_server.verify().method("Greeter", "SayHello").with_request({"name": "alice"}).at_least(1)
    mock_server.verify().all_stubs_used()
    mock_server.verify().unmatched(0)


def test_a_channel_carries_the_session(mock_server: sdk.Mock) -> None:
    mock_server.stub("Greeter", "SayHello").reply(data={"message": "from my session"}).commit()
    say_hello = mock_server.channel().unary_unary(
        "/helloworld.Greeter/SayHello",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=bytes,
    )
    answer = say_hello(mock_server.message("helloworld.HelloRequest", {"name": "bob"}))
    assert b"from my session" in answer
    assert mock_server.history()[0]["request"] == {"name": "bob"}


def test_an_error_stub_and_a_call_that_finds_no_stub(mock_server: sdk.Mock) -> None:
    mock_server.stub("Greeter", "SayHello").when(equals={"name": "mallory"}).error(
        "PERMISSION_DENIED", "not you"
    ).commit()
    with pytest.raises(sdk.CallError) as denied:
        mock_server.call("helloworld.Greeter/SayHello", {"name": "mallory"})
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(sdk.CallError) as missing:
        mock_server.call("helloworld.Greeter/SayHello", {"name": "nobody"})
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    mock_server.verify().unmatched(1)


def test_a_stub_that_does_not_fit_the_protos_names_the_field(mock_server: sdk.Mock) -> None:
    with pytest.raises(sdk.StubError, match="HelloRequest has no field 'nmae'"):
        mock_server.stub("Greeter", "SayHello").when(equals={"nmae": "x"}).commit()


async def test_the_async_twin() -> None:
    async with sdk.run_async(protos=[PROTOS]) as mock:
        await (
            mock.stub("bookstore.v1.Catalog", "ListBooks")
            .reply_stream([{"title": "Dune"}, {"title": "Emma"}])
            .commit()
        )
        books = await mock.call("bookstore.v1.Catalog/ListBooks", {})
        assert [book["title"] for book in books] == ["Dune", "Emma"]
        await mock.verify().method("bookstore.v1.Catalog", "ListBooks").called(1)
