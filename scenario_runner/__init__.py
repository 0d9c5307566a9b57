"""scenario-run: declarative gRPC test scenarios with an embedded mock server."""

from .errors import ScenarioError, ScenarioFileError

__all__ = ["ScenarioError", "ScenarioFileError"]
__version__ = "0.1.0"
