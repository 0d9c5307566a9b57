"""What a run produces: one ``ScenarioResult`` per scenario (or per unloadable file).

Pure data, shared by the runner and the reporters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # an expectation or verification did not hold
    ERRORED = "errored"  # a harness problem: invalid file, template error, timeout, …
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Problem:
    """Why a scenario failed or errored.

    ``message`` is one line (the JUnit ``message`` attribute); ``detail`` is the full text
    (step, ``file:line``, expected vs actual).
    """

    message: str
    detail: str
    kind: str = ""  # e.g. "ExpectationFailed", "VerificationFailed", "ScenarioFileError"


@dataclass
class ScenarioResult:
    file: str  # path relative to the working directory, as the user wrote it ("scenarios/a.yaml")
    name: str  # scenario name; for an unloadable file, the file name
    outcome: Outcome
    time: float = 0.0  # seconds
    problem: Problem | None = None  # set for FAILED and ERRORED
    skip_reason: str | None = None  # set for SKIPPED
    log: str = ""  # the session's event log (JUnit system-out)
    line: int = 0  # line of the scenario in its file
    order: tuple[int, int] = (0, 0)  # (file index, document index): the stable report order
    timestamp: float = 0.0  # epoch seconds when the scenario started
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def classname(self) -> str:
        """``scenarios/greeter/say_hello.yaml`` → ``scenarios.greeter.say_hello``."""
        return classname_for(self.file)

    def to_json(self) -> dict[str, Any]:
        """A plain JSON form (what worker processes send their parent)."""
        problem = self.problem
        return {
            "file": self.file,
            "name": self.name,
            "outcome": self.outcome.value,
            "time": self.time,
            "problem": [problem.message, problem.detail, problem.kind] if problem else None,
            "skip_reason": self.skip_reason,
            "log": self.log,
            "line": self.line,
            "order": list(self.order),
            "timestamp": self.timestamp,
            "tags": list(self.tags),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ScenarioResult:
        problem = raw["problem"]
        return cls(
            file=raw["file"],
            name=raw["name"],
            outcome=Outcome(raw["outcome"]),
            time=raw["time"],
            problem=Problem(*problem) if problem else None,
            skip_reason=raw["skip_reason"],
            log=raw["log"],
            line=raw["line"],
            order=(raw["order"][0], raw["order"][1]),
            timestamp=raw["timestamp"],
            tags=tuple(raw["tags"]),
        )


def classname_for(file: str) -> str:
    path = file.replace("\\", "/")
    for suffix in (".yaml", ".yml"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return ".".join(parts)
