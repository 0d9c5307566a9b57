"""Which scenarios a run takes: ``-k``, ``--tag`` / ``--skip-tag``, ``--shard K/N``. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import ConfigError

T = TypeVar("T")
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ConfigError(f"--shard expects K/N (e.g. 2/4), got {text!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise ConfigError(f"--shard {text}: K must be between 1 and N")
        return cls(index, count)

    def take(self, items: Sequence[T]) -> list[T]:
        """Round-robin over the stable order: disjoint, union = all, sizes differ by ≤ 1."""
        return [item for i, item in enumerate(items) if i % self.count == self.index - 1]


def keyword_matcher(expression: str) -> Callable[[str], bool]:
    """pytest-style ``-k``: words are case-insensitive substrings; ``and``, ``or``, ``not``
    and parentheses combine them. ``-k "greeter and not slow"``. Words side by side with no
    operator between them are one phrase: ``-k "known user"`` matches "a known user"."""
    tokens: list[str] = [t for t in _TOKEN.findall(expression) if t]
    if not tokens:
        return lambda _text: True
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ConfigError(f"-k {expression!r}: unexpected end of expression")
        position += 1
        return tokens[position - 1]

    def parse_or() -> Callable[[str], bool]:
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def parse_and() -> Callable[[str], bool]:
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def parse_not() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda s: not inner(s)
        token = take()
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise ConfigError(f"-k {expression!r}: missing ')'")
            return inner
        if token in (")", "and", "or"):
            raise ConfigError(f"-k {expression!r}: unexpected {token!r}")
        words = [token]
        while peek() not in (None, "(", ")", "and", "or", "not"):
            words.append(take())  # plain words side by side: one phrase, "known user"
        phrase = " ".join(words).lower()
        return lambda s: phrase in s.lower()

    matcher = parse_or()
    if position != len(tokens):
        raise ConfigError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return matcher


def select(
    items: Sequence[T],
    *,
    text: Callable[[T], str],
    tags: Callable[[T], Sequence[str]],
    keyword: str | None = None,
    with_tags: Sequence[str] = (),
    without_tags: Sequence[str] = (),
    shard: Shard | None = None,
) -> list[T]:
    """Filter then shard, keeping the given (stable) order."""
    matcher = keyword_matcher(keyword) if keyword else None
    chosen = []
    for item in items:
        item_tags = set(tags(item))
        if matcher is not None and not matcher(text(item)):
            continue
        if with_tags and not item_tags.intersection(with_tags):
            continue
        if item_tags.intersection(without_tags):
            continue
        chosen.append(item)
    return shard.take(chosen) if shard else chosen
