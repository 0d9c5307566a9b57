"""Several ``scenario-run serve`` processes on one store (PostgreSQL, SQLite) act as one
mock: stubs posted on one answer on all, calls made on any are seen on every one, a
session deleted or swept on one is gone from all, a killed replica stops nobody; and
``--workers N`` shares the ports."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from serve_support import Client, Served, replicas, serving, store_url, wait_for
from test_serve_clients import grpcurl

CALL = "helloworld.Greeter/SayHello"
GREETER = {"service": "helloworld.Greeter", "method": "SayHello"}
STORES = ["postgresql", "sqlite"]


def stub(name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        **GREETER,
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": message}},
        **extra,
    }


def admin(server: Served) -> httpx.Client:
    return httpx.Client(base_url=server.http, timeout=15)


def session(name: str) -> dict[str, str]:
    return {"X-Mock-Session": name}


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, request, tmp_path)


def test_posted_on_one_called_on_another_verified_on_a_third(serve_dir: Path, store: str) -> None:
    with replicas(serve_dir, 3, store) as (first, second, third):
        http1, http2, http3 = admin(first), admin(second), admin(third)
        client3 = Client(third.grpc)
        try:
            ids = http1.post(
                "/api/stubs",
                json=[stub("ann", "Hello ann"), stub("bo", "Hello bo")],
                headers=session("spread"),
            ).json()
            http1.post("/api/stubs", json=stub("all", "global hello", id="g1"))
            # no waiting: the POST answered once every replica had the stubs
            called = grpcurl(
                second,
                "-H",
                "x-mock-session: spread",
                "-d",
                '{"name": "ann"}',
                second.grpc,
                CALL.replace("/", "."),
            )
            assert called.returncode == 0, called.stderr
            assert json.loads(called.stdout) == {"message": "Hello ann"}
            assert client3.unary(CALL, {"name": "bo"}, "spread") == {"message": "Hello bo"}
            assert client3.unary(CALL, {"name": "all"}) == {"message": "global hello"}

            check = {**GREETER, "expectedCount": 2}
            verified = http3.post("/api/verify", json=check, headers=session("spread"))
            assert verified.status_code == 200, verified.text
            for http in (http1, http2, http3):
                history = http.get("/api/history", headers=session("spread")).json()
                assert sorted(r["request"]["name"] for r in history) == ["ann", "bo"]
                document = http.get("/api/sessions/spread").json()
                assert [s["id"] for s in document["stubs"]] == ids
                assert "g1" in {s["id"] for s in http.get("/api/stubs").json()}

            # a removal reaches every replica the same way
            assert (
                http2.delete(f"/api/stubs/{ids[0]}", headers=session("spread")).status_code == 204
            )
            assert Client(first.grpc).status_of(CALL, {"name": "ann"}, "spread") == "NOT_FOUND"
            assert client3.status_of(CALL, {"name": "ann"}, "spread") == "NOT_FOUND"
        finally:
            client3.close()
            for http in (http1, http2, http3):
                http.close()


def test_a_session_deleted_on_one_is_gone_from_all(serve_dir: Path, store: str) -> None:
    with replicas(serve_dir, 2, store) as servers:
        first, second = servers
        http1, http2 = admin(first), admin(second)
        clients = [Client(server.grpc) for server in servers]
        try:
            http1.put("/api/sessions/doomed", json={"ttl": "30s"})
            http1.post("/api/stubs", json=stub("x", "hi"), headers=session("doomed"))
            assert clients[1].unary(CALL, {"name": "x"}, "doomed") == {"message": "hi"}
            assert "doomed" in http2.get("/api/sessions").json()["sessions"]
            assert http2.delete("/api/sessions/doomed").status_code == 200
            for http in (http1, http2):
                assert http.get("/api/sessions/doomed").status_code == 404
                assert "doomed" not in http.get("/api/sessions").json()["sessions"]
            assert http1.delete("/api/sessions/doomed").status_code == 404
            for client in clients:  # (a call names the session: it starts afresh, stubless)
                assert client.status_of(CALL, {"name": "x"}, "doomed") == "NOT_FOUND"
        finally:
            for client in clients:
                client.close()
            http1.close()
            http2.close()


def test_exactly_one_sweep_removes_an_idle_session(serve_dir: Path, store: str) -> None:
    ttl = 2.0
    with replicas(serve_dir, 3, store, "--session-ttl", "2s") as servers:
        https = [admin(server) for server in servers]
        busy = Client(servers[2].grpc)
        try:
            https[0].post("/api/stubs", json=stub("x", "hi"), headers=session("idle"))
            https[0].post("/api/stubs", json=stub("x", "busy"), headers=session("busy"))
            assert Client(servers[1].grpc).unary(CALL, {"name": "x"}, "idle") == {"message": "hi"}
            started = time.monotonic()
            gone_after = None
            while time.monotonic() - started < 2 * ttl + 2:
                assert busy.unary(CALL, {"name": "x"}, "busy") == {"message": "busy"}
                listed = [set(h.get("/api/sessions").json()["sessions"]) for h in https]
                if all("idle" not in names for names in listed):
                    gone_after = time.monotonic() - started
                    break
                time.sleep(0.5)
            assert gone_after is not None, "an idle session outlived twice its TTL"
            assert gone_after >= ttl - 0.1, f"swept after {gone_after:.2f}s, before its TTL"
            # kept alive by calls on one replica only, it stays on all of them
            assert all("busy" in h.get("/api/sessions").json()["sessions"] for h in https)
            sweeps = [s.stderr.count("session 'idle' expired") for s in servers]
            assert sorted(sweeps) == [0, 0, 1], sweeps
        finally:
            busy.close()
            for http in https:
                http.close()


def test_a_killed_replica_does_not_hold_up_the_others(serve_dir: Path, store: str) -> None:
    with replicas(serve_dir, 3, store) as (first, second, third):
        http1, http2 = admin(first), admin(second)
        client = Client(second.grpc)
        try:
            http1.post("/api/stubs", json=stub("x", "before"), headers=session("k"))
            assert client.unary(CALL, {"name": "x"}, "k") == {"message": "before"}
            third.stop(signal.SIGKILL)
            started = time.monotonic()
            http1.post("/api/stubs", json=stub("y", "after"), headers=session("k"))
            assert client.unary(CALL, {"name": "y"}, "k") == {"message": "after"}
            verified = http2.post(
                "/api/verify", json={**GREETER, "expectedCount": 2}, headers=session("k")
            )
            elapsed = time.monotonic() - started
            assert verified.status_code == 200, verified.text
            assert elapsed < 1.8, f"the live replicas waited {elapsed:.1f}s for a dead one"
        finally:
            client.close()
            http1.close()
            http2.close()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(item) for item in text]
    return found


def test_workers_share_the_ports_and_the_store(serve_dir: Path, store: str) -> None:
    with serving(serve_dir, "--store", store, "--workers", "2") as served:
        assert "2 workers" in served.line
        workers = _children(served.process.pid)
        assert len(workers) == 2
        with admin(served) as http:
            http.post("/api/stubs", json=stub("w", "from a worker"), headers=session("w"))
            for _ in range(20):  # a connection each: the kernel spreads them over the workers
                channel = grpc.insecure_channel(
                    served.grpc, options=[("grpc.use_local_subchannel_pool", 1)]
                )
                client = Client(served.grpc)
                client.channel = channel
                try:
                    assert client.unary(CALL, {"name": "w"}, "w") == {"message": "from a worker"}
                finally:
                    client.close()
            verified = http.post(
                "/api/verify", json={**GREETER, "expectedCount": 20}, headers=session("w")
            )
            assert verified.status_code == 200, verified.text
        assert served.stop() == 0, served.stderr
        assert served.stderr.count("stopped") == 2
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} left behind"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_worker_that_dies_is_started_again(serve_dir: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'w.db'}"
    with serving(serve_dir, "--store", store, "--workers", "2") as served:
        first = _children(served.process.pid)
        subprocess.run(["kill", "-9", str(first[0])], check=True)
        assert wait_for(lambda: "worker 1 listens again" in served.stderr, timeout=30)
        assert "worker 1 exited with code -9" in served.stderr
        assert len(set(_children(served.process.pid)) - set(first)) == 1
        with admin(served) as http:
            assert http.get("/api/health/readiness").status_code == 200
        assert served.stop() == 0, served.stderr
