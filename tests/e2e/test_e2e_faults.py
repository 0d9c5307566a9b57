"""Faults the runner meets in CI: a target that is down or hangs, a deadline in the middle of a
stream, an interrupted run. Each ends as an error (or exit 130), never as a hang."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from e2e_support import REPO, Project, assert_outcomes_as_named, check_report, outcome_of


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung target)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def test_targets_that_are_down_or_hang_are_errors_not_hangs(
    project: Project, silent_server: int
) -> None:
    down = closed_port()
    project.write(
        "scenarios/faults.yaml",
        f"""
        name: "error: a target that is down"
        steps:
          - call: helloworld.Greeter/SayHello
            target: 127.0.0.1:{down}
        ---
        name: "error: a target that hangs, cut by the call's deadline"
        steps:
          - call: helloworld.Greeter/SayHello
            target: 127.0.0.1:{silent_server}
            timeout: 500ms
        ---
        name: "error: a target that hangs, cut by the scenario's timeout"
        timeout: 1s
        steps:
          - call: helloworld.Greeter/SayHello
            target: 127.0.0.1:{silent_server}
        ---
        name: "error: a deadline in the middle of a server stream"
        stubs:
          - service: bookstore.v1.Catalog
            method: ListBooks
            output:
              stream: [{{title: a}}, {{title: b}}, {{title: c}}, {{title: d}}]
              delay: 200ms
        steps:
          - call: bookstore.v1.Catalog/ListBooks
            timeout: 500ms
            expect: {{responses: [{{title: a}}, {{title: b}}, {{title: c}}, {{title: d}}]}}
        ---
        name: "passed: the others run as usual"
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            output: {{data: {{message: hi}}}}
        steps:
          - call: helloworld.Greeter/SayHello
            expect: {{response: {{message: hi}}}}
        """,
    )
    started = time.monotonic()
    result = project.run("scenarios")
    assert time.monotonic() - started < 20
    assert_outcomes_as_named(result)
    assert f"127.0.0.1:{down} failed: UNAVAILABLE" in result.problem("error: a target that is down")
    assert "DEADLINE_EXCEEDED" in result.problem(
        "error: a target that hangs, cut by the call's deadline"
    )
    assert "timed out after 1s in steps[0]" in result.problem(
        "error: a target that hangs, cut by the scenario's timeout"
    )
    streamed = result.problem("error: a deadline in the middle of a server stream")
    assert "DEADLINE_EXCEEDED" in streamed
    log = result.system_out("error: a deadline in the middle of a server stream")
    assert "mock_call bookstore.v1.Catalog/ListBooks" in log
    assert "status=DEADLINE_EXCEEDED" in log  # the mock recorded the cut call at once


def test_ctrl_c_ends_the_run_with_130_and_a_report_of_what_finished(project: Project) -> None:
    project.write(
        "scenarios/quick.yaml",
        """
        name: quick
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            output: {data: {message: hi}}
        steps:
          - call: helloworld.Greeter/SayHello
        """,
    )
    project.write(
        "scenarios/slow.yaml",
        """
        name: slow
        parallel: false
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            output: {data: {message: late}, delay: 30s}
        steps:
          - call: helloworld.Greeter/SayHello
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "scenario_runner.cli", "scenarios"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the quick scenario's line: the slow one runs now
        assert "quick" in first, first
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert "1 passed, 0 failed, 1 errored, 0 skipped" in out and out.rstrip().endswith(
        "(interrupted)"
    ), out
    assert "interrupted in steps[0]" in out
    cases = check_report((project.root / "reports" / "junit.xml").read_bytes(), project.validate)
    outcomes = {case.get("name"): outcome_of(case) for case in cases}
    assert outcomes == {"quick": "passed", "slow": "error"}
    slow = next(case for case in cases if case.get("name") == "slow")
    error = slow.find("error")
    assert error is not None and error.get("message") == "interrupted"


def test_ctrl_c_across_worker_processes_reports_every_scenario(project: Project) -> None:
    slow = "\n---\n".join(
        f"""
name: slow {n}
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {{data: {{message: late}}, delay: 30s}}
steps:
  - call: helloworld.Greeter/SayHello
"""
        for n in range(40)
    )
    project.write("scenarios/slow.yaml", slow)
    process = subprocess.Popen(
        [sys.executable, "-m", "scenario_runner.cli", "scenarios", "--workers", "4"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "true", "SCENARIO_RUN_PROCESSES": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(3.0)  # both workers are waiting on their first scenarios
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole group
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
    cases = check_report((project.root / "reports" / "junit.xml").read_bytes(), project.validate)
    assert len(cases) == 40, "every selected scenario is in the report"
    outcomes = [outcome_of(case) for case in cases]
    # The ones running (at most --workers 4 in all; on a loaded machine a worker may not
    # have begun yet) are interrupted; the others were not run.
    assert 1 <= outcomes.count("error") <= 4, outcomes
    assert outcomes.count("error") + outcomes.count("skipped") == 40, outcomes
    for case in cases:
        error = case.find("error")
        assert error is None or error.get("message") == "interrupted"
