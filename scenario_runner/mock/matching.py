"""GripMock v3 stub input matching: ``equals`` / ``contains`` / ``matches`` / ``glob`` /
``anyOf`` / ``ignoreArrayOrder``.

Pure and on the mock's per-call hot path: no copies, no JSON round trips, regexes compiled once.

The request is protobuf JSON with proto field names, defaults included, enums by name and
64-bit integers as Python ints. Every section a stub declares must hold; an empty matcher
matches every request. Semantics, following GripMock v3 (``internal/infra/deeply`` and
``internal/infra/stuber``) except where SPEC.md §4 says otherwise:

``equals``
    Every declared key present and deep-equal; undeclared top-level request keys are ignored.
    Nested objects are equal when every declared key is equal and every undeclared request key
    holds a protobuf default (``0``, ``0.0``, ``""``, ``false``, ``null``, ``[]``, or an object
    made only of defaults); GripMock compares nested objects strictly, but its requests carry
    no defaults, ours do. Arrays: same length, in order, or as multisets with
    ``ignoreArrayOrder``.
``contains``
    Recursive subset: objects at every level ignore undeclared keys; strings must be equal (no
    substring search). Arrays: every declared element pairs with a distinct request element,
    in any order, and the request may hold more elements. GripMock always ignores array order
    here, so ``ignoreArrayOrder`` changes nothing.
``matches``
    Every declared string is a regex searched in the request value's text (``true``/``false``,
    ``5``, ``1.5``; null is ``""``); a pattern that does not compile never matches, but equal
    strings always do. Other declared scalars compare equal. Objects recurse like ``contains``;
    arrays need the same length and pair elements in any order (GripMock always does so).
    GripMock never lets a regex match a boolean; we match it against ``true``/``false``.

``glob``
    Every declared string is a shell pattern (Go's ``path.Match``: ``*`` and ``?`` stop at
    ``/``, ``[a-z]`` / ``[^0-9]`` classes, ``\\`` escapes) the whole value must match.
``anyOf``
    A list of matcher blocks (each with its own sections): at least one must hold, besides
    every section declared next to it.

Scalars compare with :func:`scenario_runner.matchers.scalar_equal` (``5 == 5.0 == "5"``,
``True != 1``). A declared key not found as written is also looked up in its other spelling
(``userId`` ↔ ``user_id``), as GripMock does, at every level.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from scenario_runner.matchers import compile_regex, json_text, scalar_equal

__all__ = [
    "InputMatcher",
    "declared_fields",
    "glob_is_valid",
    "glob_match",
    "header_similarity",
    "headers_match",
    "input_matches",
    "similarity",
]

_ABSENT: Final = object()

_Pairing = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class InputMatcher:
    """One GripMock ``input`` (or ``headers``, or an element of ``inputs``)."""

    equals: Mapping[str, Any] | None = None
    contains: Mapping[str, Any] | None = None
    matches: Mapping[str, Any] | None = None
    ignore_array_order: bool = False
    glob: Mapping[str, Any] | None = None
    any_of: tuple[InputMatcher, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> InputMatcher:
        """Build from a GripMock object (``{"equals": …, "ignoreArrayOrder": true}``)."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            return cls(equals=_NEVER)
        ignore = data.get("ignoreArrayOrder", data.get("ignore_array_order", False))
        any_of = data.get("anyOf") or ()
        blocks = (
            tuple(cls.from_mapping(block) for block in any_of if isinstance(block, Mapping))
            if isinstance(any_of, (list, tuple))
            else (cls(equals=_NEVER),)
        )
        return cls(
            equals=_section(data.get("equals")),
            contains=_section(data.get("contains")),
            matches=_section(data.get("matches")),
            ignore_array_order=bool(ignore),
            glob=_section(data.get("glob")),
            any_of=blocks,
        )

    @property
    def is_empty(self) -> bool:
        return not (self.equals or self.contains or self.matches or self.glob or self.any_of)


# A section that is not a mapping (``equals: 5``) cannot describe a message: it matches
# nothing, as a key that no request holds. The loader's schema refuses such stubs; a stub
# built another way must still not break the mock.
_NEVER: Final[Mapping[str, Any]] = {"\x00never": object()}


def _section(value: Any) -> Mapping[str, Any] | None:
    if not value:
        return None
    return value if isinstance(value, Mapping) else _NEVER


# -- request matching ----------------------------------------------------------------------------


