"""gRPC status codes as users write them: ``NOT_FOUND``, ``NotFound``, ``not_found`` or ``5``."""

from __future__ import annotations

import re

import grpc

_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
_BY_NAME: dict[str, grpc.StatusCode] = {code.name: code for code in grpc.StatusCode}
_BY_NAME["CANCELED"] = grpc.StatusCode.CANCELLED


def parse_status(value: object) -> grpc.StatusCode:
    """The status code for a name or number; ``ValueError`` when there is none."""
    if isinstance(value, str):
        known = _BY_NAME.get(value)  # most are written as gRPC names them: "OK", "NOT_FOUND"
        if known is not None:
            return known
    if isinstance(value, bool):
        raise ValueError(f"not a gRPC status code: {value!r}")
    if isinstance(value, int):
        code = _BY_NUMBER.get(value)
        if code is not None:
            return code
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_status(int(text))
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).upper().replace("-", "_")
        code = _BY_NAME.get(snake) or _BY_NAME.get(text.upper())
        if code is not None:
            return code
    raise ValueError(f"not a gRPC status code: {value!r} (use a name like NOT_FOUND or 0-16)")


def status_number(code: grpc.StatusCode) -> int:
    number: int = code.value[0]
    return number
