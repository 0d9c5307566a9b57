"""A PostgreSQL store restarted under a running ``serve``: the server reconnects, goes on
answering, and loses nothing it had acknowledged."""

from __future__ import annotations

from pathlib import Path

import httpx
from pg_support import Cluster
from serve_support import Client, serving, wait_for

CALL = "helloworld.Greeter/SayHello"


def stub(name: str) -> dict[str, object]:
    return {
        "service": "helloworld.Greeter",
        "method": "SayHello",
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": f"hello {name}"}},
    }


def test_a_restarted_postgresql_loses_nothing_acknowledged(
    serve_dir: Path, pg_cluster: Cluster
) -> None:
    url = pg_cluster.new_database()
    headers = {"X-Mock-Session": "survivor"}
    with (
        serving(serve_dir, "--store", url) as served,
        httpx.Client(base_url=served.http, timeout=15) as http,
    ):
        client = Client(served.grpc)
        assert http.post("/api/stubs", json=stub("before"), headers=headers).status_code == 200
        assert client.unary(CALL, {"name": "before"}, "survivor") == {"message": "hello before"}
        kept = http.get("/api/sessions/survivor").json()  # flushed: acknowledged
        assert [e["kind"] for e in kept["events"]].count("mock_call") == 1

        pg_cluster.stop("fast")
        try:
            # While the database is away: calls are still answered from memory, and an
            # admin change is refused with a 503 that says why (never a 500).
            assert client.unary(CALL, {"name": "before"}, "survivor") == {"message": "hello before"}
            refused = http.post("/api/stubs", json=stub("during"), headers=headers)
            assert refused.status_code == 503, refused.text
            assert "unavailable" in refused.json()["error"]
        finally:
            pg_cluster.start()

        def posted_again() -> bool:
            try:
                reply = http.post("/api/stubs", json=stub("after"), headers=headers)
            except httpx.HTTPError:
                return False
            return reply.status_code == 200

        assert wait_for(posted_again, 30, interval=0.5), served.stderr
        # the stub from before the restart answers, and so does the new one
        assert client.unary(CALL, {"name": "before"}, "survivor") == {"message": "hello before"}
        assert client.unary(CALL, {"name": "after"}, "survivor") == {"message": "hello after"}
        document = http.get("/api/sessions/survivor").json()
        client.close()
    calls = [e for e in document["events"] if e["kind"] == "mock_call"]
    names = [c["data"]["request"]["name"] for c in calls]
    assert names == ["before", "before", "before", "after"], served.stderr
    assert {s["input"]["equals"]["name"] for s in document["stubs"]} == {"before", "after"}
    assert "Traceback" not in served.stderr, served.stderr
