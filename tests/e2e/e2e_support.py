"""End-to-end helpers (the fixtures are in ``conftest.py``).

A scratch project (the example protos plus a proto of every well-known type), the real CLI run
in-process (or as a subprocess), and the JUnit report read back as ``{scenario name: outcome}``.

Every run's report is validated against both JUnit XSDs (``validate_junit``), checked for
counts that agree with its children, and the output is checked for Python tracebacks: no
user mistake may produce one.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from scenario_runner import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PROTOS = REPO / "protos"

# Every well-known type the spec names, in requests and responses, plus int64, enums, maps.
WKT_PROTO = """\
syntax = "proto3";
package wkt;
import "google/protobuf/any.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";

service Echo {
  rpc Echo (Everything) returns (Everything);
  rpc Ping (google.protobuf.Empty) returns (google.protobuf.Empty);
}
enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
message Inner { string label = 1; int64 big = 2; }
message Everything {
  google.protobuf.Any any = 1;
  google.protobuf.Struct struct_value = 2;
  google.protobuf.Value value = 3;
  google.protobuf.ListValue list_value = 4;
  google.protobuf.Int64Value int64_wrapper = 5;
  google.protobuf.StringValue string_wrapper = 6;
  google.protobuf.BoolValue bool_wrapper = 7;
  google.protobuf.Timestamp at = 8;
  google.protobuf.Duration took = 9;
  int64 big = 11;
  uint64 ubig = 12;
  Color color = 13;
  repeated Color colors = 14;
  map<string, Inner> inner_map = 15;
  repeated Inner inners = 16;
  double ratio = 18;
  Inner inner = 19;
  google.protobuf.Int32Value int32_wrapper = 20;
}
"""

OUTCOMES = ("passed", "failure", "error", "skipped")
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str
    junit: bytes | None = None
    cases: list[ET.Element] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def outcomes(self) -> dict[str, str]:
        """``{scenario name: passed | failure | error | skipped}``."""
        return {case.get("name", ""): outcome_of(case) for case in self.cases}

    def case(self, name: str) -> ET.Element:
        found = [c for c in self.cases if c.get("name") == name]
        assert len(found) == 1, f"{len(found)} test cases named {name!r}: {self.outcomes}"
        return found[0]

    def problem(self, name: str) -> str:
        """The message attribute and text of a case's failure or error."""
        case = self.case(name)
        element = case.find("failure")
        if element is None:
            element = case.find("error")
        assert element is not None, f"{name!r} has neither failure nor error"
        return f"{element.get('message', '')}\n{element.text or ''}"

    def system_out(self, name: str) -> str:
        element = self.case(name).find("system-out")
        return "" if element is None or element.text is None else element.text


def outcome_of(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def check_report(document: bytes, validate: Callable[[bytes], None]) -> list[ET.Element]:
    """Validate against both XSDs, check the counts, return every test case in order."""
    validate(document)
    root = ET.fromstring(document)
    assert root.tag == "testsuites"
    cases: list[ET.Element] = []
    totals = dict.fromkeys(("tests", "failures", "errors"), 0)
    for suite in root.findall("testsuite"):
        children = suite.findall("testcase")
        counts = [outcome_of(c) for c in children]
        assert int(suite.get("tests", "-1")) == len(children)
        assert int(suite.get("failures", "-1")) == counts.count("failure")
        assert int(suite.get("errors", "-1")) == counts.count("error")
        assert int(suite.get("skipped", "-1")) == counts.count("skipped")
        for case in children:
            assert case.get("classname") == suite.get("name")
            time_text = case.get("time", "")
            assert time_text.count(".") == 1 and len(time_text.split(".")[1]) == 3, time_text
        totals["tests"] += len(children)
        totals["failures"] += counts.count("failure")
        totals["errors"] += counts.count("error")
        cases.extend(children)
    for key, value in totals.items():
        assert int(root.get(key, "-1")) == value, key
    return cases


class Project:
    """A scratch working directory with ``protos/`` and ``scenarios/``."""

    def __init__(self, root: Path, validate: Callable[[bytes], None]) -> None:
        self.root = root
        self.validate = validate
        shutil.copytree(EXAMPLE_PROTOS, root / "protos")
        (root / "protos" / "wkt").mkdir()
        (root / "protos" / "wkt" / "wkt.proto").write_text(WKT_PROTO, encoding="utf-8")
        (root / "scenarios").mkdir()

    @classmethod
    def at(cls, root: Path, validate: Callable[[bytes], None]) -> Project:
        """An existing project folder, as it is (an example of the repository, say)."""
        project = cls.__new__(cls)
        project.root, project.validate = root, validate
        return project

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        junit: str | None = "reports/junit.xml",
        traceback_ok: bool = False,
    ) -> RunResult:
        """``scenario-run ARGS`` in-process, in this project's folder."""
        out, err = io.StringIO(), io.StringIO()
        report = self.root / junit if junit else None
        if report is not None and report.exists():
            report.unlink()
        with (
            _chdir(self.root),
            _environ(env or {}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = cli.main(list(args))
        return self._result(code, out.getvalue(), err.getvalue(), report, traceback_ok)

    def run_subprocess(
        self,
        *args: str,
        junit: str | None = "reports/junit.xml",
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        """``python -m scenario_runner.cli ARGS`` as a child process (real exit codes)."""
        report = self.root / junit if junit else None
        if report is not None and report.exists():
            report.unlink()
        environment = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true", **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "scenario_runner.cli", *args],
            cwd=self.root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return self._result(done.returncode, done.stdout, done.stderr, report, False)

    def _result(
        self, code: int, stdout: str, stderr: str, report: Path | None, traceback_ok: bool
    ) -> RunResult:
        result = RunResult(code, stdout, stderr)
        if not traceback_ok:
            assert TRACEBACK not in result.output, result.output
        if report is not None and report.exists():
            result.junit = report.read_bytes()
            result.cases = check_report(result.junit, self.validate)
            if not traceback_ok:
                assert b"InternalError" not in result.junit, result.junit.decode()
                assert TRACEBACK.encode() not in result.junit, result.junit.decode()
        return result


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def scenario_names(*texts: str) -> list[str]:
    """The ``name`` of every YAML document of the given scenario files."""
    return [
        doc["name"]
        for text in texts
        for doc in yaml.safe_load_all(textwrap.dedent(text))
        if isinstance(doc, dict) and "name" in doc
    ]


def expected_outcome(name: str) -> str:
    """Scenario sets name their scenarios ``"<outcome>: what"``; this is the outcome."""
    prefix = name.split(":", 1)[0].strip()
    assert prefix in OUTCOMES, f"scenario {name!r} does not start with an outcome"
    return prefix


def assert_outcomes_as_named(result: RunResult) -> None:
    """Every scenario ended as its name says; one message lists every difference."""
    wrong = {
        name: f"expected {expected_outcome(name)}, got {outcome}"
        for name, outcome in result.outcomes.items()
        if outcome != expected_outcome(name)
    }
    details = "\n\n".join(
        f"{name}: {why}\n"
        + (result.problem(name) if result.outcomes[name] in ("failure", "error") else "")
        for name, why in wrong.items()
    )
    assert not wrong, details
