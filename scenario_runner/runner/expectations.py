"""Check a call's outcome against a step's ``expect`` and read ``save`` paths. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor

from ..matchers import Mismatch, compare, metadata_text
from ..protos import ProtoRegistry, normalize_expected
from ..status import parse_status
from .calls import CallResult

# A status the client library made up itself (no peer answered it): the call never reached a
# working server, or ran out of time. That is a harness problem (an errored scenario), not a
# failed expectation, unless the step expects exactly that status. The same status sent by a
# server (a stub's ``code: UNAVAILABLE``) is an answer like any other: a failed expectation.
_TRANSPORT_MESSAGE = re.compile(
    r"failed to connect|connection refused|connection reset|connection timed out|"
    r"dns resolution failed|name resolution|errors resolving|empty address list|no address|"
    r"socket closed|"
    r"broken pipe|goaway|handshake|network is unreachable|failed to create channel|"
    r"endpoint (read|write) failed|keepalive|transport closed",
    re.IGNORECASE,
)
_CLIENT_DEADLINE = "Deadline Exceeded"  # grpc's own text when the call's deadline expires
_DEADLINE_SLACK = 0.01  # seconds: a call cut by its own deadline lasted at least this close
_NO_SUCH_METHOD = "Method not found!"  # grpc's own text when the server lacks the method


def is_transport_problem(result: CallResult) -> bool:
    """Whether the status came from the client side (connection, deadline), not from a peer."""
    code, message = result.status, result.message or ""
    if code is grpc.StatusCode.UNAVAILABLE:
        return bool(_TRANSPORT_MESSAGE.search(message) or _TRANSPORT_MESSAGE.search(result.debug))
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        # grpc says "Deadline Exceeded" when the call's own deadline passes (mid-stream:
        # "Stream removed (Deadline Exceeded)"); a server may send the code with any text.
        if message == _CLIENT_DEADLINE:
            return True
        deadline = result.deadline
        return (
            _CLIENT_DEADLINE in message
            and deadline is not None
            and result.elapsed >= deadline - _DEADLINE_SLACK
        )
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return message == _NO_SUCH_METHOD
    return False


@dataclass
class Verdict:
    mismatches: list[Mismatch]
    expected_status: grpc.StatusCode
    harness_problem: bool  # the status is a transport problem the step did not expect

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check(
    expect: Mapping[str, Any],
    result: CallResult,
    output: Descriptor,
    registry: ProtoRegistry | None = None,
) -> Verdict:
    """Every way ``result`` differs from ``expect`` (rendered, but not yet normalised)."""
    expected_status = parse_status(expect.get("status", "OK"))
    mismatches: list[Mismatch] = []
    if result.status is not expected_status:
        reason = f"expected {expected_status.name}, got {result.status.name}"
        headline = _first_line(result.message)
        if headline:  # the whole message is shown once, with the actual status
            reason += f" ({headline})"
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
    if "details" in expect:
        mismatches += _details(expect["details"], result, registry)
    for section in ("headers", "trailers"):
        if section in expect:
            wanted = {
                str(k).lower(): _metadata_value(v) for k, v in (expect[section] or {}).items()
            }
            mismatches += compare(wanted, getattr(result, section), path=section)
    harness = (
        bool(mismatches) and result.status is not expected_status and is_transport_problem(result)
    )
    return Verdict(mismatches, expected_status, harness)


def _details(expected: Any, result: CallResult, registry: ProtoRegistry | None) -> list[Mismatch]:
    """``expect.details``: the error's details, in order, each subset-matched; field names
    may be written as in the proto or in lowerCamelCase (as protobuf JSON writes them)."""
    actual = result.details or []
    if not isinstance(expected, list):
        return [Mismatch("details", expected, actual, "expect.details must be a list")]
    wanted = [_normalize_detail(item, registry) for item in expected]
    if not actual and wanted:
        return [Mismatch("details", wanted, None, "expected error details, the answer had none")]
    return compare(wanted, actual, path="details")


def _normalize_detail(item: Any, registry: ProtoRegistry | None) -> Any:
    if not isinstance(item, Mapping):
        return item
    body = dict(item)
    type_url = body.pop("@type", None) or body.pop("type", None)
    if isinstance(type_url, str) and registry is not None:
        try:
            descriptor = registry.pool.FindMessageTypeByName(type_url.rsplit("/", 1)[-1])
        except KeyError:
            descriptor = None
        if descriptor is not None:
            body = normalize_expected(body, descriptor)
    if isinstance(type_url, str):
        prefix = "" if "/" in type_url else "type.googleapis.com/"
        body = {"@type": prefix + type_url, **body}
    return body


def _metadata_value(value: Any) -> Any:
    """Metadata values are text: ``true`` / ``5`` as written in YAML mean ``"true"`` / ``"5"``."""
    if isinstance(value, (bool, int, float)):
        return metadata_text(value)
    return value


def describe_mismatches(verdict: Verdict, expect: Mapping[str, Any], result: CallResult) -> str:
    """The expected-vs-actual text of a failed step."""
    lines = [f"  - {m.path}: {m.reason}" for m in verdict.mismatches]
    if "response" in expect or "responses" in expect:
        key = "response" if "response" in expect else "responses"
        actual = result.response if key == "response" else result.responses
        lines.append(f"  expected {key}: {_json(expect[key])}")
        lines.append(f"  actual {key}:   {_json(actual)}")
    message = result.message.strip()
    if "\n" not in message and any(m.path == "status" for m in verdict.mismatches):
        message = ""  # the status line above has said it whole
    if "\n" in message:  # a long explanation (the mock's NOT_FOUND text): once, as a block
        lines.append(f"  actual status: {result.status.name}, message:")
        lines.extend(f"    | {line}" if line else "    |" for line in message.splitlines())
    else:
        lines.append(
            f"  actual status: {result.status.name}" + (f" ({message})" if message else "")
        )
    return "\n".join(lines)


def _first_line(message: str) -> str:
    """A status message's first line, marked as cut when there is more."""
    text = (message or "").strip()
    first, _, rest = text.partition("\n")
    return f"{first.strip()} …" if rest.strip() else first.strip()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


