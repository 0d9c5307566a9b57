"""Evaluate ``verify`` entries against the calls the mock recorded. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..matchers import compare
from ..mock.stubs import Stub
from ..protos import MethodInfo, descriptor_of, normalize_expected


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    summary: str  # "helloworld.Greeter/SayHello called 1 time (expected 2)"


def verify_calls(
    rule: Mapping[str, Any], method: MethodInfo, calls: Sequence[Mapping[str, Any]]
) -> VerifyOutcome:
    """``call`` + ``times`` / ``at_least`` / ``at_most`` + ``with``."""
    wanted = rule.get("with")
    expected = normalize_expected(wanted, descriptor_of(method.input_type)) if wanted else None
    count = 0
    for call in calls:
        if call.get("method") != method.full_name:
            continue
        if expected is None or any(not compare(expected, r) for r in _requests(call)):
            count += 1
    bounds = _bounds(rule)
    ok = all(check(count) for _, check in bounds.values())
    label = method.full_name + (f" with {json.dumps(wanted, default=str)}" if wanted else "")
    wanted_text = ", ".join(text for text, _ in bounds.values())
    summary = f"{label}: called {_times(count)} (expected {wanted_text})"
    if not ok:
        seen = [
            json.dumps(r, default=str)
            for c in calls
            for r in _requests(c)
            if c.get("method") == method.full_name
        ]
        if seen:
            summary += "; requests received: " + "; ".join(seen[:10])
    return VerifyOutcome(ok, summary)


def _bounds(rule: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    bounds: dict[str, tuple[str, Any]] = {}
    if "times" in rule:
        n = int(rule["times"])
        bounds["times"] = (f"exactly {_times(n)}", lambda c: c == n)
    if "at_least" in rule:
        lo = int(rule["at_least"])
        bounds["at_least"] = (f"at least {_times(lo)}", lambda c: c >= lo)
    if "at_most" in rule:
        hi = int(rule["at_most"])
        bounds["at_most"] = (f"at most {_times(hi)}", lambda c: c <= hi)
    if not bounds:
        bounds["at_least"] = ("at least 1 time", lambda c: c >= 1)
    return bounds


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def _requests(call: Mapping[str, Any]) -> list[Any]:
    if "requests" in call:
        return list(call["requests"] or [])
    return [call.get("request")]


def verify_unmatched(expected: int, calls: Sequence[Mapping[str, Any]]) -> VerifyOutcome:
    unmatched = [c for c in calls if c.get("stub_id") is None]
    ok = len(unmatched) == int(expected)
    summary = f"unmatched calls: {len(unmatched)} (expected {expected})"
    if not ok and unmatched:
        shown = [
            f"{c.get('method')} {json.dumps(_requests(c), default=str)}" for c in unmatched[:10]
        ]
        summary += "; " + "; ".join(shown)
    return VerifyOutcome(ok, summary)


def verify_all_used(stubs: Sequence[Stub], uses: Mapping[str, int]) -> VerifyOutcome:
    """Every session stub used: ``times`` exactly when it has one, at least once otherwise."""
    unused: list[str] = []
    for stub in stubs:
        count = uses.get(stub.id, 0)
        if (stub.times and count != stub.times) or (not stub.times and count < 1):
            wanted = f"{stub.times}" if stub.times else "at least 1"
            unused.append(
                f"{stub.describe()} for {stub.method.full_name}: "
                f"used {_times(count)}, expected {wanted}"
            )
    if unused:
        return VerifyOutcome(False, "stubs not used as declared: " + "; ".join(unused))
    return VerifyOutcome(True, f"all {len(stubs)} stubs used")


def as_jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
