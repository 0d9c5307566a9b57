"""Which stubs each session sees, and which one answers a request.

Stubs are indexed by gRPC path, so a lookup only looks at the stubs of the called method.
A session sees its own stubs plus the global ones; use counts (``options.times``) are kept
per session, for global stubs too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .matching import headers_match, input_matches, similarity
from .stubs import Stub


@dataclass
class Match:
    stub: Stub
    attempt: int  # 1-based count of this stub's matches in the session, this one included


@dataclass
class StubSet:
    """The stubs one session registered, and how often each stub answered in it."""

    by_path: dict[str, list[Stub]] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)

    def add(self, stub: Stub) -> None:
        self.by_path.setdefault(stub.path, []).append(stub)

    def remove(self, stub_id: str) -> bool:
        for stubs in self.by_path.values():
            for i, stub in enumerate(stubs):
                if stub.id == stub_id:
                    del stubs[i]
                    return True
        return False

    def all(self) -> list[Stub]:
        return [stub for stubs in self.by_path.values() for stub in stubs]


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

    def has_session(self, session_id: str) -> bool:
        return session_id in self._sessions

    def add(self, session_id: str | None, stubs: Iterable[Stub]) -> None:
        """Register stubs for a session, or globally when ``session_id`` is None."""
        target = self.global_stubs if session_id is None else self.session(session_id)
        for stub in stubs:
            stub.order = next(self._order)
            stub.is_global = session_id is None
            target.add(stub)

    def drop_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def visible(self, session_id: str, path: str) -> list[Stub]:
        own = self._sessions.get(session_id)
        session_stubs = own.by_path.get(path, []) if own else []
        return [*session_stubs, *self.global_stubs.by_path.get(path, [])]

    def match(
        self,
        session_id: str,
        path: str,
        request: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        headers: Mapping[str, str],
        *,
        index: int | None = None,
        count: bool = True,
    ) -> Match | None:
        """The winning stub for a request and count its use; None when no stub matches.

        ``request`` is one message, or every message of a client stream (``index`` None)
        or one message of a bidi stream (``index`` given, the message's position).
        Winner: highest priority, then most declared fields, then a session stub over a
        global one, then declaration order.
        """
        uses = self.session(session_id).uses
        best: Stub | None = None
        best_key: tuple[int, int, int, int] | None = None
        for stub in self.visible(session_id, path):
            if stub.times and uses.get(stub.id, 0) >= stub.times:
                continue
            if stub.headers is not None and not headers_match(stub.headers, headers):
                continue
            if not _request_matches(stub, request, index):
                continue
            key = (stub.priority, stub.declared, 0 if stub.is_global else 1, -stub.order)
            if best_key is None or key > best_key:
                best, best_key = stub, key
        if best is None:
            return None
        attempt = uses.get(best.id, 0) + 1
        if count:
            uses[best.id] = attempt
        return Match(best, attempt)

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


def _request_matches(
    stub: Stub, request: Mapping[str, Any] | Sequence[Mapping[str, Any]], index: int | None
) -> bool:
    if isinstance(request, Mapping):
        if stub.inputs is not None and index is not None:
            # A bidi message i is held against inputs[i] (or the only element of `inputs`).
            if len(stub.inputs) == 1:
                return input_matches(stub.inputs[0], request)
            return index < len(stub.inputs) and input_matches(stub.inputs[index], request)
        return stub.input is None or input_matches(stub.input, request)
    # A whole client stream.
    messages = list(request)
    if stub.inputs is not None:
        if len(stub.inputs) == 1:
            return all(input_matches(stub.inputs[0], m) for m in messages)
        return len(stub.inputs) == len(messages) and all(
            input_matches(m, msg) for m, msg in zip(stub.inputs, messages, strict=True)
        )
    if stub.input is not None:
        return any(input_matches(stub.input, m) for m in messages)
    return True
