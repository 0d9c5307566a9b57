"""A session's event log as readable text (the JUnit ``<system-out>``). Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from json import encoder as _json_encoder
from typing import Any

from ..sessions import Event

_MAX_VALUE = 2000
_CALL_PARTS = ("request", "requests", "response", "responses", "message")


def _encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)``, made once:
    ``dumps`` builds its C encoder anew for every value, more than half the cost of a small
    one. Event data are JSON trees (no cycles to look for)."""
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode
    encode = make(None, str, _json_encoder.encode_basestring, None, ": ", ", ", True, False, True)
    return lambda value: "".join(encode(value, 0))


_ENCODE = _encoder()


def format_events(events: Sequence[Event]) -> str:
    if not events:
        return ""
    start = events[0].timestamp
    return "\n".join(_line(event, event.timestamp - start) for event in events) + "\n"


def _line(event: Event, offset: float) -> str:
    data = event.data
    head = f"[+{offset:7.3f}s] #{event.sequence} {event.kind}"
    if event.kind == "mock_call":
        stub = data.get("stub_id") or "none"
        body = _call_body(data)
        extra = f" error={data['error']}" if data.get("error") else ""
        return f"{head} {data.get('method')} stub={stub} status={data.get('status')}{extra} {body}"
    if event.kind == "client_call":
        attempt = f" attempt={data['attempt']}" if data.get("attempt", 1) > 1 else ""
        return (
            f"{head} {data.get('step')} → {data.get('method')} @ {data.get('target')}"
            f"{attempt} status={data.get('status')} {_call_body(data)}"
        )
    if event.kind == "stub_added":
        return f"{head} {data.get('method')} id={data.get('stub_id')} ({data.get('source')})"
    if event.kind == "state_saved":
        return f"{head} {_json(event.state_delta)}"
    if event.kind == "verification":
        verdict = "ok" if data.get("ok") else "FAILED"
        return f"{head} {verdict}: {data.get('summary')}"
    return f"{head} {_json(data)}"


def _call_body(data: dict[str, Any]) -> str:
    parts = []
    for key in _CALL_PARTS:
        value = data.get(key)
        if value is None or (not value and isinstance(value, (str, list))):
            continue  # nothing to show (an empty message); an empty request {} is shown
        parts.append(f"{key}={_json(value)}")
    return " ".join(parts)


def _json(value: Any) -> str:
    text = _ENCODE(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…"
