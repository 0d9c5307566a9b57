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
import functools
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Sequence
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
    """Render ``results`` as a UTF-8 JUnit XML document (with an XML declaration).

    Written as text directly, indented by two spaces a level: the document ElementTree
    would write for the same elements (``ET.indent`` then ``ET.tostring``), at a fraction
    of the cost for a report of thousands of cases."""
    host = socket.gethostname() if hostname is None else hostname
    host_attribute = _attribute_text(host)  # the same in every suite: made once
    body: list[str] = []
    seconds = sum(_suite_text(body, group, host_attribute) for group in _group_by_file(results))
    outcomes = [r.outcome for r in results]
    out = ["<?xml version='1.0' encoding='utf-8'?>\n<testsuites"]
    _attributes(
        out,
        name=suite_name,
        tests=str(len(outcomes)),
        failures=str(outcomes.count(Outcome.FAILED)),
        errors=str(outcomes.count(Outcome.ERRORED)),
        time=_seconds(seconds),
    )
    if not body:
        out.append(" />\n")
        return "".join(out).encode("utf-8", "xmlcharrefreplace")
    out.append(">")
    out.extend(body)
    out.append("\n</testsuites>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


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


def _suite_text(out: list[str], cases: Sequence[ScenarioResult], host_attribute: str) -> float:
    """A file's ``<testsuite>`` and its cases; the suite's time (the sum of its cases')."""
    name = _attribute_text(cases[0].classname)  # a file's cases share its class name
    head = len(out)
    out.append("")  # the suite's start tag, once its counts are known
    failures = errors = skipped = 0
    seconds = 0.0
    started = math.inf
    for case in cases:
        outcome = case.outcome
        if outcome is not Outcome.PASSED:
            failures += outcome is Outcome.FAILED
            errors += outcome is Outcome.ERRORED
            skipped += outcome is Outcome.SKIPPED
        seconds += _rounded(case.time)
        if 0 < case.timestamp < started:
            started = case.timestamp
        _case_text(out, case, name)
    # Numbers, times and timestamps need no escaping: only the names are escaped.
    out[head] = (
        f'\n  <testsuite name="{name}" tests="{len(cases)}" failures="{failures}"'
        f' errors="{errors}" skipped="{skipped}" time="{_seconds(seconds)}"'
        f' timestamp="{_iso_timestamp(started if started < math.inf else time.time())}"'
        f' hostname="{host_attribute}">'
    )
    out.append("\n  </testsuite>")
    return seconds


def _case_text(out: list[str], result: ScenarioResult, classname: str) -> None:
    start = (
        f'\n    <testcase classname="{classname}" name="{_attribute_text(result.name)}"'
        f' time="{_seconds(result.time)}"'
    )
    children: list[str] = []
    if result.outcome is not Outcome.PASSED:
        _outcome_text(children, result)
    if result.log:
        _element(children, "system-out", {}, result.log)
    if not children:
        out.append(f"{start} />")
    elif len(children) == 1:
        out.append(f"{start}>\n      {children[0]}\n    </testcase>")
    else:
        out.append(f"{start}>\n      " + "\n      ".join(children) + "\n    </testcase>")


def _outcome_text(out: list[str], result: ScenarioResult) -> None:
    if result.outcome is Outcome.SKIPPED:
        _element(out, "skipped", {}, result.skip_reason or "")
    elif result.outcome in (Outcome.FAILED, Outcome.ERRORED):
        tag = "failure" if result.outcome is Outcome.FAILED else "error"
        problem = result.problem or Problem(message=_DEFAULT_MESSAGE[result.outcome], detail="")
        message = _first_line(problem.message) or _first_line(problem.detail)
        attributes = {
            "message": message or _DEFAULT_MESSAGE[result.outcome],
            "type": problem.kind or _DEFAULT_TYPE[result.outcome],
        }
        _element(out, tag, attributes, problem.detail or problem.message)


def _element(out: list[str], tag: str, attributes: dict[str, str], text: str) -> None:
    """One element without children, as a string of its own in ``out``."""
    parts = ["<", tag]
    _attributes(parts, **attributes)
    text = sanitize_xml_text(text)
    parts.append(f">{_escape_text(text)}</{tag}>" if text else " />")
    out.append("".join(parts))


def _attributes(out: list[str], **values: str) -> None:
    for name, value in values.items():
        out.append(f' {name}="{_attribute_text(value)}"')


def _attribute_text(value: str) -> str:
    return _escape_attribute(sanitize_xml_text(value))


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#09;",
    }
)


def _escape_attribute(text: str) -> str:
    return text.translate(_ATTRIBUTE_ESCAPES)


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


@functools.lru_cache(maxsize=256)
def _iso_second(second: int) -> str:
    moment = dt.datetime.fromtimestamp(second, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _iso_timestamp(epoch: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC: the schemas' timestamp has no timezone (most suites
    of a run start in the same few seconds: each is formatted once)."""
    return _iso_second(math.floor(epoch))
