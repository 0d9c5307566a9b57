"""The SDK's own exceptions (a verification that does not hold is an ``AssertionError``)."""

from __future__ import annotations

from typing import Any

import grpc

from ..errors import ScenarioError


class SdkError(ScenarioError):
    """Something the SDK was asked to do cannot be done: bad options, an unknown message."""


class StubError(SdkError):
    """A stub that does not fit the protos: the message names the field, as for a file."""


class CallError(SdkError):
    """``mock.call(...)`` ended with a status other than OK."""

    def __init__(
        self, method: str, code: grpc.StatusCode, details: str, response: Any = None
    ) -> None:
        super().__init__(f"{method} answered {code.name}: {details}")
        self.code = code
        self.details = details
        self.response = response