def input_matches(m: InputMatcher, request: Mapping[str, Any]) -> bool:
    """Whether the request satisfies every section the matcher declares."""
    if m.equals and not _equals_top(m.equals, request, m.ignore_array_order):
        return False
    if m.contains and not _contains(m.contains, request):
        return False
    if m.matches and not _matches(m.matches, request):
        return False
    if m.glob and not _globs(m.glob, request):
        return False
    return not m.any_of or any(input_matches(block, request) for block in m.any_of)


def _globs(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        return not isinstance(actual, (Mapping, list, tuple)) and glob_match(expected, actual)
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        for key, value in expected.items():
            found = _lookup(actual, key)
            if found is _ABSENT or not _globs(value, found):
                return False
        return True
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(expected) == len(actual)
            and all(_globs(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return scalar_equal(expected, actual)


def glob_match(pattern: str, actual: Any) -> bool:
    """Go's ``path.Match`` of the whole text of ``actual``; a bad pattern never matches."""
    compiled = _glob_regex(pattern)
    return compiled is not None and compiled.fullmatch(json_text(actual)) is not None


def glob_is_valid(pattern: str) -> bool:
    """Whether a ``glob`` pattern is well formed (every ``[...]`` class closed and not empty)."""
    return _glob_regex(pattern) is not None


@functools.lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                return None
            escaped = "".join(
                "\\" + c if c in "\\][&~|" or (c == "-" and body[k - 1 : k] == "-") else c
                for k, c in enumerate(body)
            )  # literal in Go's classes; Python would read `[[`, `&&`, `--` as set operations
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _equals_top(declared: Mapping[str, Any], request: Mapping[str, Any], unordered: bool) -> bool:
    for key, expected in declared.items():
        actual = _lookup(request, key)
        if actual is _ABSENT or not _equals(expected, actual, unordered):
            return False
    return True


def _equals(expected: Any, actual: Any, unordered: bool) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and _equals_object(expected, actual, unordered)
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(expected) != len(actual):
            return False
        if unordered:
            return _pairs_up(expected, actual, lambda e, a: _equals(e, a, unordered), True)
        return all(_equals(e, a, unordered) for e, a in zip(expected, actual, strict=True))
    return scalar_equal(expected, actual)


def _equals_object(expected: Mapping[str, Any], actual: Mapping[str, Any], unordered: bool) -> bool:
    for key, value in expected.items():
        found = _lookup(actual, key)
        if found is _ABSENT or not _equals(value, found, unordered):
            return False
    for key, value in actual.items():
        if key in expected or _is_default(value):
            continue
        if not any(alias in expected for alias in _aliases(key)):
            return False
    return True


def _contains(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        for key, value in expected.items():
            found = _lookup(actual, key)
            if found is _ABSENT or not _contains(value, found):
                return False
        return True
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(expected) <= len(actual)
            and _pairs_up(expected, actual, _contains, True)
        )
    return scalar_equal(expected, actual)


def _matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        return _regex_holds(expected, actual) or scalar_equal(expected, actual)
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        for key, value in expected.items():
            found = _lookup(actual, key)
            if found is _ABSENT or not _matches(value, found):
                return False
        return True
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(expected) == len(actual)
            and _pairs_up(expected, actual, _matches, False)
        )
    return scalar_equal(expected, actual)


def _regex_holds(pattern: str, actual: Any) -> bool:
    if isinstance(actual, (Mapping, list, tuple)):
        return False
    compiled = compile_regex(pattern)
    return compiled is not None and compiled.search(json_text(actual)) is not None


# -- headers -------------------------------------------------------------------------------------


def headers_match(m: InputMatcher, headers: Mapping[str, str]) -> bool:
    """Whether request metadata satisfies a stub's ``headers`` matcher.

    Names compare case-insensitively. ``equals`` and ``contains`` both need the header present
    with exactly the declared text (a declared ``2`` or ``true`` is compared as text);
    ``matches`` searches the declared regex in the header value. Undeclared headers are
    ignored. A header sent several times is expected joined with ``;`` by the caller.
    """
    for section in (m.equals, m.contains):
        if section and not all(
            _header_equal(_header(headers, name), value) for name, value in section.items()
        ):
            return False
    if m.matches and not all(_header_regex(_header(headers, n), v) for n, v in m.matches.items()):
        return False
    if m.glob and not all(
        (found := _header(headers, n)) is not None and glob_match(str(v), found)
        for n, v in m.glob.items()
    ):
        return False
    return not m.any_of or any(headers_match(block, headers) for block in m.any_of)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        lowered = name.lower()
        # gRPC metadata keys are lower-case; this scan only runs for a caller that did not
        # normalise its mapping, or for a header that is simply absent.
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _header_equal(actual: str | None, declared: Any) -> bool:
    return actual is not None and actual == json_text(declared)


def _header_regex(actual: str | None, declared: Any) -> bool:
    if actual is None:
        return False
    if isinstance(declared, str):
        compiled = compile_regex(declared)
        if compiled is not None and compiled.search(actual) is not None:
            return True
    return actual == json_text(declared)


# -- ranking helpers -----------------------------------------------------------------------------


def declared_fields(m: InputMatcher) -> int:
    """How many leaf values the matcher declares across its sections.

    A leaf is a scalar, or an empty object/array (declaring ``tags: []`` is a constraint);
    non-empty objects and arrays count their leaves.
    """
    sections = (m.equals, m.contains, m.matches, m.glob)
    own = sum(leaf_count(section) for section in sections if section)
    return own + max((declared_fields(block) for block in m.any_of), default=0)


def leaf_count(value: Any) -> int:
    """The leaves of one section's value, as :func:`declared_fields` counts them."""
    if isinstance(value, Mapping):
        return sum(leaf_count(item) for item in value.values()) if value else 1
    if isinstance(value, (list, tuple)):
        return sum(leaf_count(item) for item in value) if value else 1
    return 1


def similarity(m: InputMatcher, request: Mapping[str, Any]) -> float:
    """The fraction (0..1) of declared leaves the request satisfies; 1.0 for an empty matcher.

    Only used to name the closest stub when none matched, so it scores leaves and not the
    shape rules around them: a stub failing only on an array length or on an undeclared
    nested field under ``equals`` may score 1.0.
    """
    total = declared_fields(m)
    if total == 0:
        return 1.0
    unordered = m.ignore_array_order
    hits = 0
    if m.equals:
        hits += _score(m.equals, request, lambda e, a: _equals(e, a, unordered), not unordered)
    if m.contains:
        hits += _score(m.contains, request, _contains, False)
    if m.matches:
        hits += _score(m.matches, request, _matches, False)
    return hits / total


def _score(expected: Any, actual: Any, holds: _Pairing, ordered: bool) -> int:
    """How many leaves of ``expected`` hold against ``actual`` under a section's rule."""
    if isinstance(expected, Mapping) and expected:
        if not isinstance(actual, Mapping):
            return 0
        score = 0
        for key, value in expected.items():
            found = _lookup(actual, key)
            if found is not _ABSENT:
                score += _score(value, found, holds, ordered)
        return score
    if isinstance(expected, (list, tuple)) and expected:
        if not isinstance(actual, (list, tuple)):
            return 0
        if holds(expected, actual):
            return leaf_count(expected)
        if ordered:
            pairs = zip(expected, actual, strict=False)
            return sum(_score(e, a, holds, ordered) for e, a in pairs)
        return sum(leaf_count(e) for e in expected if any(holds(e, a) for a in actual))
    return 1 if holds(expected, actual) else 0


def header_similarity(m: InputMatcher, headers: Mapping[str, str]) -> float:
    """Like :func:`similarity`, for a ``headers`` matcher against request metadata."""
    total = hits = 0
    for section, check in ((m.equals, _header_equal), (m.contains, _header_equal)):
        for name, value in (section or {}).items():
            total += 1
            hits += check(_header(headers, name), value)
    for name, value in (m.matches or {}).items():
        total += 1
        hits += _header_regex(_header(headers, name), value)
    return hits / total if total else 1.0


# -- helpers -------------------------------------------------------------------------------------


def _lookup(actual: Mapping[str, Any], key: str) -> Any:
    """``actual[key]``, else under the key's other spelling, else ``_ABSENT``."""
    value = actual.get(key, _ABSENT)
    if value is _ABSENT:
        for alias in _aliases(key):
            value = actual.get(alias, _ABSENT)
            if value is not _ABSENT:
                break
    return value


@functools.lru_cache(maxsize=4096)
def _aliases(key: str) -> tuple[str, ...]:
    """The other spellings of a field name: ``user_id`` → ``userId``, ``userId`` → ``user_id``."""
    if not isinstance(key, str):
        return (str(key),)  # a YAML map key written as a number; JSON map keys are strings
    aliases: list[str] = []
    if "_" in key:
        aliases.append(_camel(key))
    if any("A" <= char <= "Z" for char in key):
        aliases.append(_snake(key))
    return tuple(alias for alias in aliases if alias != key)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(name: str) -> str:
    chars = [f"_{char.lower()}" if "A" <= char <= "Z" else char for char in name]
    return "".join(chars).lstrip("_")


def _is_default(value: Any) -> bool:
    """Whether a request value is what protobuf reports for an unset field."""
    if value is None or value is False:
        return True
    if isinstance(value, (str, list, tuple)):
        return not value
    if isinstance(value, Mapping):
        return all(_is_default(item) for item in value.values())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    return False


def _pairs_up(
    expected: Sequence[Any], actual: Sequence[Any], holds: _Pairing, by_value: bool
) -> bool:
    """Whether each expected item pairs with a distinct actual item for which ``holds``.

    A real bipartite matching (augmenting paths), not a greedy pass: with subset or regex
    rules an early expected item may take the only actual item a later one could use.
    ``by_value``: ``holds`` is plain equality on scalars, so scalar lists may be counted.
    """
    if len(expected) > len(actual):
        return False
    if all(holds(e, a) for e, a in zip(expected, actual, strict=False)):
        return True  # the common case: already in order
    if by_value:
        counted = _counted_subset(expected, actual)
        if counted is not None:
            return counted
    candidates = [[j for j, a in enumerate(actual) if holds(e, a)] for e in expected]
    owner = [-1] * len(actual)
    unpaired = []
    for item, options in enumerate(candidates):  # greedy seeding leaves few paths to search
        free = next((j for j in options if owner[j] < 0), None)
        if free is None:
            unpaired.append(item)
        else:
            owner[free] = item
    return all(candidates[item] and _augment(item, candidates, owner) for item in unpaired)


def _counted_subset(expected: Sequence[Any], actual: Sequence[Any]) -> bool | None:
    """Multiset inclusion in O(n) for scalar lists whose equality is a true equivalence.

    ``None`` when it cannot decide: a non-scalar item, or ints on one side and strings on the
    other (``5`` equals both ``"5"`` and ``"05"``, which differ, so values cannot be hashed).
    """
    wanted = _scalar_counts(expected)
    present = _scalar_counts(actual)
    if wanted is None or present is None or _mixes_int_and_str(wanted, present):
        return None
    return all(present.get(key, 0) >= count for key, count in wanted.items())


def _scalar_counts(items: Sequence[Any]) -> dict[tuple[str, Any], int] | None:
    counts: dict[tuple[str, Any], int] = {}
    for item in items:
        key = _scalar_key(item)
        if key is None:
            return None
        counts[key] = counts.get(key, 0) + 1
    return counts


def _scalar_key(value: Any) -> tuple[str, Any] | None:
    """A hashable key under which scalar_equal values coincide (ints and strings excepted)."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("int", int(value)) if value.is_integer() else ("float", value)
    if isinstance(value, str):
        return ("str", value)
    return None


def _mixes_int_and_str(left: dict[tuple[str, Any], int], right: dict[tuple[str, Any], int]) -> bool:
    def kinds(counts: dict[tuple[str, Any], int]) -> set[str]:
        return {kind for kind, _ in counts}

    left_kinds, right_kinds = kinds(left), kinds(right)
    return ("int" in left_kinds and "str" in right_kinds) or (
        "str" in left_kinds and "int" in right_kinds
    )


def _augment(start: int, candidates: list[list[int]], owner: list[int]) -> bool:
    """Find an augmenting path from expected item ``start`` (iterative, so no recursion limit)."""
    seen = [False] * len(owner)
    stack = [(start, iter(candidates[start]))]
    via: list[int] = []  # via[k]: the actual item linking stack[k] to stack[k + 1]
    while stack:
        item, edges = stack[-1]
        for j in edges:
            if seen[j]:
                continue
            seen[j] = True
            if owner[j] < 0:
                owner[j] = item
                for level, taken in enumerate(via):
                    owner[taken] = stack[level][0]
                return True
            via.append(j)
            stack.append((owner[j], iter(candidates[owner[j]])))
            break
        else:
            stack.pop()
            if via:
                via.pop()
    return False
