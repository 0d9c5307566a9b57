"""Console reporter: summary format, plain lines, failure blocks, quiet, live line, CI mode."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest

from scenario_runner.report.console import (
    ConsoleReporter,
    failure_block,
    result_line,
    summary_line,
)
from scenario_runner.results import Outcome, Problem, ScenarioResult

CLEAR = "\r\x1b[K"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests run under CI, in terminals, with NO_COLOR…: start from a known environment."""
    for name in ("CI", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    yield


def make(
    name: str,
    outcome: Outcome = Outcome.PASSED,
    *,
    file: str = "scenarios/greeter.yaml",
    order: tuple[int, int] = (0, 0),
    time: float = 0.012,
    line: int = 0,
    problem: Problem | None = None,
    skip_reason: str | None = None,
) -> ScenarioResult:
    return ScenarioResult(
        file=file,
        name=name,
        outcome=outcome,
        time=time,
        order=order,
        line=line,
        problem=problem,
        skip_reason=skip_reason,
    )


DETAIL = "step 'say hello' (scenarios/greeter.yaml:14)\nexpected: Hello\nactual:   Bye"


def sample_results() -> list[ScenarioResult]:
    """In finishing order, which is not the file order."""
    return [
        make(
            "times out",
            Outcome.ERRORED,
            file="scenarios/slow.yaml",
            order=(1, 0),
            time=2.0,
            line=1,
            problem=Problem("timeout after 2s", "step 'slow': deadline exceeded after 2s"),
        ),
        make("greeter answers a known user", order=(0, 0), line=1),
        make("later", Outcome.SKIPPED, order=(0, 2), line=30, time=0.0, skip_reason="not yet"),
        make(
            "greeter rejects strangers",
            Outcome.FAILED,
            order=(0, 1),
            time=0.5,
            line=12,
            problem=Problem("response differs", DETAIL),
        ),
    ]


def run(reporter: ConsoleReporter, results: list[ScenarioResult], elapsed: float = 3.2) -> None:
    reporter.start(len(results))
    for result in results:
        reporter.scenario_finished(result)
    reporter.finish(results, elapsed)


# --------------------------------------------------------------------------- summary


def test_summary_line_exact_format() -> None:
    assert summary_line(sample_results(), 3.14159) == (
        "1 passed, 1 failed, 1 errored, 1 skipped in 3.14 s"
    )
    assert summary_line([], 0) == "0 passed, 0 failed, 0 errored, 0 skipped in 0.00 s"


# --------------------------------------------------------------------------- plain mode


def test_plain_mode_output_exactly() -> None:
    stream = io.StringIO()
    reporter = ConsoleReporter(stream)
    assert not reporter.live and not reporter.color
    run(reporter, sample_results())
    assert stream.getvalue() == (
        "ERRORED scenarios/slow.yaml::times out (2.000s)\n"
        "PASSED  scenarios/greeter.yaml::greeter answers a known user (0.012s)\n"
        "SKIPPED scenarios/greeter.yaml::later (0.000s): not yet\n"
        "FAILED  scenarios/greeter.yaml::greeter rejects strangers (0.500s)\n"
        "FAILED scenarios/greeter.yaml:12 greeter rejects strangers\n"
        "    step 'say hello' (scenarios/greeter.yaml:14)\n"
        "    expected: Hello\n"
        "    actual:   Bye\n"
        "\n"
        "ERRORED scenarios/slow.yaml:1 times out\n"
        "    step 'slow': deadline exceeded after 2s\n"
        "\n"
        "1 passed, 1 failed, 1 errored, 1 skipped in 3.20 s\n"
    )


def test_quiet_prints_no_scenario_lines() -> None:
    stream = io.StringIO()
    run(ConsoleReporter(stream, verbosity=-1), sample_results())
    output = stream.getvalue()
    assert "PASSED" not in output and "SKIPPED" not in output
    assert output.startswith("FAILED scenarios/greeter.yaml:12 greeter rejects strangers\n")
    assert output.endswith("\n1 passed, 1 failed, 1 errored, 1 skipped in 3.20 s\n")


def test_quiet_all_passed_prints_only_the_summary() -> None:
    stream = io.StringIO()
    run(ConsoleReporter(stream, verbosity=-1), [make("a")], elapsed=0.5)
    assert stream.getvalue() == "1 passed, 0 failed, 0 errored, 0 skipped in 0.50 s\n"


def test_failure_blocks_follow_file_order_not_finishing_order() -> None:
    results = [
        make("b", Outcome.FAILED, order=(2, 0), problem=Problem("m", "db")),
        make("a2", Outcome.ERRORED, order=(0, 1), problem=Problem("m", "da2")),
        make("a1", Outcome.FAILED, order=(0, 0), problem=Problem("m", "da1")),
    ]
    stream = io.StringIO()
    ConsoleReporter(stream, verbosity=-1).finish(results, 1.0)
    headers = [line for line in stream.getvalue().splitlines() if line.startswith(("FAIL", "ERR"))]
    assert [h.rsplit(" ", 1)[1] for h in headers] == ["a1", "a2", "b"]


def test_failure_block_keeps_detail_text_and_handles_missing_parts() -> None:
    detail = "expected:\n  - 1\n\n  - 2\nactual: []"
    result = make("x", Outcome.FAILED, line=3, problem=Problem("msg", detail))
    assert failure_block(result) == (
        "FAILED scenarios/greeter.yaml:3 x\n"
        "    expected:\n      - 1\n\n      - 2\n    actual: []\n"
        "\n"
    )
    no_detail = make("y", Outcome.ERRORED, problem=Problem("only a message", ""))
    assert failure_block(no_detail) == "ERRORED scenarios/greeter.yaml y\n    only a message\n\n"
    no_problem = make("z", Outcome.FAILED, line=7)
    assert failure_block(no_problem) == "FAILED scenarios/greeter.yaml:7 z\n\n"


def test_result_line_keeps_one_line() -> None:
    result = make("two\nlines\x1b[2J", Outcome.SKIPPED, skip_reason="because\r\nreasons")
    line = result_line(result)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line == "SKIPPED scenarios/greeter.yaml::two lines [2J (0.012s): because reasons"


def test_ci_forces_plain_mode_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("true", "1", "TRUE"):
        monkeypatch.setenv("CI", value)
        stream = FakeTTY()
        reporter = ConsoleReporter(stream, color=False)
        assert not reporter.live
        run(reporter, [make("a")])
        assert "\r" not in stream.getvalue()
        assert stream.getvalue().startswith("PASSED  scenarios/greeter.yaml::a (0.012s)\n")


def test_ci_false_keeps_live_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    assert ConsoleReporter(FakeTTY()).live


# --------------------------------------------------------------------------- live mode


def test_live_progress_line() -> None:
    stream = FakeTTY()
    clock = FakeClock()
    reporter = ConsoleReporter(stream, color=False, clock=clock)
    assert reporter.live
    reporter.start(4)
    assert stream.getvalue() == CLEAR + "[0/4] 0 failed · elapsed 0.0s"
    results = sample_results()
    clock.now += 1.25
    reporter.scenario_finished(results[1])
    assert stream.getvalue().endswith(
        CLEAR + "[1/4] 0 failed · elapsed 1.2s · last: greeter answers a known user"
    )
    clock.now += 2.0
    reporter.scenario_finished(results[3])
    reporter.scenario_finished(results[0])
    assert stream.getvalue().endswith(
        CLEAR + "[3/4] 1 failed, 1 errored · elapsed 3.2s · last: times out"
    )
    assert "\n" not in stream.getvalue()  # one line, rewritten in place
    assert "PASSED" not in stream.getvalue()


def test_live_line_is_cleared_before_final_output() -> None:
    stream = FakeTTY()
    run(ConsoleReporter(stream, color=False), sample_results())
    progress, final = stream.getvalue().rsplit(CLEAR, 1)
    assert final.startswith("FAILED scenarios/greeter.yaml:12 greeter rejects strangers\n")
    assert final.endswith("1 passed, 1 failed, 1 errored, 1 skipped in 3.20 s\n")
    assert "[4/4]" in progress


def test_live_line_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    stream = FakeTTY()
    reporter = ConsoleReporter(stream, color=False)
    reporter.start(1)
    reporter.scenario_finished(make("a very long scenario name 🚀🚀🚀 that goes on"))
    last = stream.getvalue().rsplit(CLEAR, 1)[1]
    assert last.startswith("[1/1] 0 failed")
    assert last.endswith("…") and len(last) <= 29


def test_live_verbose_prints_lines_above_the_progress_line() -> None:
    stream = FakeTTY()
    reporter = ConsoleReporter(stream, verbosity=1, color=False, clock=FakeClock())
    reporter.start(2)
    reporter.scenario_finished(make("first"))
    reporter.scenario_finished(make("second", Outcome.SKIPPED, skip_reason="later"))
    assert stream.getvalue().split(CLEAR) == [
        "",
        "[0/2] 0 failed · elapsed 0.0s",
        "PASSED  scenarios/greeter.yaml::first (0.012s)\n",
        "[1/2] 0 failed · elapsed 0.0s · last: first",
        "SKIPPED scenarios/greeter.yaml::second (0.012s): later\n",
        "[2/2] 0 failed · elapsed 0.0s · last: second",
    ]


def test_live_quiet_keeps_only_the_transient_progress_line() -> None:
    stream = FakeTTY()
    run(ConsoleReporter(stream, verbosity=-1, color=False), [make("a")])
    assert "PASSED" not in stream.getvalue()
    assert stream.getvalue().endswith(
        CLEAR + "1 passed, 0 failed, 0 errored, 0 skipped in 3.20 s\n"
    )


def test_auto_live_needs_a_terminal_that_is_not_dumb(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not ConsoleReporter(io.StringIO()).live
    monkeypatch.setenv("TERM", "dumb")
    assert not ConsoleReporter(FakeTTY()).live
    assert not ConsoleReporter(FakeTTY()).color


# --------------------------------------------------------------------------- colour


def test_colour_on_a_terminal_by_default() -> None:
    stream = FakeTTY()
    reporter = ConsoleReporter(stream, live=False)
    assert reporter.color
    run(reporter, sample_results())
    output = stream.getvalue()
    assert "\x1b[32mPASSED \x1b[0m scenarios/greeter.yaml::greeter answers" in output
    assert "\x1b[33mSKIPPED\x1b[0m scenarios/greeter.yaml::later" in output
    assert "\x1b[31mFAILED \x1b[0m scenarios/greeter.yaml::greeter rejects" in output
    assert "\x1b[31mERRORED\x1b[0m scenarios/slow.yaml::times out" in output
    assert "\x1b[31mFAILED\x1b[0m scenarios/greeter.yaml:12 greeter rejects strangers\n" in output


def test_no_color_env_disables_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTTY()
    reporter = ConsoleReporter(stream, live=False)
    assert not reporter.color
    run(reporter, sample_results())
    assert "\x1b" not in stream.getvalue()


def test_explicit_options_win_over_detection() -> None:
    reporter = ConsoleReporter(io.StringIO(), live=True, color=True)
    assert reporter.live and reporter.color
    reporter = ConsoleReporter(FakeTTY(), live=False, color=False)
    assert not reporter.live and not reporter.color


def test_the_live_line_keeps_its_elapsed_time_moving_between_results() -> None:
    stream = FakeTTY()
    now = [0.0]
    reporter = ConsoleReporter(stream, live=True, color=False, clock=lambda: now[0], tick=0.01)
    reporter.start(2)
    now[0] = 7.0
    redrawn = threading.Event()
    for _ in range(200):
        if "elapsed 7.0s" in stream.getvalue():
            redrawn.set()
            break
        threading.Event().wait(0.01)
    reporter.finish([], 7.0)
    assert redrawn.is_set(), stream.getvalue()
    after = stream.getvalue()
    threading.Event().wait(0.05)
    assert stream.getvalue() == after, "no redraw after finish"


def test_verbose_failures_come_with_their_session_log() -> None:
    failed = make("a", Outcome.FAILED, problem=Problem("m", "steps[0] failed"))
    failed.log = "[+  0.000s] #1 mock_call helloworld.Greeter/SayHello stub=none\n"
    quiet, verbose = io.StringIO(), io.StringIO()
    ConsoleReporter(quiet, verbosity=0, live=False, color=False).finish([failed], 1.0)
    ConsoleReporter(verbose, verbosity=1, live=False, color=False).finish([failed], 1.0)
    assert "session log" not in quiet.getvalue()
    assert (
        "    steps[0] failed\n    session log:\n"
        "      [+  0.000s] #1 mock_call helloworld.Greeter/SayHello stub=none\n"
    ) in verbose.getvalue()
