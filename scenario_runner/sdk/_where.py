"""Where the user's code called the SDK: error messages point at their line, not ours."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import Location

_PACKAGE = str(Path(__file__).resolve().parents[1])


def caller_location() -> Location:
    """The first frame outside the scenario_runner package (the test that built a stub)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Location("<sdk>")
    return Location(_shown(frame.f_code.co_filename), frame.f_lineno)


def _shown(filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return filename
