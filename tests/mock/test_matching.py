"""GripMock v3 input matching (scenario_runner.mock.matching)."""

from __future__ import annotations

from typing import Any

import pytest

from scenario_runner.mock.matching import (
    InputMatcher,
    declared_fields,
    header_similarity,
    headers_match,
    input_matches,
    similarity,
)

# A request as the mock sees it: proto field names, defaults included, int64 as ints.
REQUEST: dict[str, Any] = {
    "name": "alice",
    "user_id": 9007199254740993,
    "age": 30,
    "score": 1.5,
    "active": True,
    "role": "ROLE_ADMIN",
    "nickname": "",
    "tags": ["a", "b", "c"],
    "address": {"city": "Oslo", "zip": "", "floor": 0},
    "items": [{"id": 1, "label": "x"}, {"id": 2, "label": "y"}],
    "meta": {},
    "parent": None,
}


def eq(**fields: Any) -> InputMatcher:
    return InputMatcher(equals=fields)


# -- equals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "matched"),
    [
        ({"name": "alice"}, True),
        ({"name": "Alice"}, False),
        ({"name": "alice", "age": 30}, True),
        ({"name": "alice", "age": 31}, False),
        ({"nick": "x"}, False),  # declared key absent from the request
        ({"age": 30.0}, True),
        ({"age": "30"}, True),
        ({"user_id": "9007199254740993"}, True),  # int64 written as a string
        ({"user_id": 9007199254740993}, True),
        ({"user_id": "9007199254740992"}, False),
        ({"active": True}, True),
        ({"active": 1}, False),
        ({"active": "true"}, False),
        ({"nickname": ""}, True),
        ({"parent": None}, True),
        ({"role": "ROLE_ADMIN"}, True),
        # nested objects: undeclared keys are fine only while they hold defaults
        ({"address": {"city": "Oslo"}}, True),
        ({"address": {"city": "Oslo", "zip": "", "floor": 0}}, True),
        ({"address": {"city": "Bergen"}}, False),
        ({"address": {"zip": ""}}, False),  # city is undeclared and not a default
        ({"meta": {}}, True),
        # arrays: same length, in order
        ({"tags": ["a", "b", "c"]}, True),
        ({"tags": ["c", "b", "a"]}, False),
        ({"tags": ["a", "b"]}, False),
        ({"tags": ["a", "b", "c", "d"]}, False),
        ({"items": [{"id": 1}, {"id": 2}]}, False),  # label is not a default
        ({"items": [{"id": 1, "label": "x"}, {"id": 2, "label": "y"}]}, True),
        ({"tags": "a"}, False),
        ({"address": "Oslo"}, False),
    ],
)
def test_equals(declared: dict[str, Any], matched: bool) -> None:
    assert input_matches(InputMatcher(equals=declared), REQUEST) is matched


def test_equals_ignores_undeclared_top_level_keys() -> None:
    assert input_matches(eq(name="alice"), {"name": "alice", "other": "non-default"})


@pytest.mark.parametrize(
    ("nested", "matched"),
    [
        ({"a": 1, "b": 0, "c": 0.0, "d": "", "e": False, "f": None, "g": [], "h": {}}, True),
        ({"a": 1, "sub": {"x": 0, "y": {"z": ""}}}, True),  # a message made only of defaults
        ({"a": 1, "b": 2}, False),
        ({"a": 1, "b": True}, False),
        ({"a": 1, "b": ["x"]}, False),
        ({"a": 1, "sub": {"x": 1}}, False),
    ],
)
def test_equals_default_valued_undeclared_nested_keys(
    nested: dict[str, Any], matched: bool
) -> None:
    matcher = eq(obj={"a": 1})
    assert input_matches(matcher, {"obj": nested}) is matched


