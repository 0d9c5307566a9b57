"""YAML with positions: both of PyYAML's marks, duplicate keys, nesting and alias limits."""

from __future__ import annotations

import time

import pytest

from scenario_runner.errors import ScenarioFileError
from scenario_runner.scenario.yamlsource import (
    MAX_ALIAS_VALUES,
    MAX_DEPTH,
    load_documents,
    render_marks,
)


def _error(text: str) -> ScenarioFileError:
    with pytest.raises(ScenarioFileError) as info:
        load_documents(text, "f.yaml")
    return info.value


def test_a_syntax_error_shows_where_the_construct_started_and_where_it_failed() -> None:
    error = _error("name: a\nsteps:\n  - call: x\n    request: {name: x\n\n  - call: y\n")
    assert error.location is not None
    assert (error.location.line, error.location.column) == (6, 9)
    assert error.message == (
        "invalid YAML: did not find expected ',' or '}' while parsing a flow mapping "
        "that started at line 4, column 14"
    )
    assert error.snippet == "\n".join(
        [
            "    2 | steps:",
            "    3 |   - call: x",
            "  > 4 |     request: {name: x",
            "      |              ^ a flow mapping started here",
            "    5 | ",
            "  > 6 |   - call: y",
            "      |         ^ did not find expected ',' or '}'",
        ]
    )


def test_marks_far_apart_get_a_block_each() -> None:
    lines = [f"line {n}" for n in range(1, 21)]
    text = render_marks(lines, [(2, 1, "here"), (18, 3, "there")], context=1)
    assert text.splitlines() == [
        "     1 | line 1",
        "  >  2 | line 2",
        "       | ^ here",
        "     3 | line 3",
        "       ...",
        "    17 | line 17",
        "  > 18 | line 18",
        "       |   ^ there",
        "    19 | line 19",
    ]


def test_a_long_line_is_shown_around_the_caret() -> None:
    error = _error("x: " + "y" * 500 + " : z: q\n")
    assert error.snippet is not None
    shown, caret = error.snippet.splitlines()[:2]
    assert len(shown) < 200
    assert shown[caret.index("^")] == ":"


def test_a_duplicate_key_names_the_first_one() -> None:
    error = _error("name: a\nsteps: []\nname: b\n")
    assert str(error.location) == "f.yaml:3:1"
    assert "duplicate key 'name' (first written at line 1, column 1)" in error.message
    assert "^ first written here" in (error.snippet or "")


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = MAX_DEPTH + 5
    error = _error("a: " + "[" * depth + "]" * depth)
    assert f"nested deeper than {MAX_DEPTH} levels" in error.message
    assert load_documents("a: " + "[" * 50 + "]" * 50, "f.yaml")[0].value["a"]


def test_an_alias_to_itself_is_refused() -> None:
    assert "nested deeper" in _error("a: &x [*x]\n").message


def test_a_billion_laughs_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    started = time.perf_counter()
    error = _error("\n".join(lines))
    assert time.perf_counter() - started < 5
    assert "billion laughs" in error.message
    assert str(MAX_ALIAS_VALUES) in error.message


def test_ordinary_aliases_still_expand() -> None:
    text = (
        "stub: &s {service: a, method: b, output: {data: {x: 1}}}\nstubs: ["
        + ", ".join(["*s"] * 200)
        + "]\n"
    )
    (document,) = load_documents(text, "f.yaml")
    assert len(document.value["stubs"]) == 200
    assert document.value["stubs"][199] == {
        "service": "a",
        "method": "b",
        "output": {"data": {"x": 1}},
    }
