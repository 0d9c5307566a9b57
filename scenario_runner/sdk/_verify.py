"""``mock.verify()``: what the mock received, checked with the runner's own rules.

A check that does not hold raises ``AssertionError`` with the text the runner prints for a
``verify:`` entry, so pytest shows expected and actual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..matchers import matcher_problems
from ..mock.stubs import Stub
from ..protos import MethodInfo
from ..runner.verify import VerifyOutcome, verify_all_used, verify_calls, verify_unmatched
from ._errors import SdkError

Calls = Sequence[Mapping[str, Any]]
M = TypeVar("M", bound="MethodRule")


def held(outcome: VerifyOutcome) -> None:
    if not outcome.ok:
        raise AssertionError(outcome.summary)


class MethodRule:
    """``verify().method(service, method)``, then ``with_request`` and a count."""

    def __init__(self, method: MethodInfo) -> None:
        self.method = method
        self.rule: dict[str, Any] = {}

    def with_request(self: M, request: Mapping[str, Any]) -> M:
        """Count only calls whose request contains this (a subset; value matchers such as
        ``{"$regex": "^a"}`` allowed)."""
        problems = matcher_problems(dict(request))
        if problems:
            raise SdkError(f"with_request: {problems[0][1]}")
        self.rule["with"] = dict(request)
        return self

    def outcome(self, calls: Calls, **bounds: int) -> VerifyOutcome:
        return verify_calls({**self.rule, **bounds}, self.method, calls)


class MethodCheck(MethodRule):
    def __init__(self, method: MethodInfo, calls: Callable[[], Calls]) -> None:
        super().__init__(method)
        self._calls = calls

    def called(self, times: int) -> None:
        """Exactly ``times`` calls (with the request given, if any)."""
        held(self.outcome(self._calls(), times=times))

    def at_least(self, times: int) -> None:
        held(self.outcome(self._calls(), at_least=times))

    def at_most(self, times: int) -> None:
        held(self.outcome(self._calls(), at_most=times))

    def never(self) -> None:
        self.called(0)


class AsyncMethodCheck(MethodRule):
    def __init__(self, method: MethodInfo, calls: Callable[[], Awaitable[Calls]]) -> None:
        super().__init__(method)
        self._calls = calls

    async def called(self, times: int) -> None:
        held(self.outcome(await self._calls(), times=times))

    async def at_least(self, times: int) -> None:
        held(self.outcome(await self._calls(), at_least=times))

    async def at_most(self, times: int) -> None:
        held(self.outcome(await self._calls(), at_most=times))

    async def never(self) -> None:
        await self.called(0)


def unmatched_outcome(expected: int, calls: Calls) -> VerifyOutcome:
    return verify_unmatched(expected, calls)


def all_used_outcome(stubs: Sequence[Stub], calls: Calls) -> VerifyOutcome:
    uses = Counter(c["stub_id"] for c in calls if c.get("stub_id"))
    return verify_all_used(stubs, uses)
