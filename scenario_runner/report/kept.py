"""Sessions kept with ``--sessions-db`` as text: ``sessions list`` and ``sessions show``. Pure."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..sessions import Event, Session
from .eventlog import format_events

RESULT_KIND = "scenario_result"


def _result(events: Sequence[Event]) -> dict[str, object] | None:
    for event in reversed(events):
        if event.kind == RESULT_KIND:
            return event.data
    return None


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def session_line(session: Session, last: Sequence[Event]) -> str:
    """``ID  TIME  OUTCOME  file:line  name`` (``last``: the session's last events)."""
    found = _result(last)
    if found is None:
        return f"{session.id}  {_stamp(session.last_update_time)}  (no result recorded)"
    outcome = str(found.get("outcome", "?")).upper()
    where = f"{found.get('file')}:{found.get('line')}"
    stamp = _stamp(session.last_update_time)
    return f"{session.id}  {stamp}  {outcome:<7}  {where}  {found.get('name')}"


def session_text(session: Session) -> str:
    """The whole record: the scenario and how it ended (and why), its state, its log."""
    lines = [f"session {session.id}"]
    found = _result(session.events)
    if found is not None:
        lines.append(f"scenario: {found.get('file')}:{found.get('line')} {found.get('name')}")
        lines.append(f"outcome: {found.get('outcome')}")
        detail = str(found.get("detail") or found.get("message") or "")
        if detail:
            lines.append("why:")
            lines.extend(f"  {line}" for line in detail.splitlines())
    lines.append("state:")
    lines.extend(f"  {key}: {value!r}" for key, value in session.state.items())
    log = [event for event in session.events if event.kind != RESULT_KIND]
    lines.append(f"events ({len(log)}):")
    return "\n".join(lines) + "\n" + format_events(log)
