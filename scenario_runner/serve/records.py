"""The served mock's session logs as the admin API shows them, and read back after a restart.

Pure: events in, JSON-ready values out. A session's log holds, besides the mock's calls and
what a runner records, the admin API's own changes to the session (``stub_added`` with the
stub as posted, ``stub_removed``, ``stubs_cleared``, ``history_cleared``, ``session_ttl``).
Replaying those gives back the session's stubs and TTL, so the session store is the one
place anything is kept: a store backend keeps the served mock by keeping sessions.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from ..sessions import Event

STUB_ADDED = "stub_added"
STUB_REMOVED = "stub_removed"
STUBS_CLEARED = "stubs_cleared"
HISTORY_CLEARED = "history_cleared"
SESSION_TTL = "session_ttl"
MOCK_CALL = "mock_call"
_CODES = {code.name: code.value[0] for code in grpc.StatusCode}


def rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_json(event: Event) -> dict[str, Any]:
    """An event as ``GET /api/sessions/{id}`` shows it."""
    return {
        "id": event.id,
        "sequence": event.sequence,
        "kind": event.kind,
        "author": event.author,
        "timestamp": event.timestamp,
        "data": event.data,
        "stateDelta": event.state_delta,
    }


def history_events(events: Iterable[Event]) -> list[Event]:
    """The mock calls since the history was last cleared, oldest first."""
    calls: list[Event] = []
    for event in events:
        if event.kind == MOCK_CALL:
            calls.append(event)
        elif event.kind == HISTORY_CLEARED:
            calls = []
    return calls


def call_record(event: Event) -> dict[str, Any]:
    """A ``mock_call`` event as one of GripMock's history records (``GET /api/history``)."""
    data = event.data
    service, _, method = str(data.get("method", "")).partition("/")
    record: dict[str, Any] = {"service": service, "method": method}
    for single, many in (("request", "requests"), ("response", "responses")):
        if many in data:
            items = data[many] or []
            record[many] = items
            if items:
                record[single] = items[0]
        elif data.get(single) is not None:
            record[single] = data[single]
    status = str(data.get("status", "OK"))
    if data.get("error") or status != "OK":
        record["error"] = data.get("error") or data.get("message") or status
    code = _CODES.get(status, 0)
    if code:
        record["code"] = code
    if data.get("stub_id"):
        record["stubId"] = data["stub_id"]
    record["timestamp"] = rfc3339(event.timestamp)
    return record


def count_calls(events: Iterable[Event], full_name: str) -> int:
    return sum(1 for event in history_events(events) if event.data.get("method") == full_name)


def stub_added_data(
    raw: dict[str, Any], method: str, source: str, priority: int, times: int
) -> dict[str, Any]:
    """A ``stub_added`` event's data: what the embedded runner records, plus the stub itself."""
    return {
        "stub_id": raw["id"],
        "method": method,
        "source": source,
        "priority": priority,
        "times": times,
        "stub": raw,
    }


@dataclass
class Replayed:
    """What a stored session's log says about its stubs, TTL and stub uses."""

    stubs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> as posted
    ttl: float | None = None
    uses: Counter[str] = field(default_factory=Counter)  # stub id -> calls it answered


def replay(events: Sequence[Event]) -> Replayed:
    result = Replayed()
    for event in events:
        kind, data = event.kind, event.data
        if kind == MOCK_CALL:
            if data.get("stub_id"):
                result.uses[str(data["stub_id"])] += 1
        elif kind == STUB_ADDED and isinstance(data.get("stub"), dict):
            stub_id = str(data["stub"].get("id") or data.get("stub_id"))
            result.stubs.pop(stub_id, None)  # a replaced stub goes last, as when posted
            result.stubs[stub_id] = data["stub"]
        elif kind == STUB_REMOVED:
            result.stubs.pop(str(data.get("stub_id")), None)
        elif kind == STUBS_CLEARED:
            result.stubs.clear()
        elif kind == SESSION_TTL:
            ttl = data.get("ttl")
            result.ttl = float(ttl) if isinstance(ttl, (int, float)) else None
    return result
