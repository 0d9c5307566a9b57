"""The Python SDK, embedded: stubs from code, calls, verification, isolation, clean-up."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import grpc
import pytest

import scenario_runner
from scenario_runner import sdk
from scenario_runner.sdk import MockHost

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "protos"


@pytest.fixture(scope="module")
def host() -> MockHost:
    with MockHost(protos=[PROTOS]) as shared:
        yield shared  # type: ignore[misc]


def test_the_public_surface_is_pinned() -> None:
    assert scenario_runner.__all__ == [
        "AlreadyExistsError",
        "Event",
        "InMemorySessionService",
        "ScenarioError",
        "ScenarioFileError",
        "Session",
        "SessionNotFoundError",
        "SessionService",
        "SqliteSessionService",
        "sdk",
    ]
    assert scenario_runner.sdk is sdk
    assert issubclass(sdk.SdkError, scenario_runner.ScenarioError)


def test_two_sessions_on_one_mock_never_see_each_others_stubs(host: MockHost) -> None:
    with host.session("one") as one, host.session("two") as two:
        one.stub("Greeter", "SayHello").reply(data={"message": "one"}).commit()
        two.stub("Greeter", "SayHello").reply(data={"message": "two"}).commit()
        assert one.call("helloworld.Greeter/SayHello")["message"] == "one"
        assert two.call("helloworld.Greeter/SayHello")["message"] == "two"
        one.verify().method("helloworld.Greeter/SayHello").called(1)
        assert [c["stub_id"] for c in two.history()] == [two.history()[0]["stub_id"]]


def test_leaving_the_block_removes_the_sessions_stubs_also_after_a_failure(
    host: MockHost,
) -> None:
    with pytest.raises(RuntimeError), host.session("kept-briefly") as mock:
        mock.stub("Greeter", "SayHello").reply(data={"message": "still here?"}).commit()
        raise RuntimeError("the test failed")
    with host.session("kept-briefly") as again:
        with pytest.raises(sdk.CallError) as missing:
            again.call("helloworld.Greeter/SayHello")
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert len(again.history()) == 1  # only this call: the old history is gone


def test_streams_headers_trailers_delay_priority_and_times(host: MockHost) -> None:
    with host.session() as mock:
        mock.stub("bookstore.v1.Orders", "UploadBasket").when_stream(
            [{"contains": {"isbn": "a"}}]
        ).reply(data={"order_id": "o-1"}).headers({"x-served-by": "sdk"}).trailers(
            {"x-trace": "t1"}
        ).delay("10ms").commit()
        order = mock.call("bookstore.v1.Orders/UploadBasket", [{"isbn": "a"}, {"isbn": "a"}])
        assert order["order_id"] == "o-1"
        low = mock.stub("Greeter", "SayHello").reply(data={"message": "low"}).commit()
        mock.stub("Greeter", "SayHello").priority(5).reply(data={"message": "high"}).times(
            1
        ).commit()
        assert mock.call("helloworld.Greeter/SayHello")["message"] == "high"
        assert mock.call("helloworld.Greeter/SayHello")["message"] == "low"  # high used up
        calls = mock.history()
        assert calls[-1]["stub_id"] == low
        mock.verify().method("Greeter", "SayHello").at_most(2)
        mock.verify().all_stubs_used()


def test_verification_failures_read_like_the_runners(host: MockHost) -> None:
    with host.session() as mock:
        mock.stub("Greeter", "SayHello").reply(data={"message": "hi"}).commit()
        mock.call("helloworld.Greeter/SayHello", {"name": "ann"})
        with pytest.raises(AssertionError) as wrong:
            mock.verify().method("helloworld.Greeter", "SayHello").called(2)
        assert str(wrong.value) == (
            "helloworld.Greeter/SayHello: called 1 time (expected exactly 2 times); "
            'requests received: {"name": "ann"}'
        )
        with pytest.raises(AssertionError, match=r"unmatched calls: 0 \(expected 1\)"):
            mock.verify().unmatched(1)
        mock.verify().method("Greeter", "SayHello").with_request({"name": {"$regex": "^a"}}).called(
            1
        )
        unused = mock.stub("Greeter", "SayHello").when(equals={"name": "x"}).reply().commit()
        with pytest.raises(AssertionError, match=f"stub {unused}.*used 0 times"):
            mock.verify().all_stubs_used()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: m.stub("Greeter", "SayHelo"), "service helloworld.Greeter has no method"),
        (lambda m: m.stub("Nope", "SayHello"), "unknown service 'Nope'"),
        (lambda m: m.stub("Greeter", "SayHello").reply({"mesage": "x"}), "no field 'mesage'"),
        (lambda m: m.stub("Greeter", "SayHello").error("NOPE"), "NOPE"),
        (
            lambda m: m.stub("Greeter", "SayHello").reply({"message": 5}),
            "output.data.message: expected a string, got number 5",
        ),
        (lambda m: m.stub("Greeter", "SayHello").reply({"message": "{{ nope }}"}), "nope"),
    ],
)
def test_a_stub_is_checked_at_commit_with_the_callers_line(
    host: MockHost, build: object, message: str
) -> None:
    with host.session() as mock:
        with pytest.raises(sdk.StubError) as caught:
            build(mock).commit()  # type: ignore[operator]
        assert message in str(caught.value)
        location = caught.value.location
        assert location is not None and location.file.endswith("test_sdk.py")


def test_messages_calls_and_methods_that_do_not_exist_are_sdk_errors(host: MockHost) -> None:
    with host.session() as mock:
        with pytest.raises(sdk.SdkError, match=r"no message 'helloworld\.Nope'"):
            mock.message("helloworld.Nope", {})
        with pytest.raises(sdk.SdkError, match=r"not a valid helloworld\.HelloRequest"):
            mock.message("helloworld.HelloRequest", {"name": 5})
        with pytest.raises(sdk.SdkError, match="has no method 'Nope'"):
            mock.call("helloworld.Greeter/Nope")
        with pytest.raises(sdk.SdkError, match="has no method 'Nope'"):
            mock.verify().method("Greeter", "Nope")
        with pytest.raises(sdk.SdkError, match=r"unknown matcher operator .\$nope."):
            mock.verify().method("Greeter", "SayHello").with_request({"name": {"$nope": 1}})
        with pytest.raises(ValueError, match="expected a duration"):
            mock.stub("Greeter", "SayHello").delay("soon")


def test_bad_options_are_sdk_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage {\n')
    with pytest.raises(sdk.SdkError, match="protos do not compile"), sdk.run(protos=[tmp_path]):
        pass
    with (
        pytest.raises(sdk.SdkError, match="listen expects HOST:PORT"),
        sdk.run(protos=[PROTOS], listen="nowhere"),
    ):
        pass
    with (
        pytest.raises(sdk.SdkError, match="cannot be sent as gRPC metadata"),
        sdk.run(protos=[PROTOS], session="été"),
    ):
        pass


def test_a_folder_of_gripmock_stubs_answers_every_session(tmp_path: Path) -> None:
    (tmp_path / "greeter.yaml").write_text(
        textwrap.dedent(
            """
            - service: helloworld.Greeter
              method: SayHello
              input: {equals: {name: world}}
              output: {data: {message: from the folder}}
            """
        )
    )
    with sdk.run(protos=[PROTOS], stubs=tmp_path) as mock:
        assert mock.call("helloworld.Greeter/SayHello", {"name": "world"}) == {
            "message": "from the folder"
        }


def test_listen_gives_a_service_under_test_a_known_address() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with sdk.run(protos=[PROTOS], listen=f"127.0.0.1:{port}") as mock:
        assert mock.address == f"127.0.0.1:{port}"


async def test_the_async_twin_has_the_same_methods() -> None:
    async with sdk.run_async(protos=[PROTOS], session="async-1") as mock:
        assert mock.session == "async-1"
        await mock.stub("Greeter", "SayHello").reply(data={"message": "hi"}).commit()
        channel = mock.aio_channel()
        call = channel.unary_unary(
            "/helloworld.Greeter/SayHello",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=bytes,
        )
        request = mock.message("helloworld.HelloRequest", {"name": "z"})
        answers = await asyncio.gather(call(request), mock.call("helloworld.Greeter/SayHello"))
        assert b"hi" in answers[0] and answers[1] == {"message": "hi"}
        await channel.close()
        await mock.verify().method("helloworld.Greeter", "SayHello").called(2)
        await mock.verify().all_stubs_used()
        await mock.verify().unmatched(0)
        assert len(await mock.history()) == 2
