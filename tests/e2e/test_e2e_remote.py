"""Runs against a running ``scenario-run serve`` (``--remote/--admin``), end to end.

The same scenario files pass embedded and remote, with the same log; runners sharing one
server stay isolated; sessions are deleted at the end; a server that dies mid-run errors
the remaining scenarios instead of hanging.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from e2e_support import REPO, Project, RunResult, assert_outcomes_as_named
from serve_support import Served, serving

EXAMPLE_SCENARIOS = REPO / "scenarios"


@pytest.fixture
def served(project: Project) -> Served:
    with serving(project.root, "--protos", str(project.root / "protos")) as server:
        yield server  # type: ignore[misc]


def remote_args(server: Served) -> list[str]:
    return ["--remote", server.grpc, "--admin", server.http]


def kinds(log: str) -> list[str]:
    """The event kinds of a system-out log, in order."""
    return re.findall(r"^\s*\[\+\s*[\d.]+s\] #\d+ (\S+)", log, re.MULTILINE)


def test_the_projects_own_scenarios_pass_embedded_and_remote_with_the_same_log(
    project: Project, served: Served
) -> None:
    shutil.rmtree(project.root / "scenarios")
    shutil.copytree(EXAMPLE_SCENARIOS, project.root / "scenarios")
    embedded = project.run("scenarios")
    remote = project.run("scenarios", *remote_args(served))
    assert embedded.code == 0, embedded.output
    assert remote.code == 0, remote.output
    assert remote.outcomes == embedded.outcomes
    for name in embedded.outcomes:
        assert kinds(embedded.system_out(name)), name
        assert kinds(remote.system_out(name)) == kinds(embedded.system_out(name)), name
    sessions = httpx.get(f"{served.http}/api/sessions", timeout=10).json()["sessions"]
    assert sessions == [], "every session of the run is deleted at its end"


ISOLATION = "\n---\n".join(
    f"""
name: "passed: {{{{ runner }}}} answer {n}"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: same}}}}
    output: {{data: {{message: "{{{{ runner }}}}-{n}"}}, delay: 20ms}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: same}}
    expect: {{response: {{message: "{{{{ runner }}}}-{n}"}}}}
verify:
  - call: helloworld.Greeter/SayHello
    times: 1
  - unmatched: 0
"""
    for n in range(30)
)


def test_two_runners_on_one_server_at_once_stay_isolated(project: Project, served: Served) -> None:
    project.write("scenarios/isolation.yaml", ISOLATION.replace("{{ runner }}", "R"))
    results: dict[str, RunResult] = {}

    def run(name: str) -> None:
        results[name] = project.run_subprocess(
            "scenarios",
            "--var",
            f"runner={name}",
            "--junit-xml",
            f"reports/{name}.xml",
            *remote_args(served),
            junit=f"reports/{name}.xml",
        )

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for name, result in results.items():
        assert result.code == 0, f"{name}: {result.output}"
        assert len(result.outcomes) == 30
        assert_outcomes_as_named(result)


def test_sessions_db_keeps_the_merged_log_of_a_remote_run(project: Project, served: Served) -> None:
    project.write(
        "scenarios/kept.yaml",
        """
        name: kept
        session: {id: kept-session, ttl: 30s}
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            output: {data: {message: "hi {{ request.name }}"}}
        steps:
          - call: helloworld.Greeter/SayHello
            request: {name: ann}
            save: {greeting: response.message}
        verify:
          - call: helloworld.Greeter/SayHello
            times: 1
        """,
    )
    run = project.run("scenarios", "--sessions-db", "kept.db", *remote_args(served))
    assert run.code == 0, run.output
    shown = project.run("sessions", "show", "kept-session", "--sessions-db", "kept.db", junit=None)
    assert shown.code == 0, shown.output
    assert kinds(shown.stdout) == [
        "stub_added",
        "mock_call",
        "client_call",
        "state_saved",
        "verification",
    ]
    assert "greeting: 'hi ann'" in shown.stdout
    assert httpx.get(f"{served.http}/api/sessions", timeout=10).json()["sessions"] == []


def test_a_server_that_dies_mid_run_errors_the_remaining_scenarios(project: Project) -> None:
    slow = "\n---\n".join(
        f"""
name: slow {n}
parallel: false
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {{data: {{message: hi}}, delay: 300ms}}
steps:
  - call: helloworld.Greeter/SayHello
    timeout: 5s
"""
        for n in range(20)
    )
    project.write("scenarios/slow.yaml", slow)
    with serving(project.root, "--protos", str(project.root / "protos")) as server:
        runner = subprocess.Popen(
            [sys.executable, "-m", "scenario_runner.cli", "scenarios", *remote_args(server)],
            cwd=project.root,
            env={"PYTHONPATH": str(REPO), "CI": "true", "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # a few scenarios have passed
        server.stop(signal.SIGKILL)
        out, err = runner.communicate(timeout=60)
    assert runner.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert "passed" in out and "errored" in out
    report = Path(project.root / "reports" / "junit.xml").read_bytes()
    project.validate(report)
    assert b"does not answer" in report or b"UNAVAILABLE" in report


def test_a_scenarios_session_ttl_reaches_the_server(project: Project, served: Served) -> None:
    project.write(
        "scenarios/ttl.yaml",
        """
        name: waits with its own ttl
        session: {id: "ttl-{{ scenario.slug }}", ttl: 42s}
        stubs:
          - service: helloworld.Greeter
            method: SayHello
            output: {data: {message: late}, delay: 1500ms}
        steps:
          - call: helloworld.Greeter/SayHello
        """,
    )
    seen: list[object] = []

    def watch() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen:
            reply = httpx.get(f"{served.http}/api/sessions/ttl-waits-with-its-own-ttl", timeout=5)
            if reply.status_code == 200:
                seen.append(reply.json()["ttl"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = project.run("scenarios", *remote_args(served))
    watcher.join()
    assert result.code == 0, result.output
    assert seen == [42]