_PATH_TOKEN = re.compile(
    r"""(?P<dot>\.)?(?P<key>[^.\[\]\s]+)|\[(?P<index>-?\d+)\]|\[(?P<quote>["'])(?P<quoted>.*?)(?P=quote)\]"""
)


class PathNotFound(LookupError):
    pass


def parse_path(path: str) -> list[str | int]:
    """``response.items[0]["x.y"]`` → ``["response", "items", 0, "x.y"]``; ``PathNotFound``
    when the text is not such a path."""
    text = path.strip()
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_TOKEN.match(text, position)
        if match is None or (match.group("key") and bool(match.group("dot")) != bool(parts)):
            raise PathNotFound(f"invalid path {path!r} (write it like response.items[0].name)")
        if match.group("key") is not None:
            parts.append(match.group("key"))
        elif match.group("index") is not None:
            if not parts:
                raise PathNotFound(f"invalid path {path!r} (write it like response.items[0].name)")
            parts.append(int(match.group("index")))
        else:
            parts.append(match.group("quoted"))
        position = match.end()
    if not parts:
        raise PathNotFound(f"invalid path {path!r}: it is empty")
    return parts


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path with ``[i]`` indexes: ``response.items[0].name``."""
    value: Any = data
    for part in parse_path(path):
        if isinstance(part, str):
            if not isinstance(value, Mapping) or part not in value:
                raise PathNotFound(f"{path!r}: no key {part!r}")
            value = value[part]
        else:
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                raise PathNotFound(f"{path!r}: no item [{part}]")
            value = value[part]
    return value
