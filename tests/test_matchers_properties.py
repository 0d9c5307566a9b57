"""Property tests: comparing any expectation with any received value, and checking any
matcher's syntax, never raises; a value always equals itself."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_runner.matchers import (
    MATCHER_OPERATORS,
    check_matcher_syntax,
    compare,
    matcher_problems,
)

SETTINGS = settings(max_examples=300, deadline=None)
operators = st.sampled_from([*sorted(MATCHER_OPERATORS), "$nope", "$"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["string", "number", "integer", "object", "(", "[a-", "^a", "a{99999999999}"]),
)


def _containers(children: Any) -> Any:
    return (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
        | st.dictionaries(operators, children, min_size=1, max_size=3)
    )


values = st.recursive(scalars, _containers, max_leaves=25)


@SETTINGS
@given(values, values, st.booleans())
def test_compare_any_expected_with_any_actual(expected: Any, actual: Any, exact: bool) -> None:
    for mismatch in compare(expected, actual, exact=exact, path="response"):
        assert mismatch.path.startswith("response")
        assert str(mismatch)


@SETTINGS
@given(values)
def test_matcher_syntax_of_any_value(value: Any) -> None:
    assert all(isinstance(p, str) for p in check_matcher_syntax(value, "expect"))
    for path, problem in matcher_problems(value, ("expect",)):
        assert path[0] == "expect" and problem


@SETTINGS
@given(values)
def test_a_plain_value_equals_itself(value: Any) -> None:
    if not matcher_problems(value) and "$" not in repr(value):
        assert compare(value, value, exact=True) == []
