"""JUnit XML report: schema validity, counts, mapping, ordering, sanitising, atomic write."""

from __future__ import annotations

import os
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema

from scenario_runner.report.junit import render_junit, sanitize_xml_text, write_junit
from scenario_runner.results import Outcome, Problem, ScenarioResult

NASTY = "nul\x00 esc\x1b bell\x07 ff\x0c nonchar\ufffe\uffff surrogate\ud800 <>&\"' 🚀 ünï"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make(
    file: str,
    name: str,
    outcome: Outcome = Outcome.PASSED,
    *,
    order: tuple[int, int],
    time: float = 0.25,
    timestamp: float = T0,
    **extra: object,
) -> ScenarioResult:
    return ScenarioResult(
        file=file,
        name=name,
        outcome=outcome,
        time=time,
        order=order,
        timestamp=timestamp,
        **extra,  # type: ignore[arg-type]
    )


def sample_results() -> list[ScenarioResult]:
    """Every outcome, an unloadable file, nasty characters; deliberately out of order."""
    return [
        make(
            "scenarios/greeter/say_hello.yaml",
            "errors on timeout",
            Outcome.ERRORED,
            order=(0, 2),
            time=2.0,
            timestamp=T0 + 5,
            problem=Problem("timeout after 2s", "step 'slow' (scenarios/x.yaml:30)", "Timeout"),
        ),
        make(
            "scenarios/broken.yaml",
            "broken.yaml",
            Outcome.ERRORED,
            order=(1, 0),
            time=0.0,
            timestamp=0.0,
            problem=Problem(
                "scenarios/broken.yaml:3:1: invalid YAML",
                "scenarios/broken.yaml:3:1: mapping values are not allowed here",
                "ScenarioFileError",
            ),
        ),
        make(
            "scenarios/greeter/say_hello.yaml",
            "greeter answers a known user",
            order=(0, 0),
            time=0.0123456,
            timestamp=T0 + 1,
            log="event 1: stub_added\nevent 2: mock_call\n",
        ),
        make(
            "scenarios/greeter/say_hello.yaml",
            "greeter rejects strangers",
            Outcome.FAILED,
            order=(0, 1),
            time=0.5,
            timestamp=T0,
            problem=Problem(
                "step 'say hello': response differs\nsecond line",
                "step 'say hello' (scenarios/greeter/say_hello.yaml:12)\n"
                "expected: {message: Hello}\nactual:   {message: Bye}",
                "ExpectationFailed",
            ),
        ),
        make("skipping.yml", "later", Outcome.SKIPPED, order=(2, 0), skip_reason="not yet"),
        make(
            "scenarios/nasty.yaml",
            f"name {NASTY}",
            Outcome.FAILED,
            order=(3, 0),
            problem=Problem(f"msg {NASTY}", f"detail {NASTY}", f"kind{NASTY}"),
            log=f"log {NASTY}",
        ),
        make(
            "scenarios/nasty.yaml", "skip nasty", Outcome.SKIPPED, order=(3, 1), skip_reason=NASTY
        ),
    ]


def parse(document: bytes) -> ET.Element:
    return ET.fromstring(document)


def suites(root: ET.Element) -> list[ET.Element]:
    return root.findall("testsuite")


def suite_named(root: ET.Element, name: str) -> ET.Element:
    (suite,) = [s for s in suites(root) if s.get("name") == name]
    return suite


# --------------------------------------------------------------------------- schemas


def test_schema_fixture_yields_both_xsds(
    junit_validators: list[tuple[str, xmlschema.XMLSchema]],
) -> None:
    assert [name for name, _ in junit_validators] == ["jenkins-junit.xsd", "junit-10.xsd"]


def test_report_with_every_outcome_is_valid_in_both_schemas(
    validate_junit: Callable[[bytes], None],
) -> None:
    validate_junit(render_junit(sample_results(), hostname="ci-runner-1"))


def test_empty_run_is_valid(validate_junit: Callable[[bytes], None]) -> None:
    document = render_junit([], hostname="h")
    validate_junit(document)
    root = parse(document)
    assert root.attrib == {
        "name": "scenario-run",
        "tests": "0",
        "failures": "0",
        "errors": "0",
        "time": "0.000",
    }


def test_each_xsd_rejects_what_it_should(
    junit_validators: list[tuple[str, xmlschema.XMLSchema]],
) -> None:
    """Guards the choices in junit.py: the schemas really are strict where we assume so."""
    schemas = dict(junit_validators)
    skipped_with_message = (
        b'<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
        b'<testcase name="c"><skipped message="why"/></testcase></testsuite></testsuites>'
    )
    assert not schemas["jenkins-junit.xsd"].is_valid(skipped_with_message)
    without_failures = b'<testsuites><testsuite name="s" tests="0"/></testsuites>'
    assert not schemas["junit-10.xsd"].is_valid(without_failures)
    skipped_total = b'<testsuites skipped="0"/>'
    assert not any(schema.is_valid(skipped_total) for schema in schemas.values())


