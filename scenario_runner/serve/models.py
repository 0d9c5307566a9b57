"""The admin API's payloads (GripMock's JSON field names), for validation and OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MessageOK(BaseModel):
    message: str
    time: str = Field(description="RFC 3339")


class ErrorMessage(BaseModel):
    error: str


class Stub(BaseModel):
    """A GripMock v3 stub; ``context`` and ``source`` are scenario-run's additions."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    service: str
    method: str
    priority: int | None = None
    headers: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    inputs: list[dict[str, Any]] | None = None
    output: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    context: dict[str, Any] | None = Field(
        None, description="names the output templates see besides request, headers, attempt"
    )
    source: str | None = Field(None, description="where the stub was written, for messages")


class SearchRequest(BaseModel):
    id: str | None = None
    service: str
    method: str
    headers: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any]


class VerifyRequest(BaseModel):
    service: str
    method: str
    expectedCount: int = Field(ge=0)


class VerifyError(BaseModel):
    message: str
    expected: int
    actual: int


class CallRecord(BaseModel):
    """One call the mock answered, as GripMock's history shows it."""

    model_config = ConfigDict(extra="allow")

    service: str
    method: str
    request: dict[str, Any] | None = None
    requests: list[dict[str, Any]] | None = None
    response: Any = None
    responses: list[Any] | None = None
    error: str | None = None
    code: int | None = None
    stubId: str | None = None
    timestamp: str


class Sessions(BaseModel):
    sessions: list[str]


class SessionTTL(BaseModel):
    ttl: str | float | None = Field(
        None, description='"30s", "1.5s", "250ms" or seconds; null: the server\'s default'
    )


class SessionEvent(BaseModel):
    id: str
    sequence: int
    kind: str
    author: str
    timestamp: float
    data: dict[str, Any]
    stateDelta: dict[str, Any]


class SessionDocument(BaseModel):
    id: str
    state: dict[str, Any]
    ttl: float | None = Field(description="seconds; null: the session never expires")
    lastUpdateTime: float = Field(description="epoch seconds of its last request or call")
    stubs: list[Stub]
    events: list[SessionEvent]