@pytest.mark.parametrize(
    ("declared", "actual", "matched"),
    [
        (["a", "b", "c"], ["c", "a", "b"], True),
        (["a", "a", "b"], ["a", "b", "a"], True),
        (["a", "a", "b"], ["a", "b", "b"], False),
        (["a", "b"], ["b", "a", "c"], False),  # still the same length
        ([1, "2"], [2, 1], True),
        ([{"id": 2}, {"id": 1}], [{"id": 1}, {"id": 2}], True),
        ([{"v": ["x", "y"]}], [{"v": ["y", "x"]}], True),  # applies at every level
    ],
)
def test_equals_ignore_array_order(declared: list[Any], actual: list[Any], matched: bool) -> None:
    unordered = InputMatcher(equals={"list": declared}, ignore_array_order=True)
    ordered = InputMatcher(equals={"list": declared})
    assert input_matches(unordered, {"list": actual}) is matched
    assert input_matches(ordered, {"list": actual}) is (declared == actual)


@pytest.mark.parametrize(
    ("declared", "matched"),
    [
        ({"userId": 9007199254740993}, True),  # lowerCamelCase finds the proto name
        ({"address": {"city": "Oslo"}}, True),
        ({"userName": "x"}, False),
    ],
)
def test_equals_accepts_the_json_name(declared: dict[str, Any], matched: bool) -> None:
    assert input_matches(InputMatcher(equals=declared), REQUEST) is matched


def test_camel_case_request_keys_are_found_from_snake_case_declarations() -> None:
    request = {"userId": 1, "inner": {"firstName": "a", "lastName": ""}}
    matcher = eq(user_id=1, inner={"first_name": "a"})
    assert input_matches(matcher, request)


def test_equals_alias_counts_as_declared_for_the_default_rule() -> None:
    request = {"obj": {"user_id": 5}}
    assert input_matches(eq(obj={"userId": 5}), request)


def test_numeric_yaml_map_keys_find_json_string_keys() -> None:
    assert input_matches(InputMatcher(contains={"labels": {1: "one"}}), {"labels": {"1": "one"}})


# -- contains ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "matched"),
    [
        ({"name": "alice"}, True),
        ({"name": "ali"}, False),  # no substring search on strings
        ({"address": {"city": "Oslo"}}, True),
        ({"address": {"city": "Oslo", "country": "NO"}}, False),
        ({"items": [{"label": "y"}]}, True),  # subset of an element
        ({"items": [{"id": 2}, {"id": 1}]}, True),  # any order
        ({"items": [{"id": 3}]}, False),
        ({"tags": ["c", "a"]}, True),
        ({"tags": ["a", "a"]}, False),  # each declared element needs its own request element
        ({"tags": ["a", "b", "c", "d"]}, False),
        ({"tags": []}, True),
        ({"age": "30"}, True),
        ({"active": 1}, False),
        ({"parent": None}, True),
        ({"missing": None}, False),
        ({"address": "Oslo"}, False),
    ],
)
def test_contains(declared: dict[str, Any], matched: bool) -> None:
    assert input_matches(InputMatcher(contains=declared), REQUEST) is matched


def test_contains_pairs_elements_without_greedy_mistakes() -> None:
    # A greedy pass lets {a: 1} take the first element, leaving nothing for {a: 1, b: 2}.
    matcher = InputMatcher(contains={"list": [{"a": 1}, {"a": 1, "b": 2}]})
    assert input_matches(matcher, {"list": [{"a": 1, "b": 2}, {"a": 1, "b": 3}]})
    assert not input_matches(matcher, {"list": [{"a": 1, "b": 3}, {"a": 1, "b": 4}]})


def test_contains_ignores_order_with_or_without_the_flag() -> None:
    request = {"tags": ["x", "y"]}
    for flag in (False, True):
        matcher = InputMatcher(contains={"tags": ["y"]}, ignore_array_order=flag)
        assert input_matches(matcher, request)


