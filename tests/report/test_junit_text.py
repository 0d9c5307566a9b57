"""The JUnit report is written as text: byte for byte what ElementTree writes for the same
elements (the reference below builds them as the report did before)."""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET

import pytest

from scenario_runner.report import junit
from scenario_runner.report.junit import render_junit, sanitize_xml_text
from scenario_runner.results import Outcome, Problem, ScenarioResult

NASTY = "nul\x00 <b>&amp; \"quoted\" 'single' tab\there\r\nnew\nline ünï 🚀 \ufffe\ud800"


def reference(results: list[ScenarioResult], hostname: str, suite_name: str) -> bytes:
    """The same document through ElementTree: elements, ``ET.indent``, ``ET.tostring``."""

    def put(element: ET.Element, name: str, value: str) -> None:
        element.set(name, sanitize_xml_text(value))

    def counts(cases: list[ScenarioResult]) -> dict[str, int]:
        outcomes = [c.outcome for c in cases]
        return {
            "tests": len(outcomes),
            "failures": outcomes.count(Outcome.FAILED),
            "errors": outcomes.count(Outcome.ERRORED),
            "skipped": outcomes.count(Outcome.SKIPPED),
        }

    suites = junit._group_by_file(results)
    times = [sum(junit._rounded(c.time) for c in cases) for cases in suites]
    root = ET.Element("testsuites")
    put(root, "name", suite_name)
    for key in ("tests", "failures", "errors"):
        put(root, key, str(counts(results)[key]))
    put(root, "time", junit._seconds(sum(times)))
    for cases, seconds in zip(suites, times, strict=True):
        element = ET.SubElement(root, "testsuite")
        put(element, "name", cases[0].classname)
        for key in ("tests", "failures", "errors", "skipped"):
            put(element, key, str(counts(cases)[key]))
        put(element, "time", junit._seconds(seconds))
        started = [c.timestamp for c in cases if c.timestamp > 0]
        put(element, "timestamp", junit._iso_timestamp(min(started) if started else time.time()))
        put(element, "hostname", hostname)
        for result in cases:
            case = ET.SubElement(element, "testcase")
            put(case, "classname", result.classname)
            put(case, "name", result.name)
            put(case, "time", junit._seconds(result.time))
            if result.outcome is Outcome.SKIPPED:
                skipped = ET.SubElement(case, "skipped")
                if result.skip_reason:
                    skipped.text = sanitize_xml_text(result.skip_reason)
            elif result.outcome in (Outcome.FAILED, Outcome.ERRORED):
                tag = "failure" if result.outcome is Outcome.FAILED else "error"
                default = junit._DEFAULT_MESSAGE[result.outcome]
                problem = result.problem or Problem(message=default, detail="")
                child = ET.SubElement(case, tag)
                first = junit._first_line(problem.message) or junit._first_line(problem.detail)
                put(child, "message", first or default)
                put(child, "type", problem.kind or junit._DEFAULT_TYPE[result.outcome])
                child.text = sanitize_xml_text(problem.detail or problem.message)
            if result.log:
                ET.SubElement(case, "system-out").text = sanitize_xml_text(result.log)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


def case(number: int, outcome: Outcome = Outcome.PASSED, **extra: object) -> ScenarioResult:
    extra.setdefault("time", 0.001 * number)
    return ScenarioResult(
        file=f"scenarios/f{number % 3}.yaml",
        name=f"scenario {number}",
        outcome=outcome,
        order=(number % 3, number),
        timestamp=1_700_000_000.0 + number,
        **extra,  # type: ignore[arg-type]
    )


CASES = {
    "empty run": [],
    "passed, no log": [case(1)],
    "passed with a log": [case(1, log="line 1\nline 2 <&>\n"), case(2, log=NASTY)],
    "every outcome": [
        case(1, log="x"),
        case(2, Outcome.FAILED, problem=Problem("boom", "boom\nin detail", "Expectation")),
        case(3, Outcome.ERRORED, problem=Problem("", "", "")),
        case(4, Outcome.ERRORED),
        case(5, Outcome.SKIPPED),
        case(6, Outcome.SKIPPED, skip_reason="not today", log="log"),
        case(7, Outcome.FAILED, problem=Problem(NASTY, NASTY, NASTY), log=NASTY),
    ],
    "nasty names": [
        ScenarioResult(file=NASTY, name=NASTY, outcome=Outcome.PASSED, order=(0, 0)),
        ScenarioResult(file="a\tb\r\nc", name="x\ny", outcome=Outcome.SKIPPED, order=(1, 0)),
    ],
    "unusable times": [case(1, time=float("nan")), case(2, time=-1.0)],
}


@pytest.mark.parametrize("results", list(CASES.values()), ids=list(CASES))
def test_the_report_is_what_elementtree_writes(results: list[ScenarioResult]) -> None:
    assert render_junit(results, hostname="host <1>") == reference(
        results, "host <1>", "scenario-run"
    )


def test_suite_name_and_default_hostname_as_elementtree_writes() -> None:
    results = CASES["every outcome"]
    expected = reference(results, socket.gethostname(), 'a "suite" & more')
    assert render_junit(results, suite_name='a "suite" & more') == expected
