"""GripMock's stub-file behaviours that are not plain matching: load-time template
functions, the Go template context of a call, response documents (``output.template``),
``_gripmock`` stream directives and the ``No matching stub found`` text. Pure.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from ..gotemplate import LOAD_TIME, GoTemplateError, GoTemplateSyntaxError

__all__ = [
    "DIRECTIVE_KEY",
    "go_data",
    "not_found_text",
    "parse_documents",
    "render_load_time",
    "split_directive",
    "strip_defaults",
]

DIRECTIVE_KEY = "_gripmock"
_ACTION = re.compile(r"\{\{-?\s*(?P<body>.*?)\s*-?\}\}")
_OUTPUT_KEY = re.compile(r"^(?P<indent>\s*)(?:-\s+)?output\s*:")
# Request metadata that GripMock leaves out of its NOT_FOUND text (transport and session).
_QUIET_HEADERS = ("user-agent", "content-type", "te", "x-mock-session", "x-gripmock-session")


def render_load_time(text: str) -> str:
    """Render the actions GripMock evaluates when it loads a stub file, before the YAML is
    parsed: calls of the load-time functions (``{{ uuid2int64 "…" }}``) outside ``output``.

    Everything under an ``output:`` key is left alone (it is rendered per call), and so is
    any action that reads the request (``.``, ``$``). ``GoTemplateSyntaxError`` /
    ``GoTemplateError`` carry the 1-based line in their message.
    """
    if "{{" not in text:
        return text
    lines = text.split("\n")
    output_column: int | None = None  # the column of the `output:` key we are under
    for number, line in enumerate(lines):
        stripped = line.strip()
        if (
            output_column is not None
            and stripped
            and not stripped.startswith("#")
            and len(line) - len(line.lstrip()) <= output_column
        ):
            output_column = None
        key = _OUTPUT_KEY.match(line)
        if key:
            output_column = line.index("output")
            continue
        if output_column is not None or "{{" not in line:
            continue
        lines[number] = _ACTION.sub(partial(_load_time_action, line=number + 1), line)
    return "\n".join(lines)


def _load_time_action(match: re.Match[str], line: int) -> str:
    body = match.group("body")
    head = body.split(None, 1)[0] if body else ""
    if head not in LOAD_TIME:
        return match.group()
    from ..gotemplate import compile_template

    try:
        return compile_template(match.group()).render({})
    except (GoTemplateSyntaxError, GoTemplateError) as exc:
        raise GoTemplateError(f"line {line}: {match.group()}: {exc}") from exc


def go_data(
    *,
    request: Mapping[str, Any],
    requests: Sequence[Mapping[str, Any]] | None,
    headers: Mapping[str, str],
    message_index: int,
    attempt: int,
    stub_id: str,
    times: int,
    started: _dt.datetime,
) -> dict[str, Any]:
    """What a GripMock template sees as its dot."""
    return {
        "Request": request,
        "Requests": list(requests) if requests is not None else [],
        "Headers": headers,
        "MessageIndex": message_index,
        "RequestTime": started,
        "Timestamp": started,
        "State": {},
        "AttemptNumber": attempt,
        "AttemptIndex": attempt,
        "MaxAttempts": times,
        "TotalAttempts": times,
        "StubID": stub_id,
        "RequestID": stub_id,
    }


def parse_documents(text: str, *, stream: bool) -> list[Any]:
    """The JSON values a response template printed: exactly one for ``data``; any number
    for ``stream`` (a single array stands for its items). ``ValueError`` when the text is
    not JSON, naming its start."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    size = len(text)
    while True:
        while position < size and text[position].isspace():
            position += 1
        if position >= size:
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            shown = text[position : position + 80].strip()
            raise ValueError(f"the template printed invalid JSON ({exc.msg}): {shown!r}") from exc
        values.append(value)
    if not stream:
        if len(values) != 1:
            raise ValueError(
                f"a data template must print exactly one JSON value, got {len(values)}"
            )
        if not isinstance(values[0], dict):
            raise ValueError("a data template must print a JSON object")
        if DIRECTIVE_KEY in values[0]:
            raise ValueError(f"{DIRECTIVE_KEY} belongs to stream messages, not to data")
        return values
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    return values


def split_directive(item: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """A stream element without its ``_gripmock`` directive, and the directive."""
    if isinstance(item, dict) and DIRECTIVE_KEY in item:
        rest = {k: v for k, v in item.items() if k != DIRECTIVE_KEY}
        directive = item[DIRECTIVE_KEY]
        return rest, directive if isinstance(directive, Mapping) else {}
    return item, None


def strip_defaults(value: Any) -> Any:
    """A request as protobuf JSON shows it without defaults (as GripMock prints it)."""
    if isinstance(value, Mapping):
        kept = {}
        for key, item in value.items():
            cleaned = strip_defaults(item)
            if cleaned is None or cleaned is False or cleaned in ("", [], {}):
                continue
            if type(cleaned) in (int, float) and cleaned == 0:
                continue
            kept[key] = cleaned
        return kept
    if isinstance(value, list):
        return [strip_defaults(v) for v in value]
    return value


def _indented(value: Any) -> str:
    return json.dumps(value, indent="\t", sort_keys=True, ensure_ascii=False, default=str)


def not_found_text(
    service: str,
    method: str,
    headers: Mapping[str, str],
    messages: Sequence[Mapping[str, Any]],
    closest: Mapping[str, Any] | None,
    closest_id: str = "",
) -> str:
    """GripMock's NOT_FOUND message: title, service and method, the request headers and
    input, then the closest stub's matchers or ``No similar stubs found.``"""
    blocks = ["No matching stub found", f"Service: {service}\nMethod: {method}"]
    shown_headers = {
        k: v
        for k, v in headers.items()
        if not k.startswith((":", "grpc-")) and k not in _QUIET_HEADERS
    }
    if shown_headers:
        blocks.append("Request headers:\n" + _indented(shown_headers))
    inputs = [strip_defaults(m) for m in messages]
    if not inputs:
        blocks.append("Request input:\n(empty)")
    elif len(inputs) == 1:
        blocks.append("Request input:\n" + _indented(inputs[0]))
    else:
        parts = "".join(f"\n[{i}]\n{_indented(item)}" for i, item in enumerate(inputs))
        blocks.append("Request input (stream):" + parts)
    if closest is None:
        blocks.append("No similar stubs found.")
    else:
        lines = [f"Closest match (stub {closest_id}):" if closest_id else "Closest match:"]
        for key, value in closest.items():
            lines.append(f"\n{key}:\n{_indented(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
