"""JUnit XML report (SPEC §8).

The document validates against both ``jenkins-junit.xsd`` and the xUnit plugin's
``junit-10.xsd``, so it only uses what the two schemas have in common:

* ``<testsuites name tests failures errors time>`` — neither schema accepts ``skipped`` here;
* ``<testsuite name tests failures errors skipped time timestamp hostname>`` — ``failures`` and
  ``errors`` are required by junit-10; ``time`` is plain digits (junit-10's SUREFIRE_TIME);
* ``<testcase classname name time>`` with children in Jenkins' sequence order
  ``skipped, error, failure, system-out``;
* ``<skipped>reason</skipped>`` — Jenkins' ``skipped`` is a simple string element with no
  attributes, so the reason is the element's text (which Jenkins shows) instead of a
  ``message`` attribute.

Every attribute and text is stripped of characters XML 1.0 forbids. The order of suites and
cases follows ``ScenarioResult.order``, whatever order the results finished in.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scenario_runner.results import Outcome, Problem, ScenarioResult

__all__ = ["render_junit", "sanitize_xml_text", "write_junit"]

# Everything outside XML 1.0's Char production: C0 controls but \t \n \r, lone surrogates,
# U+FFFE and U+FFFF (listed as they are: the negated form of the production takes
# milliseconds to compile).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_NEWLINES = re.compile(r"\r\n|\r|\n")

_DEFAULT_TYPE = {Outcome.FAILED: "ScenarioFailure", Outcome.ERRORED: "ScenarioError"}
_DEFAULT_MESSAGE = {Outcome.FAILED: "scenario failed", Outcome.ERRORED: "scenario errored"}


def sanitize_xml_text(text: str) -> str:
    """Remove every character that XML 1.0 cannot carry, even escaped."""
    return _XML_FORBIDDEN.sub("", text)


def render_junit(
    results: Sequence[ScenarioResult],
    *,
    hostname: str | None = None,
    suite_name: str = "scenario-run",
) -> bytes:
    """Render ``results`` as a UTF-8 JUnit XML document (with an XML declaration)."""
    host = socket.gethostname() if hostname is None else hostname
    suites = [_Suite.of(group) for group in _group_by_file(results)]
    root = ET.Element("testsuites")
    _set(root, "name", suite_name)
    _set_counts(root, _Totals.of(results), with_skipped=False)
    _set(root, "time", _seconds(sum(suite.time for suite in suites)))
    for suite in suites:
        root.append(_suite_element(suite, host))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(
    path: str | os.PathLike[str],
    results: Sequence[ScenarioResult],
    *,
    hostname: str | None = None,
    suite_name: str = "scenario-run",
) -> None:
    """Write the report atomically: a temporary file in the same folder, then ``os.replace``.

    Parent folders are created. Readers never see a half-written report, and a failed write
    leaves the previous report (if any) in place and no temporary file behind.
    """
    data = render_junit(results, hostname=hostname, suite_name=suite_name)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; CI collectors may run as another user
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- grouping


@dataclass(frozen=True)
class _Totals:
    tests: int
    failures: int
    errors: int
    skipped: int

    @classmethod
    def of(cls, results: Sequence[ScenarioResult]) -> _Totals:
        outcomes = [r.outcome for r in results]
        return cls(
            tests=len(outcomes),
            failures=outcomes.count(Outcome.FAILED),
            errors=outcomes.count(Outcome.ERRORED),
            skipped=outcomes.count(Outcome.SKIPPED),
        )


@dataclass(frozen=True)
class _Suite:
    name: str
    cases: tuple[ScenarioResult, ...]
    totals: _Totals
    time: float
    timestamp: float

    @classmethod
    def of(cls, cases: Sequence[ScenarioResult]) -> _Suite:
        started = [r.timestamp for r in cases if r.timestamp > 0]
        return cls(
            name=cases[0].classname,
            cases=tuple(cases),
            totals=_Totals.of(cases),
            time=sum(_rounded(r.time) for r in cases),
            timestamp=min(started) if started else time.time(),
        )


def _case_key(result: ScenarioResult) -> tuple[tuple[int, int], str]:
    return (result.order, result.name)


def _group_by_file(results: Sequence[ScenarioResult]) -> list[list[ScenarioResult]]:
    """One group per scenario file, cases sorted by ``order``, groups by their first case."""
    groups: dict[str, list[ScenarioResult]] = {}
    for result in results:
        groups.setdefault(result.file, []).append(result)
    ordered = [sorted(group, key=_case_key) for group in groups.values()]
    ordered.sort(key=lambda group: (group[0].order, group[0].file))
    return ordered


# --------------------------------------------------------------------------- elements


def _suite_element(suite: _Suite, hostname: str) -> ET.Element:
    element = ET.Element("testsuite")
    _set(element, "name", suite.name)
    _set_counts(element, suite.totals, with_skipped=True)
    _set(element, "time", _seconds(suite.time))
    _set(element, "timestamp", _iso_timestamp(suite.timestamp))
    _set(element, "hostname", hostname)
    for case in suite.cases:
        element.append(_case_element(case))
    return element


def _case_element(result: ScenarioResult) -> ET.Element:
    element = ET.Element("testcase")
    _set(element, "classname", result.classname)
    _set(element, "name", result.name)
    _set(element, "time", _seconds(result.time))
    outcome_child = _outcome_element(result)
    if outcome_child is not None:
        element.append(outcome_child)
    if result.log:
        _text_child(element, "system-out", result.log)
    return element


def _outcome_element(result: ScenarioResult) -> ET.Element | None:
    if result.outcome is Outcome.SKIPPED:
        skipped = ET.Element("skipped")
        if result.skip_reason:
            skipped.text = sanitize_xml_text(result.skip_reason)
        return skipped
    if result.outcome in (Outcome.FAILED, Outcome.ERRORED):
        return _problem_element(result)
    return None


def _problem_element(result: ScenarioResult) -> ET.Element:
    tag = "failure" if result.outcome is Outcome.FAILED else "error"
    problem = result.problem or Problem(message=_DEFAULT_MESSAGE[result.outcome], detail="")
    element = ET.Element(tag)
    message = _first_line(problem.message) or _first_line(problem.detail)
    _set(element, "message", message or _DEFAULT_MESSAGE[result.outcome])
    _set(element, "type", problem.kind or _DEFAULT_TYPE[result.outcome])
    element.text = sanitize_xml_text(problem.detail or problem.message)
    return element


def _text_child(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = sanitize_xml_text(text)


def _set(element: ET.Element, name: str, value: str) -> None:
    element.set(name, sanitize_xml_text(value))


def _set_counts(element: ET.Element, totals: _Totals, *, with_skipped: bool) -> None:
    _set(element, "tests", str(totals.tests))
    _set(element, "failures", str(totals.failures))
    _set(element, "errors", str(totals.errors))
    if with_skipped:
        _set(element, "skipped", str(totals.skipped))


# --------------------------------------------------------------------------- formatting


def _first_line(text: str) -> str:
    """The first non-blank line (split on \\n / \\r only, after sanitising), stripped."""
    for line in _NEWLINES.split(sanitize_xml_text(text)):
        if line.strip():
            return line.strip()
    return ""


def _rounded(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        return 0.0
    return round(seconds, 3)


def _seconds(seconds: float) -> str:
    """Seconds with 3 decimals, never negative nor NaN (junit-10's SUREFIRE_TIME: digits only)."""
    return f"{_rounded(seconds):.3f}"


def _iso_timestamp(epoch: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC: the schemas' timestamp has no timezone."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
