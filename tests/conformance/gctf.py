"""GripMock's test cases (grpctestify ``.gctf`` files) as scenario-run scenarios.

A ``.gctf`` file is a list of ``--- SECTION ---`` blocks: ``ENDPOINT`` starts a call,
``REQUEST`` / ``RESPONSE`` / ``ERROR`` / ``REQUEST_HEADERS`` (``HEADERS``) /
``RESPONSE_HEADERS`` / ``ASSERTS`` describe it. Each file becomes one scenario whose steps
make the same calls and expect the same answers:

- ``RESPONSE`` bodies (one JSON value each, or several in one block for a stream) are the
  expected messages, compared as subsets (grpctestify compares protojson, which leaves
  defaults out; our answers include them). ``tolerance=T`` turns numbers into ranges.
- ``ERROR`` is the expected status (``code``), the exact ``message`` and the ``details``.
- ``ASSERTS`` lines of the forms GripMock's cases use become matchers: ``.a.b == V``,
  ``.a != V``, ``!@empty(.a)`` / ``@empty(.a)``, ``@header("k") == V``,
  ``@trailer("k") == V``. Lines of any other form are returned as *untranslated*, and the
  conformance test reports them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from scenario_runner.protos import ProtoRegistry

_SECTION = re.compile(r"^--- *([A-Z_]+)(.*?) *---\s*$")
_PATH_PART = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\["([^"]*)"\]|\[(\d+)\]')
_LITERAL = r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)'
_ASSERT_EQ = re.compile(r"^(?P<path>\.[^\s!=]+)\s*(?P<op>==|!=)\s*" + _LITERAL + r"\s*$")
_ASSERT_EMPTY = re.compile(r"^(?P<neg>!)?@empty\((?P<path>\.[^)]+)\)\s*$")
_ASSERT_META = re.compile(
    r'^@(?P<kind>header|trailer)\("(?P<key>[^"]+)"\)\s*==\s*' + _LITERAL + r"\s*$"
)


@dataclass
class Call:
    endpoint: str
    requests: list[Any] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
    response_blocks: int = 0
    tolerance: float | None = None
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    asserts: list[str] = field(default_factory=list)


@dataclass
class Converted:
    scenario: dict[str, Any]
    untranslated: list[str]


def strip_comments(text: str) -> str:
    """JSON with ``//`` and ``#`` comments (as grpctestify reads it) as plain JSON."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char == "#" or text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(char)
        i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))  # a comment can leave a trailing comma


def json_values(text: str) -> list[Any]:
    """Every JSON value of a block, in order (a stream block holds several)."""
    decoder = json.JSONDecoder()
    body = strip_comments(text)
    values, position = [], 0
    while True:
        while position < len(body) and body[position].isspace():
            position += 1
        if position >= len(body):
            return values
        value, position = decoder.raw_decode(body, position)
        values.append(value)


def parse_gctf(text: str) -> list[Call]:
    calls: list[Call] = []
    pending_headers: dict[str, str] = {}
    section: str | None = None
    options = ""
    body: list[str] = []

    def close() -> None:
        nonlocal pending_headers
        if section is None:
            return
        content = "\n".join(body)
        current = calls[-1] if calls else None
        if section == "ENDPOINT":
            calls.append(Call(content.strip(), headers=dict(pending_headers)))
            pending_headers = {}
        elif section in ("REQUEST_HEADERS", "HEADERS"):
            pairs = _header_lines(content)
            if current is not None and not current.responses and current.error is None:
                current.headers.update(pairs)
            else:
                pending_headers.update(pairs)
        elif current is None:
            return
        elif section == "REQUEST":
            current.requests.extend(json_values(content))
        elif section == "RESPONSE":
            current.response_blocks += 1
            current.responses.extend(json_values(content))
            tolerance = re.search(r"tolerance=([\d.eE+-]+)", options)
            if tolerance:
                current.tolerance = float(tolerance.group(1))
        elif section == "ERROR":
            values = json_values(content)
            current.error = values[0] if values else {}
        elif section == "RESPONSE_HEADERS":
            current.response_headers.update(_header_lines(content))
        elif section == "ASSERTS":
            current.asserts.extend(
                line.strip()
                for line in content.splitlines()
                if line.strip() and not line.strip().startswith(("//", "#"))
            )

    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            close()
            section, options, body = match.group(1), match.group(2), []
        elif section is not None:
            body.append(line)
    close()
    return calls


