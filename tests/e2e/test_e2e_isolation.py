"""SPEC §5: two sessions never see each other's stubs or history, under any load.

120 scenarios in 6 files register a stub for the SAME request, each with its own answer, and
call it several times at once (``--workers 64``). Every scenario must get its own answers, and
the SQLite session store must show that every ``mock_call`` of every session carries that
session's own ``x-mock-session`` metadata and matched that session's own stub.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Project, RunResult

from scenario_runner.sessions import SqliteSessionService

FILES = 6
PER_FILE = 20
CALLS = 4

SCENARIO = """
name: isolated {index}
vars: {{own: "answer-{index}"}}
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: same}}}}
    output:
      data: {{message: "{{{{ own }}}} #{{{{ attempt }}}} {{{{ headers['x-mock-session'] }}}}"}}
      delay: 5ms
steps:
{steps}
verify:
  - call: helloworld.Greeter/SayHello
    times: {calls}
    with: {{name: same}}
  - unmatched: 0
  - stubs: all_used
"""

STEP = """  - call: helloworld.Greeter/SayHello
    request: {{name: same}}
    expect:
      response: {{message: "answer-{index} #{attempt} {{{{ session.id }}}}"}}
"""


def _scenario(index: int) -> str:
    steps = "".join(STEP.format(index=index, attempt=a) for a in range(1, CALLS + 1))
    return SCENARIO.format(index=index, steps=steps, calls=CALLS)


@pytest.fixture(scope="module")
def run(module_project: Project) -> RunResult:
    for f in range(FILES):
        docs = [_scenario(f * PER_FILE + i) for i in range(PER_FILE)]
        module_project.write(f"scenarios/load/file_{f}.yaml", "---".join(docs))
    return module_project.run("--workers", "64", "--sessions-db", "sessions.db", "-q")


def _read_sessions(db: Path) -> list[Any]:
    async def read() -> list[Any]:
        service = SqliteSessionService(db)
        try:
            listed = await service.list("scenario-run", "default")
            return [await service.get("scenario-run", "default", s.id) for s in listed]
        finally:
            service.close()

    return asyncio.run(read())


def test_every_scenario_gets_its_own_answers(run: RunResult) -> None:
    assert run.code == 0, run.output
    assert len(run.outcomes) == FILES * PER_FILE
    assert set(run.outcomes.values()) == {"passed"}


def test_no_call_landed_in_another_session(run: RunResult, module_project: Project) -> None:
    sessions = _read_sessions(module_project.root / "sessions.db")
    assert len(sessions) == FILES * PER_FILE
    own_stub_ids: set[str] = set()
    for session in sessions:
        added = [e for e in session.events if e.kind == "stub_added"]
        calls = [e for e in session.events if e.kind == "mock_call"]
        assert len(added) == 1, session.id
        stub_id = added[0].data["stub_id"]
        assert stub_id not in own_stub_ids  # every session registered a stub of its own
        own_stub_ids.add(stub_id)
        assert len(calls) == CALLS, session.id
        own = session.state["own"]
        for attempt, call in enumerate(calls, start=1):
            assert call.data["metadata"]["x-mock-session"] == session.id
            assert call.data["stub_id"] == stub_id
            assert call.data["response"]["message"] == f"{own} #{attempt} {session.id}"
        sequences = [e.sequence for e in session.events]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_sessions_show_prints_state_and_event_log(run: RunResult, module_project: Project) -> None:
    sessions = _read_sessions(module_project.root / "sessions.db")
    chosen = sessions[0]
    result = module_project.run(
        "sessions", "show", chosen.id, "--sessions-db", "sessions.db", junit=None
    )
    assert result.code == 0, result.output
    assert f"session {chosen.id}" in result.stdout
    assert f"own: {chosen.state['own']!r}" in result.stdout
    assert "stub_added" in result.stdout
    assert result.stdout.count("mock_call helloworld.Greeter/SayHello") == CALLS
    assert "client_call" in result.stdout and "verification" in result.stdout
    missing = module_project.run(
        "sessions", "show", "no-such-session", "--sessions-db", "sessions.db", junit=None
    )
    assert missing.code != 0 and "no-such-session" in missing.stderr
