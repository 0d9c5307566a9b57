"""``scenario-run serve`` as a process: session TTLs, a restart on a SQLite store, shutdown
with a call in flight, ports in use, bad options."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from serve_support import PROTOS, Client, run_serve, serving, wait_for

from scenario_runner import cli
from scenario_runner.mock.hub import APP_NAME, USER_ID
from scenario_runner.sessions import SqliteSessionService

CALL = "helloworld.Greeter/SayHello"
GREETER = {"service": "helloworld.Greeter", "method": "SayHello"}


def stub(name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        **GREETER,
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": message}},
        **extra,
    }


def test_idle_sessions_are_swept_after_their_ttl(serve_dir: Path) -> None:
    ttl = 2.0
    with (
        serving(serve_dir, "--session-ttl", "2s") as served,
        httpx.Client(base_url=served.http, timeout=10) as http,
    ):
        client = Client(served.grpc)
        try:
            http.post("/api/stubs", json=stub("ann", "hi"), headers={"X-Mock-Session": "idle"})
            http.post(
                "/api/stubs",
                json=stub("ann", "kept"),
                headers={"X-Mock-Session": "long", "X-Mock-Session-TTL": "30s"},
            )
            started = time.monotonic()
            assert client.unary(CALL, {"name": "ann"}, "idle") == {"message": "hi"}
            # "busy" calls every half second; "idle" is left alone
            gone_after = None
            while time.monotonic() - started < 2 * ttl + 1:
                client.status_of(CALL, {"name": "ann"}, "busy")
                if http.get("/api/sessions/idle").status_code == 404:
                    gone_after = time.monotonic() - started
                    break
                time.sleep(0.5)
            assert gone_after is not None, "an idle session outlived twice its TTL"
            assert gone_after >= ttl - 0.1, f"swept after {gone_after:.2f}s, before its TTL"
            listed = http.get("/api/sessions").json()["sessions"]
            assert "idle" not in listed
            assert "busy" in listed and "long" in listed  # kept alive by calls / its own TTL
            assert http.get("/api/history", headers={"X-Mock-Session": "idle"}).json() == []
            assert client.status_of(CALL, {"name": "ann"}, "idle") == "NOT_FOUND"  # stubs gone
            assert client.unary(CALL, {"name": "ann"}, "long") == {"message": "kept"}
        finally:
            client.close()


def test_a_ttl_asked_for_in_call_metadata(serve_dir: Path) -> None:
    with (
        serving(serve_dir, "--session-ttl", "60s") as served,
        httpx.Client(base_url=served.http, timeout=10) as http,
    ):
        client = Client(served.grpc)
        try:
            with pytest.raises(grpc.RpcError):  # no stub; the call still carries session and TTL
                client.unary(
                    CALL,
                    {"name": "z"},
                    metadata=[("x-mock-session", "by-call"), ("x-mock-session-ttl", "3s")],
                )
            # applied by the next sweep (at most a second away), long before it expires
            assert wait_for(
                lambda: http.get("/api/sessions/by-call").json().get("ttl") == 3.0, timeout=2.5
            )
            assert wait_for(
                lambda: http.get("/api/sessions/by-call").status_code == 404, timeout=7.0
            )
        finally:
            client.close()


def test_a_restart_on_a_sqlite_store_keeps_sessions_stubs_and_history(
    serve_dir: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mock.db'}"
    with (
        serving(serve_dir, "--store", store) as first,
        httpx.Client(base_url=first.http, timeout=10) as http,
    ):
        client = Client(first.grpc)
        headers = {"X-Mock-Session": "kept"}
        ids = http.post(
            "/api/stubs",
            json=[stub("amy", "Hello amy", options={"times": 2}), stub("bo", "Hello bo")],
            headers=headers,
        ).json()
        http.post("/api/stubs", json=stub("all", "global hello", id="posted-global"))
        http.put("/api/sessions/kept", json={"ttl": "45s"})
        http.delete(f"/api/stubs/{ids[1]}", headers=headers)
        assert client.unary(CALL, {"name": "amy"}, "kept") == {"message": "Hello amy"}
        client.close()
        assert first.stop() == 0
    with (
        serving(serve_dir, "--store", store) as second,
        httpx.Client(base_url=second.http, timeout=10) as http,
    ):
        assert "1 session(s) restored" in second.line
        client = Client(second.grpc)
        try:
            assert http.get("/api/sessions").json()["sessions"] == ["kept"]
            document = http.get("/api/sessions/kept").json()
            assert document["ttl"] == 45.0
            assert [s["id"] for s in document["stubs"]] == [ids[0]]  # the deleted one stays so
            kinds = [e["kind"] for e in document["events"]]
            assert kinds == ["stub_added", "stub_added", "session_ttl", "stub_removed", "mock_call"]
            history = http.get("/api/history", headers={"X-Mock-Session": "kept"}).json()
            assert [r["request"] for r in history] == [{"name": "amy"}]
            # the stub's use before the restart still counts (options.times: 2)
            assert client.unary(CALL, {"name": "amy"}, "kept") == {"message": "Hello amy"}
            assert client.status_of(CALL, {"name": "amy"}, "kept") == "NOT_FOUND"
            assert client.status_of(CALL, {"name": "bo"}, "kept") == "NOT_FOUND"
            assert client.unary(CALL, {"name": "all"}) == {"message": "global hello"}
            assert "posted-global" in {s["id"] for s in http.get("/api/stubs").json()}
        finally:
            client.close()


def test_sigterm_lets_a_call_in_flight_finish_and_flushes_the_store(
    serve_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "flush.db"
    with serving(serve_dir, "--store", f"sqlite:///{database}") as served:
        with httpx.Client(base_url=served.http, timeout=10) as http:
            slow = stub("slow", "worth the wait")
            slow["output"]["delay"] = "4s"
            http.post("/api/stubs", json=slow, headers={"X-Mock-Session": "inflight"})
        client = Client(served.grpc)
        assert client.status_of(CALL, {"name": "warm-up"}) == "NOT_FOUND"  # connected
        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["reply"] = client.unary(CALL, {"name": "slow"}, "inflight")
            except Exception as exc:
                result["error"] = exc

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(2.0)  # the call is in the mock now (on a busy machine too), for 2 s more
        code = served.stop(signal.SIGTERM)
        worker.join(10)
        client.close()
        assert code == 0, served.stderr
        assert result == {"reply": {"message": "worth the wait"}}
        assert "stopped" in served.stderr and "Traceback" not in served.stderr

    async def stored_calls() -> list[str]:
        service = SqliteSessionService(database)
        try:
            events = await service.get_events(APP_NAME, USER_ID, "inflight", kinds=["mock_call"])
            return [e.data["status"] for e in events]
        finally:
            service.close()

    assert asyncio.run(stored_calls()) == ["OK"]


@pytest.mark.parametrize("option", ["--grpc", "--http"])
def test_a_port_in_use_is_exit_2_with_one_line(serve_dir: Path, option: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = {"--grpc": "127.0.0.1:0", "--http": "127.0.0.1:0"}
        args[option] = f"127.0.0.1:{port}"
        done = run_serve(
            serve_dir, "--grpc", args["--grpc"], "--http", args["--http"], "--protos", str(PROTOS)
        )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{option} 127.0.0.1:{port}: cannot listen" in lines[0]
    assert "in use" in lines[0].lower()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--session-ttl", "soon"], "--session-ttl"),
        (["--store", "postgresql://u@no-such-host.invalid:5432/db"], "cannot connect"),
        (["--store", "postgresql://"], "expected postgresql://USER@HOST:PORT/DB"),
        (["--store", "redis://x"], "--store expects memory, sqlite:///FILE or postgresql://"),
        (["--workers", "2"], "--workers N needs a store the processes share"),
        (["--workers", "none"], "--workers expects a number"),
        (["--http", "0.0.0.0:4771"], "needs --admin-token"),
        (["--grpc", "4770"], "--grpc expects HOST:PORT"),
        (["--protos", "no-such-folder"], "proto path not found"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_options_are_exit_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code = cli.main(["serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_sigint_stops_it_cleanly_too(serve_dir: Path) -> None:
    with serving(serve_dir) as served:
        with httpx.Client(base_url=served.http, timeout=10) as http:
            assert http.get("/api/health/readiness").status_code == 200
        assert served.stop(signal.SIGINT) == 0
        assert "stopped" in served.stderr and "Traceback" not in served.stderr


def test_an_admin_token_guards_the_admin_api(
    serve_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(serve_dir, "--admin-token", "s3cret") as served:
        assert "s3cret" not in served.line
        with httpx.Client(base_url=served.http, timeout=10) as http:
            refused = http.get("/api/stubs")
            assert refused.status_code == 401
            assert "admin token" in refused.json()["error"]
            wrong = http.get("/api/stubs", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert http.get("/api/health/readiness").status_code == 200
            good = {"Authorization": "Bearer s3cret"}
            assert http.get("/api/stubs", headers=good).status_code == 200

        # the runner's client of serve takes the token from the environment
        from scenario_runner.remote.client import RemoteMock

        monkeypatch.setenv("SCENARIO_RUN_ADMIN_TOKEN", "s3cret")

        async def open_and_close() -> None:
            remote = RemoteMock(served.grpc, served.http)
            try:
                await remote.start()
                await remote.open_session("guarded", {}, ttl=None)
                await remote.close_session("guarded")
            finally:
                await remote.aclose()

        asyncio.run(open_and_close())
