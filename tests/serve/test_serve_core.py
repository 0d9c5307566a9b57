"""The shared mock without its servers: stubs posted, sessions swept, a store read back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from scenario_runner.mock.hub import APP_NAME, USER_ID
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.serve.core import BadRequest, SharedMock
from scenario_runner.serve.sessions import GLOBAL, GLOBAL_STORE_ID
from scenario_runner.serve.stub_input import StubInputError, prepare, read_body
from scenario_runner.sessions import Event, InMemorySessionService, SqliteSessionService

PROTOS = Path(__file__).resolve().parents[2] / "protos"
GREETER = {"service": "helloworld.Greeter", "method": "SayHello"}


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def stub(name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        **GREETER,
        "input": {"equals": {"name": name}},
        "output": {"data": {"message": message}},
        **extra,
    }


async def shared(registry: ProtoRegistry, service: Any = None, ttl: float = 60.0) -> SharedMock:
    mock = SharedMock(
        registry, service or InMemorySessionService(), default_ttl=ttl, persistent=False
    )
    await mock.restore([])
    return mock


async def test_stubs_by_scope_and_replacement(registry: ProtoRegistry) -> None:
    mock = await shared(registry)
    await mock.touch("one")
    ids = await mock.add_stubs("one", body([stub("a", "1", id="x"), stub("a", "2", id="x")]))
    assert ids == ["x", "x"]  # the same id twice in a body: the last one is kept
    assert [p.raw["output"]["data"]["message"] for p in mock.visible("one")] == ["2"]
    assert len(mock.store.session("one").by_path["/helloworld.Greeter/SayHello"]) == 1
    await mock.add_stubs(GLOBAL, body(stub("g", "global", id="g")))
    assert [p.id for p in mock.visible("one")] == ["x", "g"]
    assert [p.id for p in mock.visible(GLOBAL)] == ["g"]
    with pytest.raises(BadRequest) as refused:
        await mock.delete_stubs("one", ["g"])  # a session cannot delete a global stub
    assert refused.value.status == 404
    await mock.delete_stubs("one", ["x"])
    assert [p.id for p in mock.visible("one")] == ["g"]


async def test_sweep_removes_idle_sessions_only(registry: ProtoRegistry) -> None:
    mock = await shared(registry, ttl=10.0)
    for session in ("idle", "forever", "working"):
        await mock.touch(session)
        await mock.add_stubs(session, body(stub("a", session)))
    await mock.set_ttl("forever", 0.0)  # 0: this session never expires
    mock.hub.call_started("working")  # a call in flight keeps its session
    now = time.time()
    assert await mock.sweep(now + 5) == []
    assert await mock.sweep(now + 11) == ["idle"]
    assert mock.session_ids() == ["forever", "working"]
    assert await mock.session_document("idle") is None
    assert "idle" not in mock.scopes and mock.hub.live("idle") is None
    mock.hub.call_finished("working")
    assert await mock.sweep(time.time() + 11) == ["working"]
    assert mock.session_ids() == ["forever"]


async def test_ttls_set_the_sweep_interval(registry: ProtoRegistry) -> None:
    mock = await shared(registry, ttl=60.0)
    assert mock.tick() == 1.0
    await mock.touch("quick")
    await mock.set_ttl("quick", 0.4)
    assert mock.tick() == pytest.approx(0.1)
    off = await shared(registry, ttl=0.0)
    assert off.tick() == 1.0 and off.ttl_of("any") is None


async def test_a_ttl_asked_for_by_a_call_is_applied_by_the_sweep(registry: ProtoRegistry) -> None:
    mock = await shared(registry)
    mock.activity.seen("called", {"x-mock-session-ttl": "1.5s"})
    mock.activity.seen("wrong", {"x-mock-session-ttl": "soon"})
    await mock.sweep()
    assert mock.ttl_of("called") == 1.5
    assert mock.ttl_of("wrong") == 60.0  # ignored, with a warning


async def test_restore_from_the_store(registry: ProtoRegistry, tmp_path: Path) -> None:
    service = SqliteSessionService(tmp_path / "serve.db")
    try:
        first = await shared(registry, service)
        await first.touch("kept")
        ids = await first.add_stubs(
            "kept", body([stub("a", "A", options={"times": 1}), stub("b", "B")])
        )
        await first.add_stubs(GLOBAL, body(stub("g", "G", id="g")))
        await first.set_ttl("kept", 30.0)
        await first.delete_stubs("kept", [ids[1]])
        await first.clear_history("kept")
        await first.close()
        second = SharedMock(registry, service, default_ttl=60.0, persistent=True)
        assert await second.restore([]) == 1
        assert second.session_ids() == ["kept"]
        assert [p.id for p in second.visible("kept")] == [ids[0], "g"]
        assert second.ttl_of("kept") == 30.0
        stored = await service.get(APP_NAME, USER_ID, GLOBAL_STORE_ID)
        assert [e.kind for e in stored.events] == ["stub_added"]
        match = second.store.match("kept", "/helloworld.Greeter/SayHello", {"name": "a"}, {})
        assert match is not None and match.stub.id == ids[0]
    finally:
        service.close()


async def test_a_stored_stub_the_protos_no_longer_have_is_dropped(
    registry: ProtoRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    service = InMemorySessionService()
    session = await service.create(APP_NAME, USER_ID, "old")
    gone = {"id": "gone", "service": "old.Service", "method": "Gone"}
    await service.append_event(
        session, Event(kind="stub_added", data={"stub_id": "gone", "stub": gone})
    )
    mock = SharedMock(registry, service, default_ttl=60.0, persistent=False)
    assert await mock.restore([]) == 1
    assert mock.visible("old") == []
    assert "stored stub gone of old dropped" in capsys.readouterr().err


def test_read_body_keeps_positions_and_refuses_non_json() -> None:
    items, document = read_body(b'[\n  {"service": "a"},\n  {"service": "b"}\n]')
    assert [path for path, _ in items] == [(0,), (1,)]
    assert document.position((1, "service")) == (3, 15)  # where the value starts
    lone, _ = read_body(b'{"service": "a"}')
    assert [path for path, _ in lone] == [()]
    with pytest.raises(StubInputError, match="not valid JSON"):
        read_body(b"{")
    with pytest.raises(StubInputError, match="not UTF-8"):
        read_body(b"\xff\xfe")


def test_prepare_keeps_context_and_source(registry: ProtoRegistry) -> None:
    raw = {
        **stub("a", "{{ greeting }} {{ request.name }}"),
        "context": {"greeting": "Hi"},
        "source": "scenarios/a.yaml:3:5",
    }
    items, document = read_body(body(raw))
    from scenario_runner.templating import Templates

    (posted,) = prepare(items, document, registry, Templates())
    assert posted.raw == {**raw, "id": posted.id}
    assert posted.stub.source == "scenarios/a.yaml:3:5"
    assert posted.stub.context == {"greeting": "Hi"}
    assert posted.stub.output.templated


def test_prepare_reports_every_bad_stub(registry: ProtoRegistry) -> None:
    from scenario_runner.templating import Templates

    bad = [stub("a", "ok"), {**GREETER, "input": {"equals": {"x": 1}}}, {**GREETER, "method": "No"}]
    items, document = read_body(json.dumps(bad, indent=1).encode())
    with pytest.raises(StubInputError) as refused:
        prepare(items, document, registry, Templates())
    message = str(refused.value)
    assert "[1].input.equals.x" in message and "[2].method" in message
    assert message.startswith("request body:")


async def test_a_swept_session_leaves_the_store(registry: ProtoRegistry, tmp_path: Path) -> None:
    service = SqliteSessionService(tmp_path / "sweep.db")
    try:
        mock = SharedMock(registry, service, default_ttl=5.0, persistent=True)
        await mock.restore([])
        await mock.touch("brief")
        await mock.add_stubs("brief", body(stub("a", "A")))
        assert {s.id for s in await service.list(APP_NAME, USER_ID)} == {"brief", GLOBAL_STORE_ID}
        assert await mock.sweep(time.time() + 6) == ["brief"]
        assert {s.id for s in await service.list(APP_NAME, USER_ID)} == {GLOBAL_STORE_ID}
        again = SharedMock(registry, service, default_ttl=5.0, persistent=True)
        assert await again.restore([]) == 0
    finally:
        service.close()
