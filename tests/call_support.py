"""A finished mock call as the hub takes it, for tests of the hub and the stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scenario_runner.sessions import Event
from scenario_runner.sessions.model import LazyEvent


@dataclass
class Call:
    """A mock call with nothing but what the hub reads; ``made`` counts its data's makings."""

    session_id: str = "s"
    method: str = "a.B/C"
    error: str | None = None
    finished_at: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    made: list[int] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        self.made.append(1)
        return {"method": self.method, "error": self.error}

    def event(self, id: str | int) -> Event:
        return LazyEvent("mock_call", self, "mock", id)