# --------------------------------------------------------------------------- structure


def test_one_suite_per_file_in_first_order() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    assert [s.get("name") for s in suites(root)] == [
        "scenarios.greeter.say_hello",
        "scenarios.broken",
        "skipping",
        "scenarios.nasty",
    ]


def test_classname_mapping_and_case_order() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    greeter = suite_named(root, "scenarios.greeter.say_hello")
    cases = greeter.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "greeter answers a known user",
        "greeter rejects strangers",
        "errors on timeout",
    ]
    assert {c.get("classname") for c in cases} == {"scenarios.greeter.say_hello"}


def test_ordering_is_stable_whatever_the_arrival_order() -> None:
    results = sample_results()
    reference = render_junit(results, hostname="h")
    for shuffled in (results[::-1], results[3:] + results[:3], sorted(results, key=id)):
        assert render_junit(shuffled, hostname="h") == reference


def test_counts_agree_with_children() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    for suite in suites(root):
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
        assert suite.get("errors") == str(sum(c.find("error") is not None for c in cases))
        assert suite.get("skipped") == str(sum(c.find("skipped") is not None for c in cases))
    assert root.get("tests") == "7"
    assert root.get("failures") == "2"
    assert root.get("errors") == "2"
    greeter = suite_named(root, "scenarios.greeter.say_hello")
    assert (greeter.get("tests"), greeter.get("failures"), greeter.get("errors")) == ("3", "1", "1")


def test_times_have_three_decimals() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    times = [e.get("time", "") for e in root.iter() if e.tag in ("testsuites", "testsuite")]
    times += [c.get("time", "") for c in root.iter("testcase")]
    assert all(re.fullmatch(r"\d+\.\d{3}", t) for t in times), times
    greeter = suite_named(root, "scenarios.greeter.say_hello")
    assert [c.get("time") for c in greeter.findall("testcase")] == ["0.012", "0.500", "2.000"]
    assert greeter.get("time") == "2.512"


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_unusable_times_render_as_zero(bad: float) -> None:
    result = make("a.yaml", "a", order=(0, 0), time=bad)
    case = parse(render_junit([result], hostname="h")).find("testsuite/testcase")
    assert case is not None and case.get("time") == "0.000"


def test_suite_timestamp_hostname_and_now_fallback() -> None:
    root = parse(render_junit(sample_results(), hostname="ci-runner-1"))
    greeter = suite_named(root, "scenarios.greeter.say_hello")
    assert greeter.get("timestamp") == "2023-11-14T22:13:20"  # earliest of the file
    assert {s.get("hostname") for s in suites(root)} == {"ci-runner-1"}
    broken = suite_named(root, "scenarios.broken")  # timestamp 0 → now
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", broken.get("timestamp", ""))
    assert broken.get("timestamp", "") > "2024"


def test_default_hostname_is_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "build-box")
    root = parse(render_junit([make("a.yaml", "a", order=(0, 0))]))
    assert root.find("testsuite") is not None
    assert suites(root)[0].get("hostname") == "build-box"


def test_suite_name_option() -> None:
    assert parse(render_junit([], suite_name="nightly")).get("name") == "nightly"


# --------------------------------------------------------------------------- outcomes


def test_failure_element() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    case = suite_named(root, "scenarios.greeter.say_hello").findall("testcase")[1]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "step 'say hello': response differs"  # first line only
    assert failure.get("type") == "ExpectationFailed"
    assert failure.text == (
        "step 'say hello' (scenarios/greeter/say_hello.yaml:12)\n"
        "expected: {message: Hello}\nactual:   {message: Bye}"
    )
    assert case.find("error") is None and case.find("skipped") is None


def test_error_element_and_unloadable_file() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    broken = suite_named(root, "scenarios.broken")
    (case,) = broken.findall("testcase")
    assert (case.get("classname"), case.get("name")) == ("scenarios.broken", "broken.yaml")
    error = case.find("error")
    assert error is not None
    assert error.get("type") == "ScenarioFileError"
    assert error.get("message") == "scenarios/broken.yaml:3:1: invalid YAML"
    assert error.text == "scenarios/broken.yaml:3:1: mapping values are not allowed here"
    assert (broken.get("tests"), broken.get("errors"), broken.get("failures")) == ("1", "1", "0")


