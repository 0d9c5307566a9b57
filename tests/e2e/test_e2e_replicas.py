"""A remote run spread over replicas of one mock (PostgreSQL, SQLite): its gRPC calls go to
one ``serve`` process, its admin calls to another, and it passes as on one server; a third
replica killed mid-run stops nothing."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2e_support import REPO, Project
from serve_support import replicas, store_url

EXAMPLE_SCENARIOS = REPO / "scenarios"


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, request, tmp_path)


def test_the_projects_scenarios_pass_with_calls_and_admin_on_two_replicas(
    project: Project, store: str
) -> None:
    shutil.rmtree(project.root / "scenarios")
    shutil.copytree(EXAMPLE_SCENARIOS, project.root / "scenarios")
    protos = ("--protos", str(project.root / "protos"))
    with replicas(project.root, 3, store, *protos) as (calls, admin, third):
        run = project.run("scenarios", "--remote", calls.grpc, "--admin", admin.http)
        assert run.code == 0, run.output
        assert run.outcomes and set(run.outcomes.values()) == {"passed"}, run.outcomes
        for server in (calls, admin, third):
            listed = httpx.get(f"{server.http}/api/sessions", timeout=10).json()["sessions"]
            assert listed == [], f"{server.http} still has {listed}"


SLOW = "\n---\n".join(
    f"""
name: slow {n}
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: "n{n}"}}}}
    output: {{data: {{message: "hi {n}"}}, delay: 150ms}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: "n{n}"}}
    timeout: 5s
    expect: {{response: {{message: "hi {n}"}}}}
verify:
  - call: helloworld.Greeter/SayHello
    times: 1
"""
    for n in range(60)
)


def test_a_replica_killed_mid_run_stops_nothing(project: Project, store: str) -> None:
    project.write("scenarios/slow.yaml", SLOW)
    protos = ("--protos", str(project.root / "protos"))
    with replicas(project.root, 3, store, *protos) as (calls, admin, doomed):
        runner = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scenario_runner.cli",
                "scenarios",
                "--workers",
                "4",
                "--remote",
                calls.grpc,
                "--admin",
                admin.http,
            ],
            cwd=project.root,
            env={"PYTHONPATH": str(REPO), "CI": "true", "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            time.sleep(1.0)  # some scenarios have passed, others are running
            assert runner.poll() is None, "the run ended before the replica was killed"
            doomed.stop(signal.SIGKILL)
            out, err = runner.communicate(timeout=120)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
    assert runner.returncode == 0, out + err
    assert "60 passed" in out
