"""Load with faults: 200 scenarios at once, a fifth of them each kind of trouble, ten runs in a
row, embedded and remote. Every mock call lands in exactly one session's history, no stub
answers a foreign session, and memory comes back to where it was."""

from __future__ import annotations

import asyncio
import gc
import socket
from pathlib import Path

import httpx
import pytest
from e2e_support import Project, assert_outcomes_as_named
from serve_support import Served, serving

from scenario_runner.mock.hub import APP_NAME
from scenario_runner.sessions import SqliteSessionService

SCENARIOS = 200
RUNS = 10


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scenario(n: int, down: int) -> str:
    kind = n % 5
    if kind == 0:
        return f"""
name: "passed: {n} gets its own answer to the request everyone sends"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: everyone}}}}
    output: {{data: {{message: "answer {n}"}}}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: everyone}}
    expect: {{response: {{message: "answer {n}"}}}}
verify:
  - {{call: helloworld.Greeter/SayHello, times: 1}}
"""
    if kind == 1:
        return f"""
name: "passed: {n} finds no stub"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: someone else}}}}
    output: {{data: {{message: "not for {n}"}}}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: everyone}}
    expect: {{status: NOT_FOUND}}
verify:
  - unmatched: 1
"""
    if kind == 2:
        return f"""
name: "passed: {n} is answered with an error"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {{error: "busy {n}", code: RESOURCE_EXHAUSTED}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: everyone}}
    expect: {{status: RESOURCE_EXHAUSTED, message: "busy {n}"}}
"""
    if kind == 3:
        return f"""
name: "error: {n} is cut by its deadline in the middle of a stream"
stubs:
  - service: bookstore.v1.Catalog
    method: ListBooks
    output: {{stream: [{{title: a}}, {{title: b}}, {{title: c}}], delay: 150ms}}
steps:
  - call: bookstore.v1.Catalog/ListBooks
    timeout: 250ms
    expect: {{responses: [{{title: a}}, {{title: b}}, {{title: c}}]}}
"""
    return f"""
name: "error: {n} calls a target that is down"
steps:
  - call: helloworld.Greeter/SayHello
    target: 127.0.0.1:{down}
"""


# How many calls each kind makes to the mock: the target that is down gets the only one.
MOCK_CALLS = {0: 1, 1: 1, 2: 1, 3: 1, 4: 0}


def write_suite(project: Project) -> None:
    down = closed_port()
    documents = [scenario(n, down) for n in range(SCENARIOS)]
    project.write("scenarios/load.yaml", "\n---\n".join(documents))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status to read memory from")


def pid_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def check_histories(db: Path) -> None:
    """Each kept session holds exactly its own calls, answered by its own stubs."""

    async def read() -> None:
        service = SqliteSessionService(db)
        try:
            sessions = await service.list(APP_NAME)
            assert len(sessions) == SCENARIOS
            for listed in sessions:
                session = await service.get(APP_NAME, listed.user_id, listed.id)
                result = next(e for e in session.events if e.kind == "scenario_result")
                n = int(str(result.data["name"]).split(": ", 1)[1].split()[0])
                calls = [e for e in session.events if e.kind == "mock_call"]
                assert len(calls) == MOCK_CALLS[n % 5], (session.id, calls)
                own = {e.data["stub_id"] for e in session.events if e.kind == "stub_added"}
                for call in calls:
                    assert call.data["metadata"]["x-mock-session"] == session.id
                    assert call.data["stub_id"] is None or call.data["stub_id"] in own
        finally:
            service.close()

    asyncio.run(read())


def test_load_with_faults_embedded(project: Project) -> None:
    write_suite(project)
    sizes = []
    for run in range(RUNS):
        args = ["scenarios", "--workers", str(SCENARIOS), "-q"]
        if run == 0:
            args += ["--sessions-db", "reports/load.db"]
        result = project.run(*args)
        assert len(result.outcomes) == SCENARIOS
        assert_outcomes_as_named(result)
        gc.collect()
        sizes.append(rss_mb())
    check_histories(project.root / "reports" / "load.db")
    growth = sizes[-1] - sizes[1]
    print(f"embedded RSS after each run (MB): {[round(x, 1) for x in sizes]}")
    assert growth < 40, f"memory grew by {growth:.1f} MB over {RUNS - 2} runs: {sizes}"


@pytest.fixture
def served(project: Project) -> Served:
    with serving(project.root, "--protos", str(project.root / "protos")) as server:
        yield server  # type: ignore[misc]


def test_load_with_faults_remote(project: Project, served: Served) -> None:
    write_suite(project)
    sizes = []
    for run in range(RUNS):
        args = ["scenarios", "--workers", "50", "-q"]
        args += ["--remote", served.grpc, "--admin", served.http]
        if run == 0:
            args += ["--sessions-db", "reports/load.db"]
        result = project.run(*args)
        assert len(result.outcomes) == SCENARIOS
        assert_outcomes_as_named(result)
        sizes.append(pid_rss_mb(served.process.pid))
    check_histories(project.root / "reports" / "load.db")
    assert httpx.get(f"{served.http}/api/sessions", timeout=10).json()["sessions"] == []
    growth = sizes[-1] - sizes[1]
    print(f"served RSS after each run (MB): {[round(x, 1) for x in sizes]}")
    assert growth < 40, f"the server grew by {growth:.1f} MB over {RUNS - 2} runs: {sizes}"
