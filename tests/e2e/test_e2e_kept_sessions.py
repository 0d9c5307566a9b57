"""``--sessions-db`` on a fresh checkout, and what ``sessions list`` / ``show`` tell of it."""

from __future__ import annotations

from e2e_support import Project

SCENARIOS = """
name: passes
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
---
name: errors
steps:
  - call: helloworld.Greeter/SayHello
    target: nowhere:1
---
name: fails
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: x}}
"""


def test_the_database_folder_is_made_and_every_outcome_is_kept(project: Project) -> None:
    project.write("scenarios/kept.yaml", SCENARIOS)
    run = project.run("scenarios", "--sessions-db", "reports/new/folder/sessions.db")
    assert run.code == 1, run.output
    assert (project.root / "reports/new/folder/sessions.db").is_file()
    listed = project.run(
        "sessions", "list", "--sessions-db", "reports/new/folder/sessions.db", junit=None
    )
    lines = sorted(line.split("  ", 2)[2] for line in listed.stdout.splitlines())
    assert lines == [
        "ERRORED  scenarios/kept.yaml:9  errors",
        "FAILED   scenarios/kept.yaml:14  fails",
        "PASSED   scenarios/kept.yaml:1  passes",
    ]
    errored = next(line for line in listed.stdout.splitlines() if line.endswith("errors"))
    shown = project.run(
        "sessions",
        "show",
        errored.split()[0],
        "--sessions-db",
        "reports/new/folder/sessions.db",
        junit=None,
    )
    assert "scenario: scenarios/kept.yaml:9 errors" in shown.stdout
    assert "outcome: errored" in shown.stdout
    assert "why:" in shown.stdout and "UNAVAILABLE" in shown.stdout


def test_a_sessions_db_that_cannot_be_opened_is_exit_2_in_one_line(project: Project) -> None:
    project.write("scenarios/kept.yaml", SCENARIOS)
    (project.root / "blocker").write_text("a file where a folder should be")
    run = project.run("scenarios", "--sessions-db", "blocker/sessions.db")
    assert run.code == 2, run.output
    assert "--sessions-db blocker/sessions.db: cannot open it:" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.outcomes == {"run could not start": "error"}
