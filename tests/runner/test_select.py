"""``-k`` expressions, tags and shards (pure)."""

from __future__ import annotations

import pytest

from scenario_runner.errors import ConfigError
from scenario_runner.runner.select import Shard, keyword_matcher, select

NAMES = [
    "greeter says hello",
    "greeter is slow",
    "orders are placed",
    "books are listed",
    "a known user is greeted",
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("greeter", [0, 1]),
        ("GREETER", [0, 1]),
        ("greeter and not slow", [0]),
        ("not greeter", [2, 3, 4]),
        ("orders or books", [2, 3]),
        ("not (greeter or orders)", [3, 4]),
        ("(greeter or orders) and not slow", [0, 2]),
        ("not not slow", [1]),
        ("known user", [4]),  # words side by side: one phrase
        ("user known", []),
        ("greet", [0, 1, 4]),
        ("  greeter   ", [0, 1]),
    ],
)
def test_keyword_expressions(expression: str, expected: list[int]) -> None:
    matcher = keyword_matcher(expression)
    assert [i for i, name in enumerate(NAMES) if matcher(name)] == expected


def test_an_empty_expression_matches_everything() -> None:
    assert all(keyword_matcher("")(name) for name in NAMES)


@pytest.mark.parametrize(
    "expression", ["and", "greeter and", "(greeter", "greeter)", "not", "or x"]
)
def test_bad_expressions_are_config_errors(expression: str) -> None:
    with pytest.raises(ConfigError, match="-k"):
        keyword_matcher(expression)


@pytest.mark.parametrize("text", ["1/1", "1/4", "4/4", " 2 / 3 "])
def test_shard_parse(text: str) -> None:
    shard = Shard.parse(text)
    assert 1 <= shard.index <= shard.count


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1-2", "-1/2", ""])
def test_bad_shards(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse(text)


@pytest.mark.parametrize("size", [0, 1, 2, 7, 100, 121])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_are_disjoint_cover_all_and_are_balanced(size: int, count: int) -> None:
    items = list(range(size))
    parts = [Shard(k, count).take(items) for k in range(1, count + 1)]
    flat = sorted(i for part in parts for i in part)
    assert flat == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for part in parts:
        assert part == sorted(part)  # stable order within a shard


def test_select_filters_then_shards() -> None:
    tags = {0: ["smoke"], 1: ["slow"], 2: ["smoke", "orders"], 3: [], 4: ["smoke"]}
    chosen = select(
        list(range(5)),
        text=lambda i: NAMES[i],
        tags=lambda i: tags[i],
        with_tags=["smoke"],
        without_tags=["orders"],
    )
    assert chosen == [0, 4]
    assert select(
        list(range(5)), text=lambda i: NAMES[i], tags=lambda i: tags[i], shard=Shard(2, 2)
    ) == [1, 3]
    assert select(
        list(range(5)),
        text=lambda i: NAMES[i],
        tags=lambda i: tags[i],
        keyword="greeter",
        without_tags=["slow"],
    ) == [0]
