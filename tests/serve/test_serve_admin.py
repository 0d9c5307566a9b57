"""The admin HTTP API of a running ``scenario-run serve``, endpoint by endpoint, with
GripMock's payloads (httpx over loopback), and the OpenAPI document it publishes."""

from __future__ import annotations

import datetime
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from serve_support import Client, Served

GREETER = {"service": "helloworld.Greeter", "method": "SayHello"}
MOCK_CALL_KEYS = {"method", "metadata", "stub_id", "status", "message", "elapsed"}


def new_session() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def stub(name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        **GREETER,
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": message}},
        **extra,
    }


def post(http: httpx.Client, body: Any, session: str | None = None) -> httpx.Response:
    headers = {"X-Mock-Session": session} if session else {}
    return http.post("/api/stubs", json=body, headers=headers)


def h(session: str) -> dict[str, str]:
    return {"X-Mock-Session": session}


def is_rfc3339(text: str) -> bool:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


# -- health ------------------------------------------------------------------------------------


def test_health(http: httpx.Client) -> None:
    for path in ("/api/health/liveness", "/api/health/readiness"):
        answer = http.get(path)
        assert answer.status_code == 200
        body = answer.json()
        assert body["message"] == "ok"
        assert is_rfc3339(body["time"])


# -- stubs -------------------------------------------------------------------------------------