def test_problem_defaults_when_missing() -> None:
    results = [
        make("a.yaml", "f", Outcome.FAILED, order=(0, 0)),
        make("a.yaml", "e", Outcome.ERRORED, order=(0, 1), problem=Problem("", "only\ndetail")),
    ]
    failure, error = parse(render_junit(results, hostname="h")).iter("testcase")
    assert failure[0].tag == "failure" and failure[0].get("message") == "scenario failed"
    assert failure[0].get("type") == "ScenarioFailure"
    assert error[0].tag == "error" and error[0].get("message") == "only"
    assert error[0].get("type") == "ScenarioError"


def test_skipped_reason_is_element_text() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    skipped = suite_named(root, "skipping").find("testcase/skipped")
    assert skipped is not None
    assert skipped.text == "not yet" and skipped.attrib == {}
    bare = make("a.yaml", "a", Outcome.SKIPPED, order=(0, 0))
    element = parse(render_junit([bare], hostname="h")).find("testsuite/testcase/skipped")
    assert element is not None and not element.text


def test_system_out_holds_the_log_and_follows_the_outcome() -> None:
    root = parse(render_junit(sample_results(), hostname="h"))
    passed, failed, _ = suite_named(root, "scenarios.greeter.say_hello").findall("testcase")
    out = passed.find("system-out")
    assert out is not None and out.text == "event 1: stub_added\nevent 2: mock_call\n"
    assert failed.find("system-out") is None  # no log, no element
    nasty = suite_named(root, "scenarios.nasty").find("testcase")
    assert nasty is not None
    assert [child.tag for child in nasty] == ["failure", "system-out"]


# --------------------------------------------------------------------------- characters


def test_forbidden_characters_are_stripped_everywhere(
    validate_junit: Callable[[bytes], None],
) -> None:
    document = render_junit(sample_results(), hostname="h\x00ost")
    validate_junit(document)
    text = document.decode("utf-8")
    for forbidden in ("\x00", "\x1b", "\x07", "\x0c", "\ufffe", "\uffff", "&#"):
        assert forbidden not in text.replace("&#10;", "")
    root = parse(document)
    nasty = suite_named(root, "scenarios.nasty")
    case = nasty.find("testcase")
    assert case is not None
    expected = "nul esc bell ff nonchar surrogate <>&\"' 🚀 ünï"
    assert case.get("name") == f"name {expected}"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == f"msg {expected}"
    assert failure.get("type") == f"kind{expected}"
    assert failure.text == f"detail {expected}"
    out = case.find("system-out")
    assert out is not None and out.text == f"log {expected}"
    assert nasty.get("hostname") == "host"


def test_sanitize_keeps_tab_newline_cr_and_astral() -> None:
    assert sanitize_xml_text("a\tb\nc\rd\U0001f680\x7f") == "a\tb\nc\rd\U0001f680\x7f"
    assert sanitize_xml_text("\x00\x08\x0b\x1f\ud800\udfff\ufffe\uffff") == ""


def test_newlines_in_names_survive_as_escaped_attributes() -> None:
    result = make("a.yaml", "two\nlines", order=(0, 0))
    document = render_junit([result], hostname="h")
    assert b"two&#10;lines" in document
    case = parse(document).find("testsuite/testcase")
    assert case is not None and case.get("name") == "two\nlines"


# --------------------------------------------------------------------------- writing


def test_write_creates_parents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "nested" / "junit.xml"
    write_junit(target, sample_results(), hostname="h")
    assert target.read_bytes() == render_junit(sample_results(), hostname="h")
    assert os.listdir(target.parent) == ["junit.xml"]


def test_write_replaces_the_previous_report(
    tmp_path: Path, validate_junit: Callable[[bytes], None]
) -> None:
    target = tmp_path / "junit.xml"
    target.write_text("old, not even XML")
    write_junit(target, sample_results(), hostname="h", suite_name="again")
    validate_junit(target.read_bytes())
    assert parse(target.read_bytes()).get("name") == "again"
    assert os.listdir(tmp_path) == ["junit.xml"]


def test_failed_write_keeps_the_old_report_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "junit.xml"
    target.write_text("previous")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_junit(target, sample_results(), hostname="h")
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["junit.xml"]


def test_written_report_is_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    write_junit(target, [], hostname="h")
    assert target.stat().st_mode & 0o444 == 0o444


def test_sanitize_keeps_exactly_the_characters_of_xml_1_0() -> None:
    """Every code point, held against XML 1.0's Char production."""

    def allowed(code: int) -> bool:
        return (
            code in (0x9, 0xA, 0xD)
            or 0x20 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF
        )

    everything = "".join(map(chr, range(0x110000)))
    expected = "".join(chr(code) for code in range(0x110000) if allowed(code))
    assert sanitize_xml_text(everything) == expected
