"""Check a call's outcome against a step's ``expect`` and read ``save`` paths. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor

from ..matchers import Mismatch, compare
from ..protos import normalize_expected
from ..status import parse_status
from .calls import CallResult

# Statuses that say the call never reached a working peer: a harness problem, not a
# failed expectation, unless the step expects exactly that status.
HARNESS_STATUSES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED}
)


@dataclass
class Verdict:
    mismatches: list[Mismatch]
    expected_status: grpc.StatusCode
    harness_problem: bool  # the status is a transport problem the step did not expect

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check(expect: Mapping[str, Any], result: CallResult, output: Descriptor) -> Verdict:
    """Every way ``result`` differs from ``expect`` (rendered, but not yet normalised)."""
    expected_status = parse_status(expect.get("status", "OK"))
    mismatches: list[Mismatch] = []
    if result.status is not expected_status:
        reason = f"expected {expected_status.name}, got {result.status.name}"
        if result.message:
            reason += f" ({result.message})"
        mismatches.append(Mismatch("status", expected_status.name, result.status.name, reason))
    if "message" in expect:
        mismatches += compare(expect["message"], result.message, path="message")
    exact = expect.get("match", "subset") == "exact"
    if "response" in expect:
        expected = normalize_expected(expect["response"], output)
        if result.response is None:
            mismatches.append(Mismatch("response", expected, None, "expected a response, got none"))
        else:
            mismatches += compare(expected, result.response, exact=exact, path="response")
    if "responses" in expect:
        expected_list = [normalize_expected(item, output) for item in expect["responses"]]
        mismatches += compare(expected_list, result.responses, exact=exact, path="responses")
    for section in ("headers", "trailers"):
        if section in expect:
            wanted = {str(k).lower(): v for k, v in (expect[section] or {}).items()}
            mismatches += compare(wanted, getattr(result, section), path=section)
    harness = (
        bool(mismatches)
        and result.status in HARNESS_STATUSES
        and (result.status is not expected_status)
    )
    return Verdict(mismatches, expected_status, harness)


def describe_mismatches(verdict: Verdict, expect: Mapping[str, Any], result: CallResult) -> str:
    """The expected-vs-actual text of a failed step."""
    lines = [f"  - {m.path}: {m.reason}" for m in verdict.mismatches]
    if "response" in expect or "responses" in expect:
        key = "response" if "response" in expect else "responses"
        actual = result.response if key == "response" else result.responses
        lines.append(f"  expected {key}: {_json(expect[key])}")
        lines.append(f"  actual {key}:   {_json(actual)}")
    lines.append(
        f"  actual status: {result.status.name}"
        + (f" ({result.message})" if result.message else "")
    )
    return "\n".join(lines)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


class PathNotFound(LookupError):
    pass


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path with ``[i]`` indexes: ``response.items[0].name``."""
    value: Any = data
    position = 0
    for match in _PATH_PART.finditer(path):
        if match.start() != position and path[position] != ".":
            raise PathNotFound(f"invalid path {path!r}")
        position = match.end()
        key, index = match.group(1), match.group(2)
        if key is not None:
            if not isinstance(value, Mapping) or key not in value:
                raise PathNotFound(f"{path!r}: no key {key!r}")
            value = value[key]
        else:
            if not isinstance(value, list) or not -len(value) <= int(index) < len(value):
                raise PathNotFound(f"{path!r}: no item [{index}]")
            value = value[int(index)]
    return value
