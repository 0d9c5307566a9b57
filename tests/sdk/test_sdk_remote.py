"""The SDK and the pytest plugin against a running ``scenario-run serve``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from serve_support import PROTOS, REPO, Served, serving

from scenario_runner import sdk

EXAMPLE = REPO / "examples" / "sdk"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("sdk-remote"), "--session-ttl", "60s") as server:
        yield server


def live_sessions(server: Served) -> list[str]:
    sessions: list[str] = httpx.get(f"{server.http}/api/sessions", timeout=10).json()["sessions"]
    return sessions


def test_a_remote_session_is_isolated_verified_and_removed(served: Served) -> None:
    with sdk.run(remote=served.grpc, admin=served.http, session="sdk-remote-a", ttl=30) as mock:
        assert "sdk-remote-a" in live_sessions(served)
        mock.stub("Greeter", "SayHello").when(equals={"name": "a"}).reply(
            data={"message": "for {{ request.name }}"}
        ).commit()
        with sdk.run(remote=served.grpc, admin=served.http, session="sdk-remote-b") as other:
            with pytest.raises(sdk.CallError) as missing:
                other.call("helloworld.Greeter/SayHello", {"name": "a"})
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert mock.call("helloworld.Greeter/SayHello", {"name": "a"}) == {"message": "for a"}
        say = mock.channel().unary_unary(
            "/helloworld.Greeter/SayHello",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=bytes,
        )
        assert b"for a" in say(mock.message("helloworld.HelloRequest", {"name": "a"}))
        mock.verify().method("helloworld.Greeter", "SayHello").called(2)
        mock.verify().all_stubs_used()
        assert mock.history()[0]["metadata"]["x-mock-session-ttl"] == "30s"
        details = httpx.get(f"{served.http}/api/sessions/sdk-remote-a", timeout=10).json()
        assert details["ttl"] == 30
    assert "sdk-remote-a" not in live_sessions(served)
    assert "sdk-remote-b" not in live_sessions(served)


async def test_the_async_twin_remote(served: Served) -> None:
    async with sdk.run_async(remote=served.grpc, admin=served.http) as mock:
        await mock.stub("Greeter", "SayHello").reply(data={"message": "async"}).commit()
        assert await mock.call("helloworld.Greeter/SayHello") == {"message": "async"}
        await mock.verify().method("Greeter", "SayHello").called(1)
        session = mock.session
    assert session not in live_sessions(served)


def test_a_remote_mock_that_is_not_there_is_an_sdk_error() -> None:
    with (
        pytest.raises(sdk.SdkError, match="does not answer"),
        sdk.run(remote="127.0.0.1:1", admin="http://127.0.0.1:1"),
    ):
        pass


def test_the_example_on_four_xdist_workers_against_one_server(served: Served) -> None:
    before = set(live_sessions(served))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "4",
            "--scenario-run-remote",
            served.grpc,
            "--scenario-run-admin",
            served.http,
            "--scenario-run-protos",
            str(PROTOS),
        ],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
    time.sleep(0.2)
    assert set(live_sessions(served)) == before, "no test left a session on the server"
