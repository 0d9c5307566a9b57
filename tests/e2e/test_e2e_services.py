"""Systems under test the runner starts (SPEC §2 "Systems under test"), end to end.

The service is a real gRPC server in its own process (``sut/relay_service.py``): its
``Front.Ask`` asks ``Back.Lookup``, which the mock plays, forwarding ``x-mock-session``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import REPO, Project, assert_outcomes_as_named, check_report

SUT = Path(__file__).resolve().parent / "sut"
RELAY = SUT / "relay_service.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent has not reaped it yet).
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


@pytest.fixture
def relay_project(project: Project) -> Project:
    shutil.copytree(SUT / "protos" / "relay", project.root / "protos" / "relay")
    return project


def write_config(project: Project, *, port: int, extra: str = "", flags: str = "") -> Path:
    pid_file = project.root / "relay.pid"
    project.write(
        "scenario-run.yaml",
        f"""
        services:
          relay:
            command: [python3, {RELAY}, --port, "{port}", --pid-file, {pid_file}{flags}]
            env: {{BACK_ADDR: "{{{{ mock.address }}}}"}}
            address: 127.0.0.1:{port}
            startup-timeout: 20s
        {extra}
        """,
    )
    return pid_file


ISOLATION = "\n---\n".join(
    f"""
name: "passed: answer {n} comes from this scenario's own session"
stubs:
  - service: relay.Back
    method: Lookup
    input: {{equals: {{text: same question}}}}
    output: {{data: {{text: "answer {n}"}}}}
steps:
  - call: relay.Front/Ask
    target: relay
    request: {{text: same question}}
    expect:
      response:
        text: "answer {n}"
        session: "{{{{ session.id }}}}"
        mock_address: "{{{{ mock.address }}}}"
verify:
  - call: relay.Back/Lookup
    times: 1
    with: {{text: same question}}
  - unmatched: 0