def _header_lines(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if ":" in line and not line.strip().startswith(("//", "#")):
            key, _, value = line.partition(":")
            pairs[key.strip().lower()] = value.strip()
    return pairs


def _with_tolerance(value: Any, tolerance: float) -> Any:
    if isinstance(value, dict):
        return {k: _with_tolerance(v, tolerance) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_tolerance(v, tolerance) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"$gte": value - tolerance, "$lte": value + tolerance}
    return value


def _path(text: str) -> list[str | int] | None:
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_PART.match(text, position)
        if match is None:
            return None
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
        position = match.end()
    return parts or None


def _put(target: dict[str, Any], path: list[str | int], value: Any, overwrite: bool) -> bool:
    node: Any = target
    for part in path[:-1]:
        if isinstance(part, int):
            return False
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return False
    last = path[-1]
    if isinstance(last, int):
        return False
    if overwrite or last not in node:
        node[last] = value
    return True


def convert(name: str, text: str, registry: ProtoRegistry) -> Converted:
    """The scenario that makes the calls of a ``.gctf`` file and expects what it expects."""
    steps: list[dict[str, Any]] = []
    untranslated: list[str] = []
    for call in parse_gctf(text):
        method = registry.find_call(call.endpoint)
        streams_in = method.client_streaming if method else False
        streams_out = method.server_streaming if method else False
        step: dict[str, Any] = {"call": call.endpoint}
        if call.headers:
            step["metadata"] = call.headers
        if streams_in:
            step["requests"] = call.requests
        else:
            step["request"] = call.requests[0] if call.requests else {}
        expect: dict[str, Any] = {}
        responses = call.responses
        if call.tolerance is not None:
            responses = [_with_tolerance(r, call.tolerance) for r in responses]
        if call.error is not None:
            expect["status"] = call.error.get("code", 2)
            if "message" in call.error:
                expect["message"] = call.error["message"]
            if call.error.get("details"):
                expect["details"] = call.error["details"]
        elif streams_out:
            if call.response_blocks or not call.asserts:
                expect["responses"] = responses
        elif responses:
            expect["response"] = responses[0]
        if call.response_headers:
            expect["headers"] = dict(call.response_headers)
        for line in call.asserts:
            if not _assert(line, expect, streams_out):
                untranslated.append(f"{call.endpoint}: {line}")
        step["expect"] = expect
        steps.append(step)
    return Converted({"name": name, "steps": steps}, untranslated)


def _assert(line: str, expect: dict[str, Any], streams_out: bool) -> bool:
    meta = _ASSERT_META.match(line)
    if meta:
        section = "headers" if meta.group("kind") == "header" else "trailers"
        expect.setdefault(section, {})[meta.group("key")] = json.loads(meta.group(3))
        return True
    empty = _ASSERT_EMPTY.match(line)
    equal = _ASSERT_EQ.match(line)
    if empty:
        path, value, overwrite = empty.group("path"), {"$empty": not empty.group("neg")}, True
    elif equal:
        literal = json.loads(equal.group(3))
        negate = equal.group("op") == "!="
        path, value, overwrite = (
            equal.group("path"),
            ({"$ne": literal} if negate else literal),
            not negate,
        )
    else:
        return False
    parts = _path(path)
    if parts is None:
        return False
    if streams_out:
        responses = expect.setdefault("responses", [{}])
        target = responses[0] if responses else {}
        if not responses:
            responses.append(target)
    else:
        target = expect.setdefault("response", {})
    return _put(target, parts, value, overwrite)
