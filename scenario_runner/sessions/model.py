"""Session and event records, the store's errors, and small copy helpers."""

from __future__ import annotations

import abc
import copy
from bisect import insort
from dataclasses import dataclass, field
from typing import Any, Protocol

from scenario_runner.errors import ScenarioError

TEMP_PREFIX = "temp:"
"""State keys with this prefix live on the caller's session object only, never in the store."""

_ATOMS = frozenset({str, int, float, bool, type(None)})


class AlreadyExistsError(ScenarioError):
    """A session with this ``(app_name, user_id, session_id)`` already exists."""


class SessionNotFoundError(ScenarioError):
    """No session with this ``(app_name, user_id, session_id)``."""


class StoreError(ScenarioError):
    """The store cannot be used: its database is unreachable (restarting, say), or of a
    newer schema."""


class DuplicateEventError(ScenarioError):
    """An event with this id was already appended to the session."""


def clone_json(value: Any) -> Any:
    """A deep copy of a JSON-like value; much cheaper than ``copy.deepcopy`` for dicts/lists."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {key: clone_json(item) for key, item in value.items()}
    if kind is list:
        return [clone_json(item) for item in value]
    return copy.deepcopy(value)


def stored_delta(delta: dict[str, Any]) -> dict[str, Any]:
    """The part of ``delta`` the store keeps: no ``temp:`` keys, values deep-copied."""
    return {
        key: clone_json(value) for key, value in delta.items() if not key.startswith(TEMP_PREFIX)
    }


@dataclass(slots=True)
class Event:
    """One append-only entry of a session's log.

    ``id``, ``sequence`` and ``timestamp`` are filled in by the store on append when left empty
    (``sequence`` is always assigned by the store).
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    state_delta: dict[str, Any] = field(default_factory=dict)
    author: str = "runner"
    id: str = ""
    sequence: int = 0
    timestamp: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (deep copy)."""
        return {
            "id": self.id,
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "kind": self.kind,
            "author": self.author,
            "data": clone_json(self.data),
            "state_delta": clone_json(self.state_delta),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        """The inverse of :meth:`to_dict` (missing optional keys take their defaults)."""
        return cls(
            kind=str(raw["kind"]),
            data=clone_json(raw.get("data") or {}),
            state_delta=clone_json(raw.get("state_delta") or {}),
            author=str(raw.get("author", "runner")),
            id=str(raw.get("id", "")),
            sequence=int(raw.get("sequence", 0)),
            timestamp=float(raw.get("timestamp") or 0.0),
        )

    def copy(self) -> Event:
        """A deep copy."""
        return Event(
            kind=self.kind,
            data=clone_json(self.data),
            state_delta=clone_json(self.state_delta),
            author=self.author,
            id=self.id,
            sequence=self.sequence,
            timestamp=self.timestamp,
        )


class Recorded(Protocol):
    """Something that happened, kept compact until its event's data is read."""

    @property
    def finished_at(self) -> float: ...  # epoch seconds

    def data(self) -> dict[str, Any]: ...


_SLOTS = Event.__dict__  # Event's slot descriptors, which DeferredEvent's properties fall back on


class DeferredEvent(Event, metaclass=abc.ABCMeta):
    """An event whose ``data`` is made when it is read (``made_data``), from a record a
    fraction of the size of what is made of it (a ``mock_call`` event of a long history).

    An empty ``state_delta`` is not kept, and an ``id`` given as a number (the event's place
    in its session) is the text ``"{kind}-{number}"``, made when read. Whatever sets ``data``,
    ``state_delta`` or ``id`` replaces it for good. It is an ``Event`` in every other way."""

    __slots__ = ()

    @abc.abstractmethod
    def made_data(self) -> dict[str, Any]:
        """The event's data, made from what the event keeps."""

    def identify(self, id: str | int) -> None:
        """Give the event its id: a text, or its number in its session."""
        _SLOTS["id"].__set__(self, id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return _fields(self) == _fields(other)

    __hash__ = None  # type: ignore[assignment]  # as Event's: events are mutable

    @property
    def data(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = _SLOTS["data"].__get__(self)
        except AttributeError:
            return self.made_data()
        return value

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        _SLOTS["data"].__set__(self, value)

    @property
    def state_delta(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = _SLOTS["state_delta"].__get__(self)
        except AttributeError:
            return {}
        return value

    @state_delta.setter
    def state_delta(self, value: dict[str, Any]) -> None:
        if value:  # an empty delta stays unset: no dict kept per event
            _SLOTS["state_delta"].__set__(self, value)

    @property
    def id(self) -> str:
        value: str | int = _SLOTS["id"].__get__(self)
        return value if isinstance(value, str) else f"{self.kind}-{value}"

    @id.setter
    def id(self, value: str) -> None:
        _SLOTS["id"].__set__(self, value)


class LazyEvent(DeferredEvent):
    """An event kept as the record of what it records until it is read: ``data`` is made
    from the record each time it is read."""

    __slots__ = ("recorded",)

    def __init__(self, kind: str, recorded: Recorded, author: str, id: str | int) -> None:
        self.recorded = recorded
        self.kind = kind
        self.author = author
        self.identify(id)
        self.sequence = 0
        self.timestamp = recorded.finished_at

    def made_data(self) -> dict[str, Any]:
        return self.recorded.data()


def _fields(event: Event) -> tuple[Any, ...]:
    return (
        event.kind,
        event.data,
        event.state_delta,
        event.author,
        event.id,
        event.sequence,
        event.timestamp,
    )


@dataclass(slots=True)
class Session:
    """A session: its state (a plain dict) and its events, oldest (lowest sequence) first."""

    id: str
    app_name: str
    user_id: str
    state: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    last_update_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (deep copy)."""
        return {
            "id": self.id,
            "app_name": self.app_name,
            "user_id": self.user_id,
            "state": clone_json(self.state),
            "events": [event.to_dict() for event in self.events],
            "last_update_time": self.last_update_time,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Session:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=str(raw["id"]),
            app_name=str(raw["app_name"]),
            user_id=str(raw["user_id"]),
            state=clone_json(raw.get("state") or {}),
            events=[Event.from_dict(item) for item in raw.get("events") or []],
            last_update_time=float(raw.get("last_update_time") or 0.0),
        )


def apply_to_live(session: Session, event: Event, delta: dict[str, Any]) -> None:
    """Mirror a stored append on the caller's session object (``temp:`` keys included)."""
    if delta:
        session.state.update(delta)
    events = session.events
    # Concurrent appends may resume out of order; keep the list sorted by sequence.
    if events and events[-1].sequence > event.sequence:
        insort(events, event, key=lambda item: item.sequence)
    else:
        events.append(event)
    session.last_update_time = event.timestamp


def session_key_text(app_name: str, user_id: str, session_id: str) -> str:
    """``app/user/id`` for error messages."""
    return f"{app_name!r}/{user_id!r}/{session_id!r}"


def resolve_session_id(session_id: str | None) -> str:
    """The id to create: ``session_id`` stripped, or a new uuid4 hex when None or blank."""
    if session_id is not None and session_id.strip():
        return session_id.strip()
    import uuid  # not at import time: a plain run never calls this

    return uuid.uuid4().hex


def check_get_options(num_recent_events: int | None, after_sequence: int = 0) -> None:
    """Refuse negative limits (a programming error, hence ``ValueError``)."""
    if num_recent_events is not None and num_recent_events < 0:
        raise ValueError(f"num_recent_events must be >= 0, got {num_recent_events}")
    if after_sequence < 0:
        raise ValueError(f"after_sequence must be >= 0, got {after_sequence}")
