"""Large suites run over forked worker processes; the report is the same as in one process."""

from __future__ import annotations

import re

from e2e_support import Project, RunResult, outcome_of

SCENARIO = """
name: "{outcome}: scenario {i}"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    input: {{equals: {{name: user-{i}}}}}
    output: {{data: {{message: "Hello {i}"}}}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: user-{i}}}
    expect: {{response: {{message: "Hello {expected}"}}}}
verify:
  - call: helloworld.Greeter/SayHello
    times: 1
"""

SERIAL = """
name: "passed: runs alone after the others"
parallel: false
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: alone}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: alone}}
"""


def _write_suite(project: Project, count: int, failing: set[int]) -> dict[str, str]:
    expected = {}
    for i in range(count):
        outcome = "failure" if i in failing else "passed"
        wanted = "nobody" if i in failing else i
        project.write(
            f"scenarios/s{i:03d}.yaml", SCENARIO.format(i=i, outcome=outcome, expected=wanted)
        )
        expected[f"{outcome}: scenario {i}"] = outcome
    project.write("scenarios/zz_serial.yaml", SERIAL)
    expected["passed: runs alone after the others"] = "passed"
    return expected


def test_two_processes_report_every_scenario_in_file_order(project: Project) -> None:
    expected = _write_suite(project, 24, failing={5, 17})
    done = project.run_subprocess(env={"SCENARIO_RUN_PROCESSES": "2"})
    assert done.code == 1, done.output
    assert done.outcomes == expected
    names = [case.get("name") for case in done.cases]
    assert names == list(expected), "report order must be the file order"
    assert "23 passed, 2 failed, 0 errored, 0 skipped" in done.stdout


def test_fail_fast_stops_every_process(project: Project) -> None:
    _write_suite(project, 40, failing={0})
    done = project.run_subprocess(
        "--fail-fast", "--workers", "1", env={"SCENARIO_RUN_PROCESSES": "2"}
    )
    assert done.code == 1
    outcomes = list(done.outcomes.values())
    assert outcomes.count("failure") == 1
    assert outcomes.count("skipped") > 0, "scenarios not yet started must not run"
    assert len(outcomes) == 41


def test_selection_and_broken_files_work_across_processes(project: Project) -> None:
    _write_suite(project, 12, failing=set())
    project.write("scenarios/broken.yaml", "name: [unclosed\n")
    env = {"SCENARIO_RUN_PROCESSES": "2"}
    chosen = project.run_subprocess("-k", "scenario 1 or alone", env=env)
    assert set(chosen.outcomes) == {
        "passed: scenario 1",
        "passed: scenario 10",
        "passed: scenario 11",
        "passed: runs alone after the others",
        "broken.yaml",
    }
    assert chosen.outcomes["broken.yaml"] == "error"
    shards = [project.run_subprocess("--shard", f"{k}/3", env=env).outcomes for k in (1, 2, 3)]
    names = [name for shard in shards for name in shard]
    assert len(names) == len(set(names)) == 14, "shards are disjoint and cover everything"
    single = project.run_subprocess("--shard", "2/3", env={"SCENARIO_RUN_PROCESSES": "1"})
    assert single.outcomes == shards[1], "the same shard whatever the number of processes"


def _one_file(count: int, failing: set[int], extra: str = "") -> tuple[str, dict[str, str]]:
    documents, expected = [], {}
    for i in range(count):
        outcome = "failure" if i in failing else "passed"
        wanted = "nobody" if i in failing else i
        documents.append(SCENARIO.format(i=i, outcome=outcome, expected=wanted))
        expected[f"{outcome}: scenario {i}"] = outcome
    documents.insert(count // 3, SERIAL)
    expected["passed: runs alone after the others"] = "passed"
    return "---".join(documents) + extra, expected


def _report(result: RunResult) -> list[tuple[str | None, ...]]:
    """What the report says of each case, less its times."""
    rows = []
    for case in result.cases:
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        message = None if problem is None else problem.get("message")
        rows.append((case.get("classname"), case.get("name"), case.get("file"), message))
    return rows


def test_one_file_of_many_documents_is_shared_by_two_processes(project: Project) -> None:
    text, expected = _one_file(40, failing={3, 33})
    project.write("scenarios/all.yaml", text)
    two = project.run_subprocess("-v", env={"SCENARIO_RUN_PROCESSES": "2", "PYTHONUNBUFFERED": "1"})
    one = project.run_subprocess(env={"SCENARIO_RUN_PROCESSES": "1"})
    assert two.code == one.code == 1, two.output
    assert two.outcomes == expected
    assert [c.get("name") for c in two.cases] == [c.get("name") for c in one.cases]
    assert _report(two) == _report(one), "the same report, in the same order"
    assert "39 passed, 2 failed, 0 errored, 0 skipped" in two.stdout


def test_a_problem_only_the_whole_file_shows_is_reported_as_in_one_process(
    project: Project,
) -> None:
    text, _ = _one_file(30, failing=set())
    # Two documents of one name far apart (in different pieces), and a YAML error at the end.
    project.write("scenarios/dupes.yaml", text.replace("scenario 28", "scenario 1"))
    project.write("scenarios/unclosed.yaml", _one_file(30, set(), "---\nname: [unclosed\n")[0])
    env = {"SCENARIO_RUN_PROCESSES": "2"}
    two = project.run_subprocess(env=env)
    one = project.run_subprocess(env={"SCENARIO_RUN_PROCESSES": "1"})
    assert _report(two) == _report(one)
    assert two.outcomes["unclosed.yaml"] == "error", "a YAML error breaks the whole file"
    dupes = [c for c in two.cases if c.get("name") == "passed: scenario 1"]
    assert len(dupes) == 2 and all(outcome_of(c) == "error" for c in dupes), two.outcomes


LENDING = """
name: "scenario {i}"
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {{data: {{message: "{{{{ mock.address }}}}"}}, delay: {delay}}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {{name: user-{i}}}
"""


def test_a_process_out_of_work_runs_what_is_left_of_anothers_share(project: Project) -> None:
    # The first half is quick, the second slow: its process would finish long after the
    # first, which helps with the last part of its share instead. Which process ran a
    # scenario shows in its log: each has its own mock, at its own address.
    count = 48
    documents = [
        LENDING.format(i=i, delay="0ms" if i < count // 2 else "150ms") for i in range(count)
    ]
    project.write("scenarios/all.yaml", "---".join(documents))
    done = project.run_subprocess("--workers", "2", env={"SCENARIO_RUN_PROCESSES": "2"})
    assert done.code == 0, done.output
    names = [case.get("name") for case in done.cases]
    assert names == [f"scenario {i}" for i in range(count)], "each once, in file order"
    address = {}
    for i in range(count):
        found = re.search(r'response={"message": "([^"]+)"}', done.system_out(f"scenario {i}"))
        assert found is not None, done.system_out(f"scenario {i}")
        address[i] = found.group(1)
    quick, slow = address[0], address[count // 2]
    assert quick != slow, "two processes, two mocks"
    assert {address[i] for i in range(count // 2)} == {quick}
    helped = [i for i in range(count // 2, count) if address[i] == quick]
    assert helped, f"the quick process ran none of the slow share's scenarios: {address}"
    assert helped == list(range(count - len(helped), count)), "what it took is the share's end"
