"""Stub selection without a server (scenario_runner.mock.store): ranking, times, the index."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from scenario_runner.mock import store as store_module
from scenario_runner.mock.store import INDEX_THRESHOLD, StubStore
from scenario_runner.mock.stubs import Stub, build_stub
from scenario_runner.protos import MethodInfo, ProtoRegistry, compile_protos

PROTOS = Path(__file__).resolve().parents[2] / "protos"
PATH = "/helloworld.Greeter/SayHello"


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


@pytest.fixture(scope="module")
def method(registry: ProtoRegistry) -> MethodInfo:
    found = registry.find_call("helloworld.Greeter/SayHello")
    assert found is not None
    return found


@pytest.fixture
def make(registry: ProtoRegistry, method: MethodInfo) -> Any:
    def build(stub_id: str, **raw: Any) -> Stub:
        raw.setdefault("output", {"data": {"message": stub_id}})
        return build_stub({"id": stub_id, **raw}, method, registry)

    return build


def winner(
    store: StubStore, request: Any, headers: Any = None, session: str = "s", **kw: Any
) -> Any:
    match = store.match(session, PATH, request, headers or {}, **kw)
    return match.stub.id if match else None


def test_ranking_priority_then_declared_then_session_then_order(make: Any) -> None:
    store = StubStore()
    store.add(None, [make("g-exact", input={"equals": {"name": "a"}})])
    store.add("s", [make("s-any"), make("s-exact", input={"equals": {"name": "a"}})])
    store.add("s", [make("s-exact-2", input={"equals": {"name": "a"}})])
    # session over global at equal priority and declared fields; the first declared wins
    assert winner(store, {"name": "a"}) == "s-exact"
    assert winner(store, {"name": "a"}, session="other") == "g-exact"
    assert winner(store, {"name": "b"}) == "s-any"
    # more declared fields (headers count) beat a session stub
    store.add(
        None,
        [make("g-header", input={"equals": {"name": "a"}}, headers={"equals": {"x-t": "1"}})],
    )
    assert winner(store, {"name": "a"}, {"x-t": "1"}) == "g-header"
    # priority beats everything
    store.add(None, [make("g-prio", priority=1)])
    assert winner(store, {"name": "a"}, {"x-t": "1"}) == "g-prio"


def test_times_per_session_and_attempts(make: Any) -> None:
    store = StubStore()
    store.add(None, [make("once", options={"times": 1}), make("fallback", priority=-1)])
    first = store.match("a", PATH, {"name": "x"}, {})
    assert first is not None and (first.stub.id, first.attempt) == ("once", 1)
    assert winner(store, {"name": "x"}, session="a") == "fallback"
    assert winner(store, {"name": "x"}, session="b") == "once"
    assert store.session("a").uses == {"once": 1, "fallback": 1}
    peek = store.match("c", PATH, {"name": "x"}, {}, count=False)
    assert peek is not None and peek.attempt == 1
    assert store.session("c").uses == {}


def test_exempt_stub_is_not_recounted_nor_exhausted(make: Any) -> None:
    store = StubStore()
    store.add("s", [make("once", options={"times": 1})])
    first = store.match("s", PATH, {"name": "x"}, {}, exempt=set())
    assert first is not None and first.attempt == 1
    again = store.match("s", PATH, {"name": "x"}, {}, exempt={"once"})
    assert again is not None and (again.stub.id, again.attempt) == ("once", 1)
    assert store.session("s").uses == {"once": 1}
    assert store.match("s", PATH, {"name": "x"}, {}) is None


def test_client_stream_rules(make: Any) -> None:
    store = StubStore()
    store.add(
        "s",
        [
            make("every", inputs=[{"matches": {"name": "^a"}}]),
            make("pair", inputs=[{"equals": {"name": "a1"}}, {"equals": {"name": "b"}}]),
            make("any-x", input={"equals": {"name": "x"}}),
        ],
    )
    assert winner(store, [{"name": "a1"}, {"name": "a2"}]) == "every"
    assert winner(store, [{"name": "a1"}, {"name": "b"}]) == "pair"
    assert winner(store, [{"name": "b"}, {"name": "a1"}]) is None
    assert winner(store, [{"name": "q"}, {"name": "x"}]) == "any-x"
    # bidi: message i against inputs[i]
    assert winner(store, {"name": "b"}, index=1) == "pair"
    assert winner(store, {"name": "b"}, index=0) is None


def test_closest(make: Any) -> None:
    store = StubStore()
    store.add("s", [make("far", input={"equals": {"name": "zz", "x": 1}})])
    store.add("s", [make("near", input={"equals": {"name": "alice"}})])
    closest = store.closest("s", PATH, {"name": "alice", "x": 2})
    assert closest is not None and closest[0].id == "near"
    assert store.closest("nobody", "/x.Y/Z", {}) is None


# -- the equals index --------------------------------------------------------------------------


def many(make: Any, count: int, prefix: str = "n") -> list[Stub]:
    return [make(f"{prefix}{i}", input={"equals": {"name": f"{prefix}{i}"}}) for i in range(count)]


def test_index_picks_the_declared_value_and_keeps_unindexed_stubs(make: Any) -> None:
    store = StubStore()
    stubs = many(make, 200)
    stubs.insert(50, make("catch-all", priority=-1))
    stubs.append(make("regex", input={"matches": {"name": "^n19"}}, priority=2))
    stubs.append(make("camel", input={"equals": {"userName": "n3"}}))
    store.add("s", stubs)
    assert winner(store, {"name": "n150"}) == "n150"
    assert winner(store, {"name": "n199"}) == "regex"
    assert winner(store, {"name": "zzz"}) == "catch-all"
    assert winner(store, {"other": 1}) == "catch-all"  # key absent: only unindexed stubs
    assert winner(store, {"user_name": "n3"}) == "camel"  # found under its other spelling
    candidates = store.session("s").candidates(PATH, {"name": "n150"})
    assert [s.id for s, known in candidates if known] == ["n150"]  # its whole input: no check
    assert {s.id for s, known in candidates if not known} == {"catch-all", "regex", "camel"}


def test_index_falls_back_to_a_scan_for_non_string_values(make: Any) -> None:
    store = StubStore()
    store.add("s", [*many(make, 40), make("five", input={"equals": {"name": "5"}})])
    # "5" equals 5 under the matching rules: the index must not rule it out
    assert winner(store, {"name": 5}) == "five"


def test_index_follows_adds_and_removes(make: Any) -> None:
    store = StubStore()
    store.add("s", many(make, 40))
    assert winner(store, {"name": "late"}) is None
    store.add("s", [make("late", input={"equals": {"name": "late"}})])
    assert winner(store, {"name": "late"}) == "late"
    assert store.session("s").remove("late")
    assert winner(store, {"name": "late"}) is None
    assert winner(store, {"name": "n7"}) == "n7"


def test_session_and_global_indexes_combine(make: Any) -> None:
    store = StubStore()
    store.add(None, many(make, 100, "g"))
    store.add("s", many(make, 100, "g"))
    store.add(None, [make("g-win", input={"equals": {"name": "g5"}}, priority=1)])
    assert winner(store, {"name": "g5"}) == "g-win"
    assert winner(store, {"name": "g6"}) == "g6"
    match = store.match("s", PATH, {"name": "g6"}, {})
    assert match is not None and not match.stub.is_global


def test_index_agrees_with_a_full_scan(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random stubs and requests: the indexed winner is always the full scan's winner."""
    rng = random.Random(1234)
    names = [f"v{i}" for i in range(30)] + ["5", ""]
    stubs: list[Stub] = []
    for i in range(300):
        kind = rng.random()
        raw: dict[str, Any] = {"priority": rng.choice([0, 0, 0, 1, -1])}
        if kind < 0.7:
            raw["input"] = {
                "equals": {rng.choice(["name", "name", "nick_name"]): rng.choice(names)}
            }
        elif kind < 0.8:
            raw["input"] = {"contains": {"name": rng.choice(names)}}
        elif kind < 0.9:
            raw["input"] = {"matches": {"name": f"^{rng.choice(names)[:2]}"}}
        if rng.random() < 0.1:
            raw["headers"] = {"equals": {"x-t": rng.choice(["1", "2"])}}
        if rng.random() < 0.1:
            raw["input"] = {"equals": {"name": rng.choice(names), "nickName": rng.choice(names)}}
        if rng.random() < 0.05:
            raw["input"] = {"equals": {"name": 5}}
        stubs.append(make(f"r{i}", **raw))
    store = StubStore()
    store.add("s", stubs[:150])
    store.add(None, stubs[150:])
    monkeypatch.setattr(store_module, "INDEX_THRESHOLD", 10**9)
    scanning = StubStore()  # built with the same stubs in the same order, never indexed
    scanning.add("s", stubs[:150])
    scanning.add(None, stubs[150:])
    requests = [
        {"name": rng.choice([*names, "none", 5]), "nick_name": rng.choice(names)}
        for _ in range(300)
    ]
    requests += [{"nick_name": "v1"}, {}]
    for request in requests:
        headers = {"x-t": rng.choice(["1", "2", "3"])}
        scanned = scanning.match("s", PATH, request, headers, count=False)
        monkeypatch.setattr(store_module, "INDEX_THRESHOLD", INDEX_THRESHOLD)
        indexed = store.match("s", PATH, request, headers, count=False)
        assert (indexed and indexed.stub.id) == (scanned and scanned.stub.id), request
    built = [
        plan.index
        for stubs in (store.session("s"), store.global_stubs)
        for plan in stubs._plans.values()
    ]
    unbuilt = [
        plan.index
        for stubs in (scanning.session("s"), scanning.global_stubs)
        for plan in stubs._plans.values()
    ]
    assert unbuilt == [None, None], "the scanning store built an index"
    assert all(index is not None for index in built) and len(built) == 2, "no index was built"