# -- matches -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "matched"),
    [
        ({"name": "^ali"}, True),
        ({"name": "ice$"}, True),
        ({"name": "lic"}, True),  # search, not full match
        ({"name": "^bob"}, False),
        ({"age": "^3\\d$"}, True),  # numbers are matched by their JSON text
        ({"age": 30}, True),  # non-string values compare equal
        ({"age": 31}, False),
        ({"user_id": "^9007199254740993$"}, True),
        ({"score": "^1\\.5$"}, True),
        ({"active": "^true$"}, True),
        ({"active": "^false$"}, False),
        ({"active": True}, True),
        ({"parent": "^$"}, True),  # null is matched as ""
        ({"role": "^ROLE_(ADMIN|OWNER)$"}, True),
        ({"address": {"city": "^O"}}, True),
        ({"address": {"city": "^B"}}, False),
        ({"address": "Oslo"}, False),
        ({"address": ".*"}, False),  # a regex never matches an object
        ({"tags": ["^c$", "^[ab]$", "^[ab]$"]}, True),  # any order, same length
        ({"tags": ["^[ab]$", "^[ab]$", "^[ab]$"]}, False),
        ({"tags": [".*", ".*"]}, False),
        ({"items": [{"label": "^y"}, {"label": "^x"}]}, True),
        ({"missing": ".*"}, False),
    ],
)
def test_matches(declared: dict[str, Any], matched: bool) -> None:
    assert input_matches(InputMatcher(matches=declared), REQUEST) is matched


def test_matches_with_an_invalid_regex_only_matches_the_same_literal() -> None:
    matcher = InputMatcher(matches={"expr": "a(b"})
    assert input_matches(matcher, {"expr": "a(b"})
    assert not input_matches(matcher, {"expr": "ab"})


def test_matches_pairs_regexes_with_backtracking() -> None:
    # ".*" could take "a" first; only a real pairing leaves "a" for "^a$".
    matcher = InputMatcher(matches={"v": [".*", "^a$"]})
    assert input_matches(matcher, {"v": ["a", "b"]})


def test_unordered_pairing_handles_long_lists() -> None:
    declared = [i % 50 for i in range(3000)]  # many duplicates
    unordered = InputMatcher(equals={"v": declared}, ignore_array_order=True)
    assert input_matches(unordered, {"v": sorted(declared, reverse=True)})
    assert not input_matches(unordered, {"v": [*sorted(declared)[1:], 99]})
    assert input_matches(InputMatcher(contains={"v": declared[:100]}), {"v": declared[::-1]})


@pytest.mark.parametrize(
    ("declared", "actual", "matched"),
    [
        # 5 equals "5" and "05", which differ: pairing must still find the one solution
        ([5, "05"], ["05", "5"], True),
        (["5", "05"], [5, 6], False),
        ([5.0, 5], ["05", 5], True),
        ([5.0, 5], ["05", "5"], False),  # only an int pairs with a decimal string
        ([True, 1], [1, True], True),
        ([True, 1], [1, 1], False),
    ],
)
def test_unordered_pairing_of_ints_and_int_strings(
    declared: list[Any], actual: list[Any], matched: bool
) -> None:
    matcher = InputMatcher(equals={"v": declared}, ignore_array_order=True)
    assert input_matches(matcher, {"v": actual}) is matched


# -- sections together -------------------------------------------------------------------------


def test_all_sections_must_hold() -> None:
    matcher = InputMatcher(
        equals={"name": "alice"}, contains={"tags": ["b"]}, matches={"role": "ADMIN$"}
    )
    assert input_matches(matcher, REQUEST)
    assert not input_matches(matcher, {**REQUEST, "name": "bob"})
    assert not input_matches(matcher, {**REQUEST, "tags": ["a"]})
    assert not input_matches(matcher, {**REQUEST, "role": "ROLE_USER"})


@pytest.mark.parametrize("matcher", [InputMatcher(), InputMatcher(equals={}, contains={})])
def test_empty_matcher_matches_everything(matcher: InputMatcher) -> None:
    assert matcher.is_empty
    assert input_matches(matcher, REQUEST)
    assert input_matches(matcher, {})
    assert declared_fields(matcher) == 0
    assert similarity(matcher, REQUEST) == 1.0


def test_from_mapping_reads_gripmock_json() -> None:
    data = {"equals": {"a": 1}, "matches": {"b": "^x"}, "ignoreArrayOrder": True}
    assert InputMatcher.from_mapping(data) == InputMatcher(
        equals={"a": 1}, matches={"b": "^x"}, ignore_array_order=True
    )
    assert InputMatcher.from_mapping(None) == InputMatcher()
    assert InputMatcher.from_mapping({"contains": {}}).is_empty


