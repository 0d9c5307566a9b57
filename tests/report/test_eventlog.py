"""The event log as text (a JUnit case's ``<system-out>``): one line per event, values as
sorted JSON that keeps non-ASCII text, long values cut, nothing shown that is empty."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scenario_runner.report.eventlog import _json, format_events
from scenario_runner.sessions import Event


def _event(sequence: int, timestamp: float, kind: str, **data: Any) -> Event:
    return Event(kind, data, sequence=sequence, timestamp=timestamp)


def test_every_kind_has_its_line() -> None:
    events = [
        _event(1, 10.0, "stub_added", method="a.B/C", stub_id="s1", source="f.yaml:3:5"),
        _event(
            2,
            10.25,
            "mock_call",
            method="a.B/C",
            stub_id="s1",
            status="OK",
            message="",
            request={"text": "café", "n": 0},
            response={},
        ),
        _event(3, 10.5, "mock_call", method="a.B/C", status="NOT_FOUND", error="no stub"),
        _event(
            4,
            11.0,
            "client_call",
            step="steps[0]",
            method="a.B/C",
            target="mock",
            attempt=2,
            status="INTERNAL",
            message="boom",
            requests=[],
            responses=[{"b": 1, "a": [1, 2]}],
        ),
        Event("state_saved", {}, {"id": 7}, sequence=5, timestamp=11.0),
        _event(6, 12.0, "verification", ok=False, summary="a.B/C: called 0 times"),
        _event(7, 12.5, "session_note", text="x"),
    ]
    assert format_events(events).splitlines() == [
        "[+  0.000s] #1 stub_added a.B/C id=s1 (f.yaml:3:5)",
        '[+  0.250s] #2 mock_call a.B/C stub=s1 status=OK request={"n": 0, "text": "café"}'
        " response={}",
        "[+  0.500s] #3 mock_call a.B/C stub=none status=NOT_FOUND error=no stub ",
        "[+  1.000s] #4 client_call steps[0] → a.B/C @ mock attempt=2 status=INTERNAL"
        ' responses=[{"a": [1, 2], "b": 1}] message="boom"',
        '[+  1.000s] #5 state_saved {"id": 7}',
        "[+  2.000s] #6 verification FAILED: a.B/C: called 0 times",
        '[+  2.500s] #7 session_note {"text": "x"}',
    ]
    assert format_events([]) == ""


def test_a_long_value_is_cut() -> None:
    text = _json({"text": "x" * 5000})
    assert len(text) == 2001 and text.endswith("…")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_values_read_as_json_dumps_writes_them(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    assert _json(value) == (expected if len(expected) <= 2000 else expected[:2000] + "…")