"""
    for n in range(40)
)


def test_many_scenarios_in_parallel_through_one_service_stay_isolated(
    relay_project: Project,
) -> None:
    pid_file = write_config(relay_project, port=free_port())
    relay_project.write("scenarios/isolation.yaml", ISOLATION)
    for attempt in range(2):  # twice: a second run starts a fresh service
        result = relay_project.run_subprocess("scenarios", "--workers", "20")
        assert result.code == 0, result.output
        assert len(result.outcomes) == 40
        assert_outcomes_as_named(result)
        pid = int(pid_file.read_text())
        assert not alive(pid), f"run {attempt}: the service was left running"
    log = (relay_project.root / "reports" / "service-relay.log").read_text()
    assert "relay: serving on" in log


@pytest.mark.parametrize("local_socket", ["", "0"], ids=["local-socket", "tcp-only"])
def test_the_mock_address_reaches_the_service_as_an_environment_variable(
    relay_project: Project, local_socket: str
) -> None:
    """The runner's own calls reach the mock through its local socket (unless
    SCENARIO_RUN_LOCAL_SOCKET=0); the service and templates see its TCP address."""
    port = free_port()
    relay_project.write(
        "scenario-run.yaml",
        f"""
        services:
          relay:
            command: "python3 {RELAY} --port {port}"
            address: 127.0.0.1:{port}
            ready: port
        """,
    )
    relay_project.write(
        "scenarios/env.yaml",
        """
        name: "passed: the service calls the mock at SCENARIO_RUN_MOCK_ADDRESS"
        stubs:
          - service: relay.Back
            method: Lookup
            output: {data: {text: from the mock}}
        steps:
          - call: relay.Front/Ask
            target: relay
            expect:
              response: {text: from the mock, mock_address: "{{ mock.address }}"}
          - call: relay.Back/Lookup
            expect:
              response: {text: from the mock}
        verify:
          - call: relay.Back/Lookup
            times: 2
        """,
    )
    result = relay_project.run_subprocess(
        "scenarios",
        "--mock-listen",
        f"127.0.0.1:{free_port()}",
        env={"SCENARIO_RUN_LOCAL_SOCKET": local_socket},
    )
    assert result.code == 0, result.output
    assert_outcomes_as_named(result)


def test_a_service_that_exits_at_start_stops_the_run_with_its_last_lines(
    relay_project: Project,
) -> None:
    write_config(relay_project, port=free_port(), flags=", --fail-at-start, '3'")
    relay_project.write("scenarios/any.yaml", ISOLATION.split("\n---\n")[0])
    result = relay_project.run_subprocess("scenarios")
    assert result.code == 2, result.output
    assert "service relay did not come up: service relay exited with code 3" in result.stderr
    assert "relay: cannot start: the configuration is broken" in result.stderr
    assert "scenario-run.yaml:2:3" in result.stderr  # where the service is declared
    assert result.outcomes == {"run could not start": "error"}


def test_a_service_that_never_listens_times_out_naming_the_check(relay_project: Project) -> None:
    relay_project.write(
        "scenario-run.yaml",
        f"""
        services:
          silent:
            command: [python3, -c, "import time; print('silent: up', flush=True); time.sleep(60)"]
            address: 127.0.0.1:{free_port()}
            startup-timeout: 1s
            stop-timeout: 1s
        """,
    )
    # `target: silent`: a scenario naming a target nobody declares would not even load
    relay_project.write(
        "scenarios/any.yaml",
        ISOLATION.split("\n---\n")[0].replace("target: relay", "target: silent"),
    )
    started = time.monotonic()
    result = relay_project.run_subprocess("scenarios")
    assert result.code == 2, result.output
    assert "service silent did not come up within 1s (port check at" in result.stderr
    assert "silent: up" in result.stderr
    assert time.monotonic() - started < 15


def test_a_service_that_dies_mid_run_errors_the_scenarios_that_use_it(
    relay_project: Project,
) -> None:
    write_config(relay_project, port=free_port())
    relay_project.write(
        "scenarios/dies.yaml",
        """
        name: "error: the call that kills the service"
        steps:
          - call: relay.Front/Ask
            target: relay
            request: {exit_code: 3}
        ---
        name: "error: a later scenario that uses the dead service"
        parallel: false
        steps:
          - call: relay.Front/Ask
            target: relay
        ---
        name: "passed: a later scenario that only uses the mock"
        parallel: false
        stubs:
          - service: relay.Back
            method: Lookup
            output: {data: {text: still here}}
        steps:
          - call: relay.Back/Lookup
            expect: {response: {text: still here}}
        """,
    )
    started = time.monotonic()
    result = relay_project.run_subprocess("scenarios", timeout=60)
    assert time.monotonic() - started < 30, "a dead service must not make the run hang"
    assert result.code == 1, result.output
    assert_outcomes_as_named(result)
    for name in (
        "error: the call that kills the service",
        "error: a later scenario that uses the dead service",
    ):
        problem = result.problem(name)
        assert "service relay exited with code 3" in problem, problem
        assert "relay: exiting with code 3 as asked" in problem, problem
    notices = [line for line in result.stdout.splitlines() if line.startswith("scenario-run:")]
    assert notices == [
        "scenario-run: service relay exited with code 3; last lines of reports/service-relay.log:"
    ], result.stdout  # said once, as it happened


def test_readiness_by_grpc_health(relay_project: Project) -> None:
    port = free_port()
    write_config(relay_project, port=port, flags=", --health")
    config = relay_project.root / "scenario-run.yaml"
    config.write_text(
        config.read_text().replace("startup-timeout", "ready: health\n    startup-timeout")
    )
    relay_project.write("scenarios/one.yaml", ISOLATION.split("\n---\n")[0])
    result = relay_project.run_subprocess("scenarios")
    assert result.code == 0, result.output


def test_a_taken_mock_port_is_exit_2_with_a_clear_message(relay_project: Project) -> None:
    # no services here: the scenario calls the mock (an undeclared target would not load)
    relay_project.write(
        "scenarios/one.yaml", ISOLATION.split("\n---\n")[0].replace("target: relay", "target: mock")
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = relay_project.run_subprocess("scenarios", "--mock-listen", f"127.0.0.1:{port}")
    assert result.code == 2, result.output
    assert f"the mock cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Address already in use" in result.stderr
    assert "add_port.cc" not in result.stderr  # gRPC's own log line stays out of it


@pytest.fixture
def running_cli(relay_project: Project) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A run whose only scenario waits long, with the service up (its pid file written)."""
    pid_file = write_config(relay_project, port=free_port())
    relay_project.write(
        "scenarios/slow.yaml",
        """
        name: waits
        stubs:
          - service: relay.Back
            method: Lookup
            output: {data: {text: late}, delay: 30s}
        steps:
          - call: relay.Front/Ask
            target: relay
        """,
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "scenario_runner.cli", "scenarios"],
        cwd=relay_project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the service is up and the scenario is waiting on it
        yield process, pid_file
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_its_services_and_writes_the_report(
    running_cli: tuple[subprocess.Popen[str], Path],
    relay_project: Project,
    sig: signal.Signals,
) -> None:
    process, pid_file = running_cli
    pid = int(pid_file.read_text())
    assert alive(pid)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the service outlived the interrupted run"
    report = relay_project.root / "reports" / "junit.xml"
    check_report(report.read_bytes(), relay_project.validate)
