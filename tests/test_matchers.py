"""Expectation comparison (scenario_runner.matchers): rules, operators, paths, syntax checks."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from scenario_runner.matchers import (
    MATCHER_OPERATORS,
    MISSING,
    Mismatch,
    as_number,
    check_matcher_syntax,
    compare,
    compile_regex,
    is_matcher,
    json_text,
    parse_int,
    scalar_equal,
)


def paths(mismatches: list[Mismatch]) -> list[str]:
    return [m.path for m in mismatches]


# -- scalars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        ("a", "a", True),
        ("a", "b", False),
        (5, 5, True),
        (5, 5.0, True),
        (5.0, 5, True),
        (5.5, 5, False),
        (5, "5", True),
        ("5", 5, True),
        ("-12", -12, True),
        ("+7", 7, True),
        (9007199254740993, "9007199254740993", True),  # int64 beyond float precision
        ("5.0", 5, False),
        ("5 ", 5, False),
        ("five", 5, False),
        (5, "6", False),
        ("5", 5.0, False),  # only an int pairs with a decimal string
        (True, True, True),
        (False, False, True),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (0, False, False),
        ("true", True, False),
        (None, None, True),
        (None, 0, False),
        (None, "", False),
        ("", None, False),
        (None, False, False),
    ],
)
def test_scalar_equal(expected: Any, actual: Any, equal: bool) -> None:
    assert scalar_equal(expected, actual) is equal
    assert (compare(expected, actual) == []) is equal


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("-42", -42), ("+3", 3), ("1.5", None), ("", None), ("1e3", None)],
)
def test_parse_int(text: str, value: int | None) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize(
    ("value", "number"),
    [(3, 3), (2.5, 2.5), ("17", 17), ("x", None), (True, None), (None, None), ([], None)],
)
def test_as_number(value: Any, number: float | None) -> None:
    assert as_number(value) == number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        (12, "12"),
        (5.0, "5"),
        (1.5, "1.5"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_json_text(value: Any, text: str) -> None:
    assert json_text(value) == text


def test_compile_regex_is_cached_and_tolerates_bad_patterns() -> None:
    assert compile_regex("^a+$") is compile_regex("^a+$")
    assert compile_regex("(") is None


def test_scalar_mismatch_reports_both_values() -> None:
    [mismatch] = compare("Hello alice", "Hello bob", path="response.message")
    assert mismatch == Mismatch(
        "response.message", "Hello alice", "Hello bob", "expected 'Hello alice', got 'Hello bob'"
    )


def test_booleans_and_null_are_shown_in_json_spelling() -> None:
    [mismatch] = compare(True, None, path="ok")
    assert mismatch.reason == "expected true, got null"


# -- objects -------------------------------------------------------------------------------------

ACTUAL_USER: dict[str, Any] = {
    "id": 7,
    "name": "ann",
    "address": {"city": "Oslo", "zip": "0150"},
    "tags": ["a", "b"],
}


@pytest.mark.parametrize(
    ("expected", "exact", "wanted_paths"),
    [
        ({"name": "ann"}, False, []),
        ({"address": {"city": "Oslo"}}, False, []),
        # exact mode reports every undeclared key, nested ones included
        ({"address": {"city": "Oslo"}}, True, ["address.zip", "id", "name", "tags"]),
        (ACTUAL_USER, True, []),
        ({**ACTUAL_USER, "address": {"city": "Oslo"}}, True, ["address.zip"]),
        ({"name": "bob"}, False, ["name"]),
        ({"nick": "a"}, False, ["nick"]),
    ],
)
def test_object_subset_and_exact(
    expected: dict[str, Any], exact: bool, wanted_paths: list[str]
) -> None:
    assert sorted(paths(compare(expected, ACTUAL_USER, exact=exact))) == wanted_paths


def test_missing_key_uses_the_missing_sentinel() -> None:
    [mismatch] = compare({"user": {"nick": "a"}}, {"user": {}}, path="response")
    assert mismatch.path == "response.user.nick"
    assert mismatch.actual is MISSING
    assert mismatch.reason == "missing key"
    assert repr(MISSING) == "<missing>"


def test_unexpected_key_in_exact_mode() -> None:
    [mismatch] = compare({"a": 1}, {"a": 1, "b": 2}, exact=True, path="r")
    assert mismatch == Mismatch("r.b", MISSING, 2, "unexpected key (its value: 2)")


def test_exact_mode_applies_to_nested_objects_in_arrays() -> None:
    expected = {"items": [{"id": 1}]}
    actual = {"items": [{"id": 1, "extra": True}]}
    assert compare(expected, actual) == []
    assert paths(compare(expected, actual, exact=True)) == ["items[0].extra"]


def test_object_against_non_object() -> None:
    [mismatch] = compare({"a": 1}, "text", path="r")
    assert mismatch.reason == "expected an object, got string 'text'"


def test_all_mismatches_are_returned_not_only_the_first() -> None:
    expected = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "e": "x"}
    actual = {"a": 2, "b": {"c": 3, "d": [1, 3]}, "e": "x"}
    assert paths(compare(expected, actual)) == ["a", "b.c", "b.d[1]"]


def test_odd_keys_are_quoted_in_paths() -> None:
    found = compare({"a.b": 1, "with space": 2, "x-tenant": 3}, {})
    assert paths(found) == ['["a.b"]', '["with space"]', "x-tenant"]


def test_mismatch_renders_as_path_and_reason() -> None:
    assert str(Mismatch("a.b", 1, 2, "expected 1, got 2")) == "a.b: expected 1, got 2"
    assert str(Mismatch("", 1, 2, "expected 1, got 2")) == "<root>: expected 1, got 2"


def test_missing_sentinel_survives_pickling() -> None:
    mismatch = compare({"a": 1}, {})[0]
    assert pickle.loads(pickle.dumps(mismatch)).actual is MISSING


# -- arrays --------------------------------------------------------------------------------------


def test_array_length_and_elements_are_both_reported() -> None:
    found = compare(["a", "x", "c"], ["a", "b"], path="response.items")
    assert [(m.path, m.reason) for m in found] == [
        ("response.items", "expected 3 items, got 2"),
        ("response.items[1]", "expected 'x', got 'b'"),
    ]


def test_array_order_matters() -> None:
    assert paths(compare([1, 2], [2, 1])) == ["[0]", "[1]"]


def test_array_elements_compared_in_same_mode() -> None:
    expected = [{"name": "a"}, {"name": "b"}]
    actual = [{"name": "a", "id": 1}, {"name": "b", "id": 2}]
    assert compare(expected, actual) == []
    assert paths(compare(expected, actual, exact=True)) == ["[0].id", "[1].id"]


def test_array_against_non_array() -> None:
    [mismatch] = compare([1], {"a": 1}, path="r")
    assert mismatch.reason.startswith("expected an array, got object")


def test_deep_path_string() -> None:
    expected = {"items": [{}, {}, {"name": "c"}]}
    actual = {"items": [{}, {}, {"name": "z"}]}
    [mismatch] = compare(expected, actual, path="response")
    assert mismatch.path == "response.items[2].name"


# -- matchers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "result"),
    [
        ({"$regex": "^a"}, True),
        ({"$gte": 1, "$lte": 5}, True),
        ({"$contains": "x"}, True),
        ({}, False),
        ({"$nope": 1}, False),
        ({"$regex": "a", "name": "x"}, False),
        ("$regex", False),
        ([{"$regex": "a"}], False),
    ],
)
def test_is_matcher(value: Any, result: bool) -> None:
    assert is_matcher(value) is result


def test_operator_set() -> None:
    assert {
        "$regex",
        "$type",
        "$any",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$len",
        "$contains",
        "$ne",
        "$empty",
    } == (MATCHER_OPERATORS)


@pytest.mark.parametrize(
    ("matcher", "actual", "holds"),
    [
        # $regex: search, strings only
        ({"$regex": "^Hi"}, "Hi bob", True),
        ({"$regex": "bob"}, "Hi bob", True),
        ({"$regex": "^bob"}, "Hi bob", False),
        ({"$regex": "^5$"}, 5, False),
        ({"$regex": "("}, "(", False),
        # $type
        ({"$type": "string"}, "", True),
        ({"$type": "string"}, 1, False),
        ({"$type": "number"}, 1, True),
        ({"$type": "number"}, 1.5, True),
        ({"$type": "number"}, True, False),
        ({"$type": "number"}, "1", False),
        ({"$type": "integer"}, 3, True),
        ({"$type": "integer"}, 3.0, False),
        ({"$type": "integer"}, "3", False),
        ({"$type": "integer"}, False, False),
        ({"$type": "boolean"}, False, True),
        ({"$type": "boolean"}, 0, False),
        ({"$type": "object"}, {}, True),
        ({"$type": "object"}, [], False),
        ({"$type": "array"}, [], True),
        ({"$type": "array"}, "[]", False),
        ({"$type": "null"}, None, True),
        ({"$type": "null"}, 0, False),
        ({"$type": "float"}, 1.0, False),
        # $any
        ({"$any": True}, None, True),
        ({"$any": True}, 0, True),
        ({"$any": False}, 0, False),
        # ordering
        ({"$gt": 3}, 4, True),
        ({"$gt": 3}, 3, False),
        ({"$gte": 3}, 3, True),
        ({"$gte": 3}, 2.9, False),
        ({"$lt": 3}, 2, True),
        ({"$lt": 3}, 3, False),
        ({"$lte": 3}, 3.0, True),
        ({"$lte": 3}, 4, False),
        ({"$gt": 10}, "11", True),  # an int64 that arrived as a string
        ({"$gt": "10"}, 11, True),
        ({"$gt": 1}, "abc", False),
        ({"$gt": 0}, True, False),
        ({"$gt": 0}, None, False),
        ({"$gte": 1, "$lte": 5}, 3, True),
        ({"$gte": 1, "$lte": 5}, 0, False),
        ({"$gte": 1, "$lte": 5}, 6, False),
        # $len
        ({"$len": 3}, "abc", True),
        ({"$len": 2}, [1, 2], True),
        ({"$len": 1}, {"a": 1}, True),
        ({"$len": 2}, [1], False),
        ({"$len": 1}, 5, False),
        # $contains
        ({"$contains": "ell"}, "hello", True),
        ({"$contains": "xyz"}, "hello", False),
        ({"$contains": 1}, "hello", False),
        ({"$contains": 2}, [1, 2, 3], True),
        ({"$contains": "2"}, [1, 2, 3], True),
        ({"$contains": 4}, [1, 2, 3], False),
        ({"$contains": {"id": 2}}, [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], True),
        ({"$contains": {"id": 3}}, [{"id": 1}], False),
        ({"$contains": {"$regex": "^b"}}, ["a", "bc"], True),
        ({"$contains": {"a": 1}}, {"a": 1, "b": 2}, True),
        ({"$contains": {"a": 2}}, {"a": 1, "b": 2}, False),
        ({"$contains": "a"}, {"a": 1}, False),
        ({"$contains": 1}, 1, False),
        ({"$regex": "^a", "$len": 3}, "abc", True),
        ({"$regex": "^a", "$len": 3}, "abcd", False),
    ],
)
def test_operator(matcher: dict[str, Any], actual: Any, holds: bool) -> None:
    found = compare({"v": matcher}, {"v": actual}, path="r")
    assert (found == []) is holds, found
    for mismatch in found:
        assert mismatch.path == "r.v"
        assert mismatch.expected == matcher
        assert mismatch.actual == actual
        assert mismatch.reason


@pytest.mark.parametrize(
    ("matcher", "reason"),
    [
        ({"$regex": "^Hi"}, "'Hello bob' does not match regex '^Hi'"),
        ({"$type": "number"}, "expected type number, got string 'Hello bob'"),
        ({"$len": 3}, "expected length 3, got 9"),
        ({"$contains": "alice"}, "'Hello bob' does not contain 'alice'"),
        ({"$gt": 1}, "expected a number > 1, got string 'Hello bob'"),
    ],
)
def test_operator_reasons(matcher: dict[str, Any], reason: str) -> None:
    [mismatch] = compare(matcher, "Hello bob")
    assert mismatch.reason == reason


def test_every_failing_operator_is_reported() -> None:
    found = compare({"$gt": 10, "$lt": 0, "$type": "integer"}, 5)
    assert [m.reason for m in found] == [
        "expected a number > 10, got 5",
        "expected a number < 0, got 5",
    ]


@pytest.mark.parametrize(
    ("matcher", "mismatch_reason"),
    [
        ({"$any": True}, "missing key"),
        ({"$regex": "."}, "missing key"),
        ({"$gte": 0}, "missing key"),
        ({"$any": False}, None),
    ],
)
def test_matchers_on_a_missing_key(matcher: dict[str, Any], mismatch_reason: str | None) -> None:
    found = compare({"a": matcher}, {})
    if mismatch_reason is None:
        assert found == []
    else:
        assert [(m.path, m.actual, m.reason) for m in found] == [("a", MISSING, mismatch_reason)]


def test_any_false_requires_absence() -> None:
    [mismatch] = compare({"a": {"$any": False}}, {"a": None})
    assert mismatch.reason == "expected the key to be absent"


def test_matcher_values_are_not_subject_to_exact_mode() -> None:
    expected = {"meta": {"$contains": {"a": 1}}}
    assert compare(expected, {"meta": {"a": 1, "b": 2}}, exact=True) == []


def test_matchers_inside_arrays_and_nested_objects() -> None:
    expected = {
        "items": [{"id": {"$type": "integer"}, "name": {"$regex": "^item-"}}],
        "total": {"$gte": 1},
    }
    good = {"items": [{"id": 1, "name": "item-1"}], "total": 1}
    bad = {"items": [{"id": "1", "name": "x"}], "total": 0}
    assert compare(expected, good, exact=True) == []
    assert paths(compare(expected, bad, path="response")) == [
        "response.items[0].id",
        "response.items[0].name",
        "response.total",
    ]


def test_unknown_operator_dict_is_compared_literally() -> None:
    assert compare({"$foo": 1}, {"$foo": 1}) == []
    assert paths(compare({"a": {"$foo": 1}}, {"a": 1})) == ["a"]


# -- syntax check --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"a": {"$regex": "^x$"}, "b": [{"$type": "integer"}], "c": {"$any": True}},
        {"n": {"$gt": 1, "$lte": 2.5}, "m": {"$gte": "9007199254740993"}, "l": {"$len": 0}},
        {"c": {"$contains": {"inner": {"$regex": "a"}}}},
        {"plain": {"nested": [1, "two", None]}},
        "scalar",
    ],
)
def test_valid_matchers_have_no_syntax_problems(value: Any) -> None:
    assert check_matcher_syntax(value, "expect") == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": {"$regex": "("}}, "expect.a: $regex '(' is not a valid regular expression"),
        ({"a": {"$regex": 5}}, "expect.a: $regex needs a string pattern, got 5"),
        ({"a": {"$type": "int"}}, "expect.a: $type must be one of array, boolean, integer"),
        ({"a": {"$any": "yes"}}, "expect.a: $any must be true or false, got 'yes'"),
        ({"a": {"$gt": "many"}}, "expect.a: $gt needs a number, got 'many'"),
        ({"a": {"$lte": True}}, "expect.a: $lte needs a number, got true"),
        ({"a": {"$len": -1}}, "expect.a: $len needs a non-negative integer, got -1"),
        ({"a": {"$len": 1.5}}, "expect.a: $len needs a non-negative integer, got 1.5"),
        ({"a": {"$nope": 1}}, "expect.a: unknown matcher operator '$nope'"),
        ({"a": {"$regex": "x", "b": 1}}, "expect.a: matcher operators cannot be mixed"),
        ({"l": [{}, {"$type": "bogus"}]}, "expect.l[1]: $type must be one of"),
        ({"c": {"$contains": {"$gt": "x"}}}, "expect.c.$contains: $gt needs a number"),
    ],
)
def test_malformed_matchers_are_reported(value: Any, problem: str) -> None:
    problems = check_matcher_syntax(value, "expect")
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem)


def test_syntax_problems_at_the_root() -> None:
    assert check_matcher_syntax({"$type": "x"}) == [
        "<root>: $type must be one of array, boolean, integer, null, number, object, string, "
        "got 'x'"
    ]


def test_all_syntax_problems_are_reported() -> None:
    value = {"a": {"$regex": "("}, "b": {"$len": "x"}, "c": [{"$foo": 1}]}
    problems = check_matcher_syntax(value, "v")
    assert [p.split(":")[0] for p in problems] == ["v.a", "v.b", "v.c[0]"]