# -- headers -------------------------------------------------------------------------------------

HEADERS = {"x-tenant": "acme", "authorization": "Bearer token-123", "x-version": "2"}


@pytest.mark.parametrize(
    ("matcher", "matched"),
    [
        (InputMatcher(equals={"x-tenant": "acme"}), True),
        (InputMatcher(equals={"X-Tenant": "acme"}), True),  # names are case-insensitive
        (InputMatcher(equals={"x-tenant": "ACME"}), False),  # values are not
        (InputMatcher(equals={"x-version": 2}), True),  # compared as text
        (InputMatcher(equals={"x-missing": "a"}), False),
        (InputMatcher(contains={"authorization": "Bearer token-123"}), True),
        (InputMatcher(contains={"authorization": "Bearer"}), False),  # GripMock: whole values
        (InputMatcher(matches={"authorization": "^Bearer "}), True),
        (InputMatcher(matches={"Authorization": "^Basic "}), False),
        (InputMatcher(matches={"x-missing": ".*"}), False),
        (InputMatcher(equals={"x-tenant": "acme"}, matches={"x-version": "^[0-9]+$"}), True),
        (InputMatcher(equals={"x-tenant": "acme"}, matches={"x-version": "^v"}), False),
        (InputMatcher(), True),
    ],
)
def test_headers_match(matcher: InputMatcher, matched: bool) -> None:
    assert headers_match(matcher, HEADERS) is matched


def test_headers_match_a_mapping_with_upper_case_keys() -> None:
    assert headers_match(InputMatcher(equals={"x-tenant": "acme"}), {"X-Tenant": "acme"})


def test_header_similarity() -> None:
    matcher = InputMatcher(equals={"x-tenant": "acme"}, matches={"authorization": "^Basic"})
    assert header_similarity(matcher, HEADERS) == 0.5
    assert header_similarity(InputMatcher(), HEADERS) == 1.0


# -- ranking helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "count"),
    [
        (eq(name="a"), 1),
        (eq(name="a", age=1), 2),
        (eq(address={"city": "Oslo", "zip": "1"}), 2),
        (eq(tags=["a", "b", "c"]), 3),
        (eq(tags=[]), 1),
        (eq(meta={}), 1),
        (eq(items=[{"id": 1, "label": "x"}, {"id": 2}]), 3),
        (InputMatcher(equals={"a": 1}, contains={"b": 2, "c": 3}, matches={"d": "x"}), 4),
    ],
)
def test_declared_fields(matcher: InputMatcher, count: int) -> None:
    assert declared_fields(matcher) == count


@pytest.mark.parametrize(
    ("matcher", "score"),
    [
        (eq(name="alice", age=30), 1.0),
        (eq(name="alice", age=31), 0.5),
        (eq(name="bob", age=31), 0.0),
        (eq(address={"city": "Oslo", "zip": "9"}), 0.5),
        (eq(tags=["a", "x", "c"]), 2 / 3),  # positional credit in order-sensitive equals
        (InputMatcher(contains={"tags": ["c", "x"]}), 0.5),
        (InputMatcher(matches={"name": "^al", "role": "^USER"}), 0.5),
        (InputMatcher(equals={"name": "alice"}, contains={"age": 1}, matches={"role": "X"}), 1 / 3),
        (eq(nope="x", name="alice"), 0.5),
    ],
)
def test_similarity(matcher: InputMatcher, score: float) -> None:
    assert similarity(matcher, REQUEST) == pytest.approx(score)


def test_similarity_orders_stubs_by_closeness() -> None:
    request = {"name": "alice", "age": 30, "city": "Oslo"}
    stubs = {
        "far": eq(name="bob", age=1, city="Rome"),
        "closest": eq(name="alice", age=30, city="Rome"),
        "near": eq(name="alice", age=1, city="Rome"),
    }
    ranked = sorted(stubs, key=lambda name: similarity(stubs[name], request), reverse=True)
    assert ranked == ["closest", "near", "far"]
    assert all(not input_matches(stub, request) for stub in stubs.values())
