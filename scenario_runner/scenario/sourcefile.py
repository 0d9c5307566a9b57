"""Read a user's file as text, within limits, with errors that say where the text breaks.

Scenario files, stub files, ``scenario-run.yaml`` and ``--vars-file`` all come through here:
a file larger than :data:`MAX_FILE_BYTES` is refused before it is read, a binary file or
bytes that are not UTF-8 are reported at their line and column.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import Location, ScenarioFileError

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest scenario, stub or config file read (10 MiB)."""

_BOM = "\ufeff"


def read_source(path: Path, shown: str) -> str:
    """The text of ``path`` (``shown`` is how messages name it); ``ScenarioFileError`` for a
    file that cannot be read, is too large, is binary or is not UTF-8."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ScenarioFileError(
                    f"the file is {_size(size)}, more than the {_size(MAX_FILE_BYTES)} a "
                    "scenario, stub or config file may have",
                    location=Location(shown, 1, 1),
                )
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioFileError(
            f"cannot read the file: {exc.strerror or exc}", location=Location(shown)
        ) from exc
    if len(data) > MAX_FILE_BYTES:  # it grew while we looked
        raise ScenarioFileError(
            f"the file is larger than {_size(MAX_FILE_BYTES)}", location=Location(shown, 1, 1)
        )
    return decode_source(data, shown)


def decode_source(data: bytes, shown: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped); ``ScenarioFileError`` at the first NUL
    byte (a binary file) or the first byte that is not UTF-8."""
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if 0 <= nul < exc.start:
            raise _binary(data, nul, shown) from exc
        line, column = _position(data, exc.start)
        raise ScenarioFileError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded "
            "(save the file as UTF-8)",
            location=Location(shown, line, column),
        ) from exc
    if nul >= 0:
        raise _binary(data, nul, shown)
    return text[1:] if text.startswith(_BOM) else text


def _binary(data: bytes, offset: int, shown: str) -> ScenarioFileError:
    line, column = _position(data, offset)
    return ScenarioFileError(
        "a binary file, not YAML text (it holds a NUL byte)",
        location=Location(shown, line, column),
    )


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset; the bytes before it decode."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB".replace(".0 MiB", " MiB")
    if count >= 1024:
        return f"{count / 1024:.1f} KiB".replace(".0 KiB", " KiB")
    return f"{count} bytes"
