"""The one exception tree of scenario-run.

Split by who must act:

* ``ScenarioFileError`` – the user's file is wrong (YAML, schema, semantics, templates).
  It carries ``file``, ``line``, ``column`` and the path inside the document.
* ``ConfigError`` / ``ProtoCompileError`` / ``StartupError`` – the run cannot start (exit 2).
* ``HarnessError`` – something failed at run time (connection refused, timeout, …).

The CLI prints these without a traceback; anything else is our bug.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where something stands in a scenario file (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class ScenarioError(Exception):
    """Base of every error scenario-run reports to its user."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        path: str | None = None,
        snippet: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.path = path
        self.snippet = snippet

    def headline(self) -> str:
        """``file:line:col: path: message`` – one line, as compilers print."""
        prefix = f"{self.location}: " if self.location else ""
        where = f"{self.path}: " if self.path else ""
        return f"{prefix}{where}{self.message}"

    def __str__(self) -> str:
        if self.snippet:
            return f"{self.headline()}\n{self.snippet}"
        return self.headline()


class ScenarioFileError(ScenarioError):
    """The scenario (or stub) file is wrong: YAML syntax, schema, semantics."""


class TemplateError(ScenarioFileError):
    """A template could not be rendered (undefined name, syntax, sandbox violation)."""


class ConfigError(ScenarioError):
    """Bad command-line options or configuration file: the run cannot start."""


class ProtoCompileError(ScenarioError):
    """The .proto files do not compile: the run cannot start."""


class StartupError(ScenarioError):
    """What a run needs could not be started: the mock's port is taken, a service did not
    come up, the remote mock does not answer."""


class HarnessError(ScenarioError):
    """Something failed at run time that is not a failed expectation."""