def test_post_one_stub_or_a_list_returns_the_ids(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    one = post(http, stub("alice", "Hello alice"), session)
    assert one.status_code == 200
    (first,) = one.json()
    uuid.UUID(first)  # a UUID when the stub has no id
    many = post(http, [stub("bob", "Hi bob", id="bob-stub"), stub("carol", "Hi carol")], session)
    assert many.status_code == 200
    ids = many.json()
    assert len(ids) == 2 and ids[0] == "bob-stub"  # the id the client gives is kept
    listed = http.get("/api/stubs", headers=h(session)).json()
    own = [s["id"] for s in listed if s["id"] != "global-greeting"]
    assert own == [first, *ids]
    assert grpc_client.unary("helloworld.Greeter/SayHello", {"name": "bob"}, session) == {
        "message": "Hi bob"
    }


def test_a_posted_stub_with_an_existing_id_replaces_it(
    http: httpx.Client, grpc_client: Client
) -> None:
    session = new_session()
    assert post(http, stub("dave", "first", id="dave"), session).json() == ["dave"]
    assert post(http, stub("dave", "second", id="dave"), session).json() == ["dave"]
    own = [s for s in http.get("/api/stubs", headers=h(session)).json() if s["id"] == "dave"]
    assert [s["output"]["data"]["message"] for s in own] == ["second"]
    answer = grpc_client.unary("helloworld.Greeter/SayHello", {"name": "dave"}, session)
    assert answer == {"message": "second"}


def test_sessions_see_their_own_stubs_plus_the_global_ones(
    http: httpx.Client, grpc_client: Client
) -> None:
    one, two = new_session(), new_session()
    post(http, stub("erin", "Hello from one"), one)
    post(http, stub("erin", "Hello from two"), two)
    call = "helloworld.Greeter/SayHello"
    assert grpc_client.unary(call, {"name": "erin"}, one) == {"message": "Hello from one"}
    assert grpc_client.unary(call, {"name": "erin"}, two) == {"message": "Hello from two"}
    # the --stubs file is global: every session and the calls without one see it
    for session in (one, two, None):
        answer = grpc_client.unary(call, {"name": "everyone"}, session)
        assert answer == {"message": "Hello from the global stubs"}
    assert grpc_client.status_of(call, {"name": "erin"}) == "NOT_FOUND"
    global_ids = [s["id"] for s in http.get("/api/stubs").json()]
    assert "global-greeting" in global_ids
    one_ids = {s["id"] for s in http.get("/api/stubs", headers=h(one)).json()}
    two_ids = {s["id"] for s in http.get("/api/stubs", headers=h(two)).json()}
    assert "global-greeting" in one_ids and one_ids & two_ids == {"global-greeting"}


def test_gripmock_session_header_is_an_alias(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    answer = http.post(
        "/api/stubs", json=stub("frank", "aliased"), headers={"X-Gripmock-Session": session}
    )
    assert answer.status_code == 200
    listed = http.get("/api/stubs", headers=h(session)).json()
    assert listed[0]["id"] == answer.json()[0]
    reply = grpc_client.unary(
        "helloworld.Greeter/SayHello", {"name": "frank"}, metadata=[("x-gripmock-session", session)]
    )
    assert reply == {"message": "aliased"}


def test_get_and_delete_a_stub_by_id(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    (stub_id,) = post(http, stub("gina", "hi gina"), session).json()
    found = http.get(f"/api/stubs/{stub_id}", headers=h(session))
    assert found.status_code == 200
    assert found.json() == {**stub("gina", "hi gina"), "id": stub_id}
    assert http.get(f"/api/stubs/{stub_id}").status_code == 404  # not a global stub
    assert http.delete(f"/api/stubs/{stub_id}", headers=h(session)).status_code == 204
    missing = http.get(f"/api/stubs/{stub_id}", headers=h(session))
    assert missing.status_code == 404
    assert missing.json() == {"error": f"Stub with ID '{stub_id}' not found"}
    assert http.delete(f"/api/stubs/{stub_id}", headers=h(session)).status_code == 404
    assert grpc_client.status_of("helloworld.Greeter/SayHello", {"name": "gina"}, session) == (
        "NOT_FOUND"
    )


def test_batch_delete(http: httpx.Client) -> None:
    session = new_session()
    ids = post(http, [stub("a", "a"), stub("b", "b"), stub("c", "c")], session).json()
    refused = http.post("/api/stubs/batchDelete", json=[ids[0], "no-such-stub"], headers=h(session))
    assert refused.status_code == 404
    assert "no-such-stub" in refused.json()["error"]
    assert http.get(f"/api/stubs/{ids[0]}", headers=h(session)).status_code == 200  # kept
    done = http.post("/api/stubs/batchDelete", json=ids[:2], headers=h(session))
    assert done.status_code == 204
    left = [s["id"] for s in http.get("/api/stubs", headers=h(session)).json()]
    assert ids[2] in left and ids[0] not in left and ids[1] not in left
    bad = http.post("/api/stubs/batchDelete", json={"ids": ids}, headers=h(session))
    assert bad.status_code == 400 and "error" in bad.json()


def test_purge_removes_the_sessions_stubs_only(http: httpx.Client) -> None:
    session = new_session()
    post(http, [stub("h", "h"), stub("i", "i")], session)
    assert http.delete("/api/stubs", headers=h(session)).status_code == 204
    assert [s["id"] for s in http.get("/api/stubs", headers=h(session)).json()] == [
        s["id"] for s in http.get("/api/stubs").json()
    ]  # the global ones are left


def test_search(http: httpx.Client) -> None:
    session = new_session()
    (stub_id,) = post(http, stub("ivan", "Hello ivan"), session).json()
    query = {**GREETER, "data": {"name": "ivan"}}
    found = http.post("/api/stubs/search", json=query, headers=h(session))
    assert found.status_code == 200
    assert found.json() == {"data": {"message": "Hello ivan"}}
    by_id = http.post("/api/stubs/search", json={**query, "id": stub_id}, headers=h(session))
    assert by_id.json() == {"data": {"message": "Hello ivan"}}
    nothing = http.post(
        "/api/stubs/search", json={**GREETER, "data": {"name": "x"}}, headers=h(session)
    )
    assert nothing.status_code == 404
    assert "no stub for helloworld.Greeter/SayHello" in nothing.json()["error"]
    wrong = http.post(
        "/api/stubs/search", json={**GREETER, "data": {"nam": "x"}}, headers=h(session)
    )
    assert wrong.status_code == 400 and "nam" in wrong.json()["error"]
    unknown = http.post(
        "/api/stubs/search", json={"service": "helloworld.Greeter", "method": "Nope", "data": {}}
    )
    assert unknown.status_code == 404 and "no method 'Nope'" in unknown.json()["error"]
    # a search does not use the stub up
    unused = http.get("/api/stubs/unused", headers=h(session)).json()
    assert unused[0]["id"] == stub_id


def test_used_and_unused(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    used_id, unused_id = post(http, [stub("jo", "jo"), stub("kim", "kim")], session).json()
    grpc_client.unary("helloworld.Greeter/SayHello", {"name": "jo"}, session)
    used = [s["id"] for s in http.get("/api/stubs/used", headers=h(session)).json()]
    unused = [s["id"] for s in http.get("/api/stubs/unused", headers=h(session)).json()]
    assert used == [used_id]
    assert unused_id in unused and used_id not in unused and "global-greeting" in unused


# -- history and verify ------------------------------------------------------------------------


def test_history_and_verify(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    (stub_id,) = post(http, stub("lee", "Hello lee"), session).json()
    call = "helloworld.Greeter/SayHello"
    grpc_client.unary(call, {"name": "lee"}, session)
    assert grpc_client.status_of(call, {"name": "nobody"}, session) == "NOT_FOUND"
    records = http.get("/api/history", headers=h(session)).json()
    assert len(records) == 2
    first, second = records
    assert first["service"] == "helloworld.Greeter" and first["method"] == "SayHello"
    assert first["request"] == {"name": "lee"} and first["response"] == {"message": "Hello lee"}
    assert first["stubId"] == stub_id and is_rfc3339(first["timestamp"])
    assert "error" not in first and "code" not in first
    assert second["code"] == 5 and "No matching stub found" in second["error"]
    assert "stubId" not in second
    check = {**GREETER, "expectedCount": 2}
    ok = http.post("/api/verify", json=check, headers=h(session))
    assert ok.status_code == 200 and ok.json()["message"] == "ok"
    wrong = http.post("/api/verify", json={**check, "expectedCount": 3}, headers=h(session))
    assert wrong.status_code == 400
    assert wrong.json() == {
        "message": "expected helloworld.Greeter/SayHello to be called 3 times, got 2",
        "expected": 3,
        "actual": 2,
    }
    short = http.post(
        "/api/verify",
        json={"service": "Greeter", "method": "SayHello", "expectedCount": 2},
        headers=h(session),
    )
    assert short.status_code == 200  # a short service name resolves
    missing = http.post("/api/verify", json={"service": "x"}, headers=h(session))
    assert missing.status_code == 400 and "expectedCount" in missing.json()["error"]
    assert http.delete("/api/history", headers=h(session)).status_code == 204
    assert http.get("/api/history", headers=h(session)).json() == []
    zero = http.post("/api/verify", json={**check, "expectedCount": 0}, headers=h(session))
    assert zero.status_code == 200


def test_history_without_a_session_is_the_calls_without_one(
    http: httpx.Client, grpc_client: Client
) -> None:
    session = new_session()
    marker = f"global-{uuid.uuid4().hex[:6]}"
    grpc_client.status_of("helloworld.Greeter/SayHello", {"name": marker})
    grpc_client.status_of("helloworld.Greeter/SayHello", {"name": marker}, session)
    global_calls = [r for r in http.get("/api/history").json() if r["request"] == {"name": marker}]
    session_calls = http.get("/api/history", headers=h(session)).json()
    assert len(global_calls) == 1 and len(session_calls) == 1


# -- sessions ----------------------------------------------------------------------------------


def test_session_document(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    assert http.get(f"/api/sessions/{session}").status_code == 404
    (stub_id,) = post(
        http,
        {
            **stub("max", "ignored"),
            "output": {"data": {"message": "{{ greeting }}, {{ request.name }}"}},
            "context": {"greeting": "Good morning"},
            "source": "scenarios/a.yaml:12:5",
        },
        session,
    ).json()
    reply = grpc_client.unary("helloworld.Greeter/SayHello", {"name": "max"}, session)
    assert reply == {"message": "Good morning, max"}
    assert session in http.get("/api/sessions").json()["sessions"]
    document = http.get(f"/api/sessions/{session}").json()
    assert set(document) == {"id", "state", "ttl", "lastUpdateTime", "stubs", "events"}
    assert document["id"] == session and document["state"] == {}
    assert document["ttl"] == 60.0
    assert isinstance(document["lastUpdateTime"], float)
    assert [s["id"] for s in document["stubs"]] == [stub_id]
    assert document["stubs"][0]["context"] == {"greeting": "Good morning"}
    kinds = [e["kind"] for e in document["events"]]
    assert kinds == ["stub_added", "mock_call"]
    assert [e["sequence"] for e in document["events"]] == [1, 2]
    added, called = document["events"]
    assert set(added) == {"id", "sequence", "kind", "author", "timestamp", "data", "stateDelta"}
    assert added["data"]["source"] == "scenarios/a.yaml:12:5"
    assert added["data"]["stub"]["id"] == stub_id
    # exactly the data the embedded mock records (MockCall.data())
    assert set(called["data"]) == MOCK_CALL_KEYS | {"request", "response"}
    assert called["data"]["method"] == "helloworld.Greeter/SayHello"
    assert called["data"]["stub_id"] == stub_id and called["data"]["status"] == "OK"
    assert called["data"]["metadata"]["x-mock-session"] == session
    assert called["data"]["request"] == {"name": "max"}
    assert called["author"] == "mock"


def test_put_delete_session(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    opened = http.put(f"/api/sessions/{session}", json={"ttl": "30s"})
    assert opened.status_code == 200
    assert opened.json()["ttl"] == 30.0 and opened.json()["events"][0]["kind"] == "session_ttl"
    assert http.put(f"/api/sessions/{session}", json={"ttl": 2.5}).json()["ttl"] == 2.5
    assert http.put(f"/api/sessions/{session}", json={"ttl": None}).json()["ttl"] == 60.0
    bad = http.put(f"/api/sessions/{session}", json={"ttl": "soon"})
    assert bad.status_code == 400 and "ttl" in bad.json()["error"]
    header_ttl = http.get("/api/stubs", headers={**h(session), "X-Mock-Session-TTL": "250ms"})
    assert header_ttl.status_code == 200
    assert http.get(f"/api/sessions/{session}").json()["ttl"] == 0.25
    http.put(f"/api/sessions/{session}", json={"ttl": "30s"})
    post(http, stub("ned", "Hello ned"), session)
    assert grpc_client.unary("helloworld.Greeter/SayHello", {"name": "ned"}, session)
    deleted = http.delete(f"/api/sessions/{session}")
    assert deleted.status_code == 200  # the session as it was, for a client's last look
    assert [e["kind"] for e in deleted.json()["events"]][-1] == "mock_call"
    assert deleted.json()["stubs"][0]["input"] == {"equals": {"name": "ned"}}
    assert http.get(f"/api/sessions/{session}").status_code == 404
    assert session not in http.get("/api/sessions").json()["sessions"]
    assert http.delete(f"/api/sessions/{session}").status_code == 404
    assert grpc_client.status_of("helloworld.Greeter/SayHello", {"name": "ned"}, session) == (
        "NOT_FOUND"
    )


# -- mistakes: 4xx with {"error": ...}, never a 500 ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (stub("x", "x") | {"input": {"equals": {"nmae": "x"}}}, "input.equals.nmae"),
        ({**GREETER, "method": "SayHelo"}, "no method 'SayHelo'"),
        (
            {**GREETER, "input": {"equals": {"name": True}}},
            "input.equals.name: name is a string field",
        ),
        ({**GREETER, "output": {"data": {"message": 5}}}, "output"),
        ({**GREETER, "output": {"dat": {}}}, "unknown key 'dat'"),
        ({**GREETER, "output": {"data": {"message": "{{ nope }}"}}}, "'nope' is undefined"),
        ({**GREETER, "context": "not an object"}, "context: expected an object"),
        ({"method": "SayHello"}, "missing required key 'service'"),
        ([stub("y", "y"), "not a stub"], "[1]: expected a stub object"),
        (42, "expected a stub object or a list of stubs"),
    ],
)
def test_invalid_stubs_are_a_400_naming_the_field(
    http: httpx.Client, body: Any, expected: str
) -> None:
    session = new_session()
    answer = post(http, body, session)
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert expected in message
    assert "Traceback" not in message
    assert [
        s for s in http.get("/api/stubs", headers=h(session)).json() if s["id"] != "global-greeting"
    ] == []


def test_invalid_stub_message_points_into_the_body(http: httpx.Client) -> None:
    text = (
        '[\n  {"service": "helloworld.Greeter", "method": "SayHello",\n'
        '   "input": {"equals": {"nmae": "x"}}}\n]'
    )
    answer = http.post("/api/stubs", content=text, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("request body:3:")
    assert "[0].input.equals.nmae" in answer.json()["error"]


def test_bodies_that_are_not_json_and_unknown_routes(http: httpx.Client) -> None:
    not_json = http.post("/api/stubs", content=b"{nope", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    # GripMock reads a body as JSON whatever its Content-Type (curl -d sends a form's)
    form = http.post(
        "/api/verify",
        content=b'{"service": "helloworld.Greeter", "method": "SayHello", "expectedCount": 0}',
        headers={"Content-Type": "application/x-www-form-urlencoded", **h(new_session())},
    )
    assert form.status_code == 200
    assert http.post("/api/verify", content=b"[").status_code == 400
    unknown = http.get("/api/nothing-here")
    assert unknown.status_code == 404 and unknown.json() == {"error": "Not Found"}
    wrong_method = http.patch("/api/stubs")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    reserved = http.get("/api/stubs", headers=h("(global)"))
    assert reserved.status_code == 400
    ttl_alone = http.get("/api/stubs", headers={"X-Mock-Session-TTL": "1s"})
    assert ttl_alone.status_code == 400


# -- the OpenAPI document -----------------------------------------------------------------------

ROUTES = {
    "/api/health/liveness": {"get"},
    "/api/health/readiness": {"get"},
    "/api/stubs": {"get", "post", "delete"},
    "/api/stubs/{stub_id}": {"get", "delete"},
    "/api/stubs/batchDelete": {"post"},
    "/api/stubs/search": {"post"},
    "/api/stubs/used": {"get"},
    "/api/stubs/unused": {"get"},
    "/api/history": {"get", "delete"},
    "/api/verify": {"post"},
    "/api/sessions": {"get"},
    "/api/sessions/{session_id}": {"get", "put", "delete"},
}


def test_openapi_describes_every_route(http: httpx.Client, server: Served) -> None:
    document = http.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {path: set(paths[path]) for path in paths} == ROUTES
    schemas = document["components"]["schemas"]
    for path, methods in ROUTES.items():
        for method in methods:
            operation = paths[path][method]
            names = {p["name"] for p in operation.get("parameters", [])}
            assert {"X-Mock-Session", "X-Gripmock-Session", "X-Mock-Session-TTL"} <= names
            for response in operation["responses"].values():
                for content in response.get("content", {}).values():
                    _refs_resolve(content["schema"], schemas)
    body = paths["/api/stubs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    _refs_resolve(body, schemas)
    assert {"Stub", "VerifyRequest", "VerifyError", "SessionDocument", "CallRecord"} <= set(schemas)
    assert "expectedCount" in schemas["VerifyRequest"]["properties"]


def _refs_resolve(schema: Any, schemas: dict[str, Any]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref is not None:
            assert ref.startswith("#/components/schemas/"), ref
            assert ref.rsplit("/", 1)[1] in schemas, ref
        for value in schema.values():
            _refs_resolve(value, schemas)
    elif isinstance(schema, list):
        for value in schema:
            _refs_resolve(value, schemas)


def test_a_streaming_call_is_served_and_recorded(http: httpx.Client, grpc_client: Client) -> None:
    session = new_session()
    listing = {
        "service": "bookstore.v1.Catalog",
        "method": "ListBooks",
        "input": {"equals": {"shelf": "poetry"}},
        "output": {"stream": [{"isbn": "1", "title": "Odes"}, {"isbn": "2", "title": "Elegies"}]},
    }
    assert post(http, listing, session).status_code == 200
    method = grpc_client.registry.find_call("bookstore.v1.Catalog/ListBooks")
    assert method is not None
    call = grpc_client.channel.unary_stream(
        method.path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=method.output_type.FromString,
    )
    request = grpc_client.registry.from_json(method.input_type, {"shelf": "poetry"})
    replies = list(call(request, metadata=[("x-mock-session", session)], timeout=10))
    assert [reply.title for reply in replies] == ["Odes", "Elegies"]
    (record,) = http.get("/api/history", headers=h(session)).json()
    assert record["method"] == "ListBooks" and record["request"]["shelf"] == "poetry"
    assert [r["title"] for r in record["responses"]] == ["Odes", "Elegies"]
    assert record["response"]["title"] == "Odes"  # GripMock shows the first one too


def test_sessions_stay_isolated_under_concurrent_clients(
    server: Served, grpc_client: Client
) -> None:
    """Twenty clients at once, each its own session, the same request, its own answer."""
    registry = grpc_client.registry

    def one_client(index: int) -> tuple[set[str], int]:
        session = new_session()
        with httpx.Client(base_url=server.http, timeout=15) as http:
            post(http, stub("same", f"answer {index}"), session)
            client = Client(server.grpc, registry=registry)
            try:
                call = "helloworld.Greeter/SayHello"
                replies = {
                    client.unary(call, {"name": "same"}, session)["message"] for _ in range(5)
                }
            finally:
                client.close()
            return replies, len(http.get("/api/history", headers=h(session)).json())

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one_client, range(20)))
    assert results == [({f"answer {i}"}, 5) for i in range(20)]
