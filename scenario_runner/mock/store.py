"""Which stubs each session sees, and which one answers a request.

Stubs are indexed by gRPC path, so a lookup only looks at the stubs of the called method.
A session sees its own stubs plus the global ones; use counts (``options.times``) are kept
per session, for global stubs too.

A method with many stubs is also indexed by the value of one top-level ``input.equals``
field (the one most of its stubs declare as a string): a request is then only held against
the stubs declaring the value it carries, plus the stubs the index cannot rule out. The
index only ever narrows the candidates to a superset of the matching stubs, so the winner
is the one a full scan would pick.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeGuard, cast

from .matching import _ABSENT, _lookup, headers_match, input_matches, similarity
from .stubs import Stub

# Below this many stubs on one method a plain scan is as fast as an index lookup.
INDEX_THRESHOLD = 16


class Match(NamedTuple):
    stub: Stub
    attempt: int  # 1-based count of this stub's matches in the session, this one included


# A candidate stub and whether its input is known to match already (only its ``headers``
# and ``options.times`` still apply) rather than to be checked against the request.
Candidate = tuple[Stub, bool]
_NONE: tuple[Candidate, ...] = ()
_new_tuple = tuple.__new__  # builds a Match without NamedTuple's Python-level __new__


def _to_check(stubs: Iterable[Stub]) -> tuple[Candidate, ...]:
    return tuple((stub, False) for stub in stubs)


@dataclass
class _EqualsIndex:
    """The stubs of one method by the string their ``input.equals[key]`` declares."""

    key: str
    # value -> its candidates: first the stubs whose whole input is `equals: {key: value}`
    # (they match outright), then the other stubs declaring that value, then ``rest``.
    by_value: dict[str, tuple[Candidate, ...]]
    rest: tuple[Candidate, ...]  # stubs that do not declare ``key`` as a string
    every: tuple[Candidate, ...]

    def candidates(self, request: Mapping[str, Any]) -> Sequence[Candidate]:
        value = request.get(self.key, _ABSENT)
        if value is _ABSENT:
            value = _lookup(request, self.key)  # under the key's other spelling
        if value is _ABSENT:
            return self.rest  # `equals` needs the key present: no indexed stub matches
        if type(value) is not str:
            return self.every  # "5" equals 5 (scalar_equal): the index cannot decide
        return self.by_value.get(value, self.rest)


def _build_index(stubs: Sequence[Stub]) -> _EqualsIndex | None:
    counts: Counter[str] = Counter()
    for stub in stubs:
        counts.update(_indexable(stub).keys())
    if not counts:
        return None
    key, count = counts.most_common(1)[0]
    if count < INDEX_THRESHOLD // 2:
        return None
    grouped: dict[str, tuple[list[Stub], list[Stub]]] = {}
    rest: list[Stub] = []
    for stub in stubs:
        value = _indexable(stub).get(key)
        if value is None:
            rest.append(stub)
            continue
        exact, partial = grouped.setdefault(value, ([], []))
        matcher = stub.input
        only_this = (
            matcher is not None
            and matcher.equals is not None
            and len(matcher.equals) == 1
            and not matcher.contains
            and not matcher.matches
        )
        (exact if only_this else partial).append(stub)
    unindexed = _to_check(rest)
    by_value = {
        value: (*((stub, True) for stub in exact), *_to_check(partial), *unindexed)
        for value, (exact, partial) in grouped.items()
    }
    return _EqualsIndex(key, by_value, unindexed, _to_check(stubs))


def _indexable(stub: Stub) -> dict[str, str]:
    """The top-level ``input.equals`` fields declared as strings, for a single-input stub."""
    if stub.inputs is not None or stub.input is None or not stub.input.equals:
        return {}
    return {k: v for k, v in stub.input.equals.items() if type(k) is str and type(v) is str}


def _is_message(request: Any) -> TypeGuard[Mapping[str, Any]]:
    """One message (a mapping) rather than a client stream (a sequence of them)."""
    kind = type(request)
    return kind is dict or (kind is not list and isinstance(request, Mapping))


@dataclass
class _Plan:
    """How the stubs of one method are looked up: an index, or every stub in turn."""

    index: _EqualsIndex | None
    every: tuple[Candidate, ...]


@dataclass
class StubSet:
    """The stubs one session registered, and how often each stub answered in it."""

    by_path: dict[str, list[Stub]] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)  # global stubs deleted in this session
    _plans: dict[str, _Plan] = field(default_factory=dict, repr=False)

    def add(self, stub: Stub) -> None:
        self.by_path.setdefault(stub.path, []).append(stub)
        self._plans.pop(stub.path, None)

    def remove(self, stub_id: str) -> bool:
        for path, stubs in self.by_path.items():
            for i, stub in enumerate(stubs):
                if stub.id == stub_id:
                    del stubs[i]
                    self._plans.pop(path, None)
                    return True
        return False

    def candidates(
        self, path: str, request: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> Sequence[Candidate]:
        """The stubs of ``path`` that might match ``request``: every stub that matches is
        among them, each with whether its input is known to match already."""
        plan = self._plans.get(path)
        if plan is None:
            stubs = self.by_path.get(path)
            if not stubs:
                return _NONE
            index = _build_index(stubs) if len(stubs) >= INDEX_THRESHOLD else None
            plan = self._plans[path] = _Plan(index, _to_check(stubs))
        index = plan.index
        if index is None or (type(request) is not dict and not _is_message(request)):
            return plan.every
        return index.candidates(request)


class StubStore:
    def __init__(self) -> None:
        self.global_stubs = StubSet()
        self._sessions: dict[str, StubSet] = {}
        self._order = itertools.count()

    def session(self, session_id: str) -> StubSet:
        stubs = self._sessions.get(session_id)
        if stubs is None:
            stubs = self._sessions[session_id] = StubSet()
        return stubs

    def add(self, session_id: str | None, stubs: Iterable[Stub]) -> None:
        """Register stubs for a session, or globally when ``session_id`` is None."""
        target = self.global_stubs if session_id is None else self.session(session_id)
        for stub in stubs:
            stub.placed(next(self._order), is_global=session_id is None)
            target.add(stub)

    def drop_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def remove(self, session_id: str, stub_id: str) -> bool:
        """Remove a stub from a session; a global stub is only hidden from that session."""
        own = self.session(session_id)
        if own.remove(stub_id):
            return True
        if any(s.id == stub_id for stubs in self.global_stubs.by_path.values() for s in stubs):
            own.hidden.add(stub_id)
            return True
        return False

    def visible(self, session_id: str, path: str) -> list[Stub]:
        own = self._sessions.get(session_id)
        session_stubs = own.by_path.get(path, []) if own else []
        hidden = own.hidden if own else set()
        shared = [s for s in self.global_stubs.by_path.get(path, []) if s.id not in hidden]
        return [*session_stubs, *shared]

    def match(
        self,
        session_id: str,
        path: str,
        request: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        headers: Mapping[str, str],
        *,
        index: int | None = None,
        count: bool = True,
        exempt: Collection[str] = (),
    ) -> Match | None:
        """The winning stub for a request and count its use; None when no stub matches.

        ``request`` is one message, or every message of a client stream (``index`` None)
        or one message of a bidi stream (``index`` given, the message's position).
        Winner: highest priority, then most declared fields, then a session stub over a
        global one, then declaration order. ``exempt``: ids of stubs already counted for
        this call (a bidi stream counts a stub once per call, not once per message): they
        are not held to ``options.times`` again and not counted again.
        """
        own = self._sessions.get(session_id) or self.session(session_id)
        uses = own.uses
        candidates = own.candidates(path, request)
        if path in self.global_stubs.by_path:
            shared = self.global_stubs.candidates(path, request)
            if own.hidden:
                shared = tuple(c for c in shared if c[0].id not in own.hidden)
            candidates = (*candidates, *shared)
        if not _is_message(request):
            return self._match_stream(own, candidates, request, headers, count)
        best: Stub | None = None
        for stub, known in candidates:
            if stub.times and uses.get(stub.id, 0) >= stub.times and stub.id not in exempt:
                continue
            if stub.headers is not None and not headers_match(stub.headers, headers):
                continue
            if not known and not _request_matches(stub, request, index):
                continue
            if best is None or stub.rank > best.rank:
                best = stub
        if best is None:
            return None
        stub_id = best.id
        used = uses.get(stub_id, 0)
        if stub_id in exempt:
            return _new_tuple(Match, (best, used))
        if count:
            uses[stub_id] = used + 1
        return _new_tuple(Match, (best, used + 1))

    def _match_stream(
        self,
        own: StubSet,
        candidates: Sequence[Candidate],
        messages: Any,
        headers: Mapping[str, str],
        count: bool,
    ) -> Match | None:
        """A whole client stream: among stubs of equal priority, a stub whose single
        ``input`` matches a later message wins (as GripMock ranks them)."""
        uses = own.uses
        best: Stub | None = None
        best_key: tuple[int, ...] | None = None
        for stub, _ in candidates:
            if stub.times and uses.get(stub.id, 0) >= stub.times:
                continue
            if stub.headers is not None and not headers_match(stub.headers, headers):
                continue
            latest = _latest_match(stub, messages)
            if latest is None:
                continue
            rank = stub.rank
            key = (rank[0], latest, *rank[1:])
            if best_key is None or key > best_key:
                best, best_key = stub, key
        if best is None:
            return None
        used = uses.get(best.id, 0)
        if count:
            uses[best.id] = used + 1
        return _new_tuple(Match, (best, used + 1))

    def closest(
        self, session_id: str, path: str, request: Mapping[str, Any]
    ) -> tuple[Stub, float] | None:
        """The stub of this method that comes nearest to matching (for NOT_FOUND messages)."""
        best: tuple[Stub, float] | None = None
        for stub in self.visible(session_id, path):
            matcher = stub.input or (stub.inputs[0] if stub.inputs else None)
            score = similarity(matcher, request) if matcher else 1.0
            if best is None or score > best[1]:
                best = (stub, score)
        return best


def _latest_match(stub: Stub, messages: Sequence[Mapping[str, Any]]) -> int | None:
    """The position of the last message a stub matches in a client stream, or None."""
    if stub.inputs is not None or stub.input is None:
        return len(messages) - 1 if _request_matches(stub, messages, None) else None
    for position in range(len(messages) - 1, -1, -1):
        if input_matches(stub.input, messages[position]):
            return position
    return None


def _request_matches(
    stub: Stub, request: Mapping[str, Any] | Sequence[Mapping[str, Any]], index: int | None
) -> bool:
    if _is_message(request):
        if stub.inputs is not None and index is not None:
            # A bidi message i is held against inputs[i] (or the only element of `inputs`).
            if len(stub.inputs) == 1:
                return input_matches(stub.inputs[0], request)
            return index < len(stub.inputs) and input_matches(stub.inputs[index], request)
        return stub.input is None or input_matches(stub.input, request)
    # A whole client stream.
    messages = cast(Sequence[Mapping[str, Any]], request)
    if stub.inputs is not None:
        if len(stub.inputs) == 1:
            return all(input_matches(stub.inputs[0], m) for m in messages)
        return len(stub.inputs) == len(messages) and all(
            input_matches(m, msg) for m, msg in zip(stub.inputs, messages, strict=True)
        )
    if stub.input is not None:
        return any(input_matches(stub.input, m) for m in messages)
    return True
