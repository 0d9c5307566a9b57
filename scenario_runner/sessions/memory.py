"""The default in-memory session store."""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Collection
from typing import Any

from scenario_runner.ids import random_hex
from scenario_runner.sessions.model import (
    AlreadyExistsError,
    DuplicateEventError,
    Event,
    Session,
    SessionNotFoundError,
    apply_to_live,
    check_get_options,
    clone_json,
    resolve_session_id,
    session_key_text,
    stored_delta,
)

_Key = tuple[str, str, str]


# Below this many events a session's event ids are checked by a scan of its events; a set
# of them (about 700 bytes for a few ids) is only kept for longer sessions.
_IDS_SCANNED = 32


class _Record:
    """A stored session. ``events[i].sequence == i + 1`` always holds."""

    __slots__ = ("event_ids", "events", "last_update_time", "state")

    def __init__(self, state: dict[str, Any], last_update_time: float) -> None:
        self.state = state
        self.events: list[Event] = []
        self.event_ids: set[str] | None = None
        self.last_update_time = last_update_time

    def has_event(self, event_id: str) -> bool:
        ids = self.event_ids
        if ids is not None:
            return event_id in ids
        return any(event.id == event_id for event in self.events)

    def add(self, event: Event) -> None:
        events = self.events
        events.append(event)
        ids = self.event_ids
        if ids is not None:
            ids.add(event.id)
        elif len(events) > _IDS_SCANNED:
            self.event_ids = {e.id for e in events}


class InMemorySessionService:
    """Sessions in a dict, guarded by a ``threading.Lock`` (safe across threads and loops).

    ``append_event`` takes ownership of the event it is given: the same object is kept in the
    store and appended to the caller's session, so do not mutate it afterwards. Everything the
    store hands out (``get``, ``list``, ``get_events``) is a deep copy; the session ``create``
    returns holds the store's own list of events (append to it through ``append_event``).
    """

    def __init__(self) -> None:
        # (app, user) -> id -> record: no key tuple kept per session.
        self._sessions: dict[tuple[str, str], dict[str, _Record]] = {}
        self._lock = threading.Lock()

    async def create(
        self,
        app_name: str,
        user_id: str,
        session_id: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> Session:
        """Create a session; ``AlreadyExistsError`` for a taken key."""
        sid = resolve_session_id(session_id)
        key = (app_name, user_id, sid)
        record = _Record(clone_json(state or {}), time.time())
        with self._lock:
            owner = self._sessions.setdefault((app_name, user_id), {})
            if sid in owner:
                raise AlreadyExistsError(f"session {session_key_text(*key)} already exists")
            owner[sid] = record
        # The created session and the record share one list of events (the same objects
        # would be in both lists anyway): appends through it go in once.
        return Session(
            sid, app_name, user_id, clone_json(record.state), record.events, record.last_update_time
        )

    async def get(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        num_recent_events: int | None = None,
        after: float | None = None,
    ) -> Session:
        """A snapshot: events with ``timestamp >= after``, then the last ``num_recent_events``."""
        check_get_options(num_recent_events)
        key = (app_name, user_id, session_id)
        with self._lock:
            record = self._require(key)
            events = record.events
            if after is not None:
                events = [event for event in events if event.timestamp >= after]
            if num_recent_events is not None:
                events = events[-num_recent_events:] if num_recent_events else []
            return Session(
                session_id,
                app_name,
                user_id,
                clone_json(record.state),
                [event.copy() for event in events],
                record.last_update_time,
            )

    async def list(self, app_name: str, user_id: str | None = None) -> builtins.list[Session]:
        """Sessions of the app (every user's when ``user_id`` is None), with state, no events."""
        with self._lock:
            found = [
                Session(sid, app, user, clone_json(record.state), [], record.last_update_time)
                for (app, user), owned in self._sessions.items()
                if app == app_name and (user_id is None or user == user_id)
                for sid, record in owned.items()
            ]
        found.sort(key=lambda session: (session.last_update_time, session.id, session.user_id))
        return found

    async def delete(self, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session and its events."""
        key = (app_name, user_id, session_id)
        with self._lock:
            owner = self._sessions.get((app_name, user_id))
            if owner is None or owner.pop(session_id, None) is None:
                raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
            if not owner:
                del self._sessions[(app_name, user_id)]

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store ``event`` (taking ownership) and mirror it on ``session``.

        Assigns ``id`` when empty, ``sequence`` always, ``timestamp`` when 0; stores
        ``state_delta`` without ``temp:`` keys (``session`` gets them all). Raises
        ``SessionNotFoundError`` / ``DuplicateEventError`` before changing anything.
        """
        key = (session.app_name, session.user_id, session.id)
        delta = event.state_delta
        kept = stored_delta(delta) if delta else delta
        with self._lock:
            record = self._require(key)
            if not event.id:
                event.id = random_hex()
            elif record.has_event(event.id):
                raise DuplicateEventError(
                    f"event {event.id!r} already in session {session_key_text(*key)}"
                )
            if kept:
                record.state.update(kept)
            event.state_delta = kept
            if not event.timestamp:
                event.timestamp = time.time()
            event.sequence = len(record.events) + 1
            record.add(event)
            record.last_update_time = event.timestamp
            if session.events is record.events:  # the session create() returned
                if delta:
                    session.state.update(delta)
                session.last_update_time = event.timestamp
            else:
                apply_to_live(session, event, delta)
        return event

    async def get_events(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        kinds: Collection[str] | None = None,
        after_sequence: int = 0,
    ) -> builtins.list[Event]:
        """Copies of events with ``sequence > after_sequence`` (and ``kind in kinds``)."""
        check_get_options(None, after_sequence)
        key = (app_name, user_id, session_id)
        with self._lock:
            tail = self._require(key).events[after_sequence:]
            if kinds is None:
                return [event.copy() for event in tail]
            return [event.copy() for event in tail if event.kind in kinds]

    def close(self) -> None:
        """Nothing to release; present for symmetry with the SQLite store."""

    def _require(self, key: _Key) -> _Record:
        owner = self._sessions.get((key[0], key[1]))
        record = None if owner is None else owner.get(key[2])
        if record is None:
            raise SessionNotFoundError(f"session {session_key_text(*key)} not found")
        return record
