"""A session's event log as readable text (the JUnit ``<system-out>``). Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..sessions import Event

_MAX_VALUE = 2000
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


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
    for key in ("request", "requests", "response", "responses", "message"):
        if data.get(key) not in (None, "", []):
            parts.append(f"{key}={_json(data[key])}")
    return " ".join(parts)


def _json(value: Any) -> str:
    text = _ENCODE(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…"
