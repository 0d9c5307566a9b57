"""The command line (SPEC §2) and the JUnit report (SPEC §8), end to end."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from e2e_support import Project, RunResult
from jsonschema import Draft202012Validator

from scenario_runner.sessions import SqliteSessionService

SELECTION = """
name: greeter says hello
tags: [smoke, greeter]
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: hi}}
---
name: greeter is slow
tags: [slow, greeter]
---
name: orders are placed
tags: [orders]
---
name: books are listed
---
name: a known user is greeted
tags: [smoke]
"""

PASSING = """
name: passes
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: hi}}
"""

FAILING = """
name: fails
steps:
  - call: helloworld.Greeter/SayHello
    expect: {status: OK}
"""


def names_listed(result: RunResult) -> list[str]:
    return [line.split("::", 1)[1].split("  [")[0] for line in result.stdout.splitlines()]


# -- selection -------------------------------------------------------------------------


@pytest.fixture
def selection(project: Project) -> Project:
    project.write("scenarios/select.yaml", SELECTION)
    return project


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-k", "greeter"], ["greeter says hello", "greeter is slow"]),
        (["-k", "greeter and not slow"], ["greeter says hello"]),
        (["-k", "ORDERS or books"], ["orders are placed", "books are listed"]),
        (["-k", "not (greeter or orders)"], ["books are listed", "a known user is greeted"]),
        (["-k", "known user"], ["a known user is greeted"]),
        (["-k", "select"], []),  # names only: the file name is not part of the expression
        (["--tag", "smoke"], ["greeter says hello", "a known user is greeted"]),
        (
            ["--tag", "smoke", "--tag", "orders"],
            ["greeter says hello", "orders are placed", "a known user is greeted"],
        ),
        (
            ["--skip-tag", "greeter"],
            ["orders are placed", "books are listed", "a known user is greeted"],
        ),
        (["--tag", "greeter", "--skip-tag", "slow"], ["greeter says hello"]),
    ],
)
def test_list_honours_k_and_tags(selection: Project, args: list[str], expected: list[str]) -> None:
    result = selection.run("list", *args, junit=None)
    assert result.code == 0, result.output
    assert names_listed(result) == expected


def test_shards_are_disjoint_and_cover_everything(selection: Project) -> None:
    everything = names_listed(selection.run("list", junit=None))
    assert len(everything) == 5
    for count in (1, 2, 3, 5, 7):
        parts = [
            names_listed(selection.run("list", "--shard", f"{k}/{count}", junit=None))
            for k in range(1, count + 1)
        ]
        flat = [name for part in parts for name in part]
        assert sorted(flat) == sorted(everything), count
        assert len(set(flat)) == len(flat), count
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_run_takes_only_the_selected_scenarios(selection: Project) -> None:
    result = selection.run("-k", "says hello")
    assert result.code == 0
    assert result.outcomes == {"greeter says hello": "passed"}
    result = selection.run("--shard", "2/2")
    assert list(result.outcomes) == ["greeter is slow", "books are listed"]


def test_no_scenario_selected_exits_2_with_a_valid_report(selection: Project) -> None:
    result = selection.run("-k", "nothing matches this")
    assert result.code == 2
    assert "no scenario selected" in result.stderr
    assert result.junit is not None  # the report is always written, and valid


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["--shard", "3/2"],
        ["--shard", "x"],
        ["--workers", "0"],
        ["--workers", "many"],
        ["-k", "greeter and"],
        ["-k", "(greeter"],
        ["--var", "no-equals-sign"],
        ["--target", "no-address"],
        ["--vars-file", "missing.yaml"],
        ["scenarios/does-not-exist.yaml"],
        ["--protos", "no-such-protos"],
        ["--stubs", "no-such-dir"],
    ],
)
def test_bad_options_exit_2_without_a_traceback(selection: Project, args: list[str]) -> None:
    result = selection.run(*args)
    assert result.code == 2, result.output
    assert "scenario-run: error:" in result.stderr


def test_a_bad_config_file_exits_2(selection: Project) -> None:
    selection.write("scenario-run.yaml", "workers: [1\n")
    result = selection.run()
    assert result.code == 2 and "scenario-run.yaml:" in result.stderr
    selection.write("scenario-run.yaml", "wrokers: 3\n")
    result = selection.run()
    assert result.code == 2 and "wrokers" in result.stderr


def test_the_config_file_sets_run_options(selection: Project) -> None:
    selection.write("scenario-run.yaml", "k: says hello\njunit_xml: out/report.xml\n")
    result = selection.run(junit="out/report.xml")
    assert result.code == 0
    assert result.outcomes == {"greeter says hello": "passed"}


# -- exit codes, protos, validate, schema ------------------------------------------------


def test_exit_0_when_everything_passes_or_is_skipped(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING + "---\nname: skipped\nskip: later\n")
    result = project.run()
    assert result.code == 0
    assert result.outcomes == {"passes": "passed", "skipped": "skipped"}
    assert "1 passed, 0 failed, 0 errored, 1 skipped in" in result.stdout


def test_exit_1_when_a_scenario_fails(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    project.write("scenarios/ko.yaml", FAILING)
    result = project.run()
    assert result.code == 1
    assert result.outcomes == {"fails": "failure", "passes": "passed"}
    assert "1 passed, 1 failed, 0 errored, 0 skipped in" in result.stdout


def test_protos_that_do_not_compile_exit_2_with_protocs_message(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    project.write(
        "protos/broken/broken.proto", 'syntax = "proto3";\nmessage X {\n  int32 a = 1\n}\n'
    )
    for command in ([], ["validate"], ["list"]):
        result = project.run(*command, junit="reports/junit.xml" if not command else None)
        assert result.code == 2, command
        assert re.search(r"protos/broken/broken\.proto:4:1: Expected \";\"", result.stderr), (
            result.stderr
        )


def test_validate_exit_codes(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    result = project.run("validate", junit=None)
    assert result.code == 0, result.output
    assert "1 valid, 0 invalid" in result.stdout
    project.write("scenarios/bad.yaml", "name: bad\nsteps:\n  - call: helloworld.Greeter/Nope\n")
    result = project.run("validate", junit=None)
    assert result.code == 1
    assert "scenarios/bad.yaml:3:11: steps[0].call:" in result.stderr
    assert not (project.root / "reports").exists()  # validate starts no server, writes no report


def test_validate_checks_global_stub_files(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    project.write("global/bad.yaml", "service: helloworld.Greeter\nmethod: Nope\n")
    result = project.run("validate", "--stubs", "global", junit=None)
    assert result.code == 1  # an invalid file, as a run would leave that stub out
    assert "--stubs: global/bad.yaml:2:9: method: service helloworld.Greeter has no method" in (
        result.stderr
    )
    assert "1 valid, 0 invalid scenario(s) in 1 file(s), 1 invalid --stubs stub(s)" in (
        result.stdout
    )


def test_schema_prints_a_valid_json_schema_that_accepts_the_examples(project: Project) -> None:
    result = project.run("schema", junit=None)
    assert result.code == 0
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    import yaml

    examples = sorted((Path(__file__).resolve().parents[2] / "scenarios").rglob("*.yaml"))
    scenario_files = [p for p in examples if not any(part.startswith("_") for part in p.parts)]
    assert scenario_files
    for path in scenario_files:
        for document in yaml.safe_load_all(path.read_text()):
            errors = list(validator.iter_errors(document))
            assert not errors, (path, errors[0].message)


# -- broken files, report shape ------------------------------------------------------------


def test_a_broken_yaml_file_is_one_errored_case_in_its_own_suite(project: Project) -> None:
    project.write("scenarios/a_good.yaml", PASSING)
    project.write("scenarios/b_broken.yaml", "name: broken\nsteps: [\n  - call: x\n")
    project.write("scenarios/c_good.yaml", PASSING.replace("name: passes", "name: passes too"))
    project.write("scenarios/d_empty.yaml", "# nothing here\n")
    project.write("scenarios/e_not_a_mapping.yaml", "- just\n- a list\n")
    result = project.run()
    assert result.code == 1
    assert result.outcomes == {
        "passes": "passed",
        "b_broken.yaml": "error",
        "passes too": "passed",
        "d_empty.yaml": "error",
        "e_not_a_mapping.yaml": "error",
    }
    assert result.junit is not None
    root = ET.fromstring(result.junit)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    broken = suites["scenarios.b_broken"]
    assert [c.get("name") for c in broken.findall("testcase")] == ["b_broken.yaml"]
    assert "scenarios/b_broken.yaml:3:3" in result.problem("b_broken.yaml")


def test_duplicate_names_in_a_file_are_errors(project: Project) -> None:
    project.write("scenarios/dup.yaml", PASSING + "---\n" + PASSING.lstrip())
    result = project.run()
    assert result.code == 1
    assert [(c.get("name"), c.find("error") is not None) for c in result.cases] == [
        ("passes", True),
        ("passes", True),
    ]
    for case in result.cases:
        error = case.find("error")
        assert error is not None and "duplicate scenario name 'passes'" in (error.text or "")


def test_fragments_are_never_run_and_multi_document_files_are(project: Project) -> None:
    project.write("scenarios/_fragment.yaml", "name: fragment\nsteps: [{call: nope}]\n")
    project.write("scenarios/_shared/more.yaml", "name: also a fragment\n")
    project.write(
        "scenarios/multi.yml", "---\nname: one\n---\nname: two\n---\n---\nname: three\n---\n"
    )
    result = project.run()
    assert result.code == 0
    assert list(result.outcomes) == ["one", "two", "three"]
    assert {c.get("classname") for c in result.cases} == {"scenarios.multi"}


def test_classname_and_stable_order(project: Project) -> None:
    project.write("scenarios/greeter/say_hello.yaml", PASSING + "---\nname: second\n")
    project.write("scenarios/a.yaml", "name: z last name first file\n---\nname: a\n")
    project.write("scenarios/greeter/z.yaml", "name: zz\n")
    first = project.run("--workers", "1")
    second = project.run("--workers", "16")
    expected = [
        ("scenarios.a", "z last name first file"),
        ("scenarios.a", "a"),
        ("scenarios.greeter.say_hello", "passes"),
        ("scenarios.greeter.say_hello", "second"),
        ("scenarios.greeter.z", "zz"),
    ]
    for result in (first, second):
        assert [(c.get("classname"), c.get("name")) for c in result.cases] == expected


def test_junit_xml_option_and_forbidden_characters(project: Project) -> None:
    project.write(
        "scenarios/odd.yaml",
        'name: "control \\x01 chars & <xml>"\nsteps:\n  - call: helloworld.Greeter/SayHello\n'
        '    request: {name: "\\x02\\x1b"}\n',
    )
    result = project.run("--junit-xml", "out/custom.xml", junit="out/custom.xml")
    assert result.code == 1
    assert result.junit is not None and b"\x01" not in result.junit
    assert list(result.outcomes.values()) == ["failure"]


# -- fail-fast, parallel: false ------------------------------------------------------------


def test_fail_fast_stops_after_the_first_failure(project: Project) -> None:
    project.write(
        "scenarios/ff.yaml",
        FAILING + "---\n" + PASSING.lstrip() + "---\n" + FAILING.replace("fails", "fails too"),
    )
    result = project.run("--fail-fast", "--workers", "1")
    assert result.code == 1
    assert result.outcomes == {"fails": "failure", "passes": "skipped", "fails too": "skipped"}
    result = project.run("--workers", "1")
    assert result.outcomes == {"fails": "failure", "passes": "passed", "fails too": "failure"}


def test_parallel_false_runs_alone_after_the_parallel_ones(project: Project) -> None:
    slow = """
name: {name}
parallel: {parallel}
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {{data: {{message: hi}}, delay: 150ms}}
steps:
  - call: helloworld.Greeter/SayHello
"""
    docs = [
        slow.format(name="serial one", parallel="false"),
        slow.format(name="parallel one", parallel="true"),
        slow.format(name="serial two", parallel="false"),
        slow.format(name="parallel two", parallel="true"),
    ]
    project.write("scenarios/p.yaml", "---".join(docs))
    result = project.run("--sessions-db", "s.db")
    assert result.code == 0
    spans = _session_spans(project.root / "s.db")
    by_name = {name.rsplit("-", 1)[0]: span for name, span in spans.items()}
    parallel_end = max(by_name["parallel-one"][1], by_name["parallel-two"][1])
    serial = sorted([by_name["serial-one"], by_name["serial-two"]])
    assert serial[0][0] >= parallel_end
    assert serial[1][0] >= serial[0][1]  # alone: one after the other
    # the two parallel ones overlapped
    assert by_name["parallel-two"][0] < by_name["parallel-one"][1]


def _session_spans(db: Path) -> dict[str, tuple[float, float]]:
    async def read() -> dict[str, tuple[float, float]]:
        service = SqliteSessionService(db)
        try:
            spans = {}
            for listed in await service.list("scenario-run", "default"):
                session = await service.get("scenario-run", "default", listed.id)
                stamps = [event.timestamp for event in session.events]
                spans[session.id] = (min(stamps), max(stamps))
            return spans
        finally:
            service.close()

    return asyncio.run(read())


# -- targets ----------------------------------------------------------------------------------


def _hello_reply(message: str) -> bytes:
    data = message.encode()
    return b"\x0a" + bytes([len(data)]) + data


@pytest.fixture
def target() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A tiny system under test: SayHello answers with the x-mock-session it received."""
    seen: list[dict[str, str]] = []

    def say_hello(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        seen.append(metadata)
        return _hello_reply(f"sut saw {metadata.get('x-mock-session', 'nothing')}")

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            if details.method == "/helloworld.Greeter/SayHello":
                return grpc.unary_unary_rpc_method_handler(say_hello)
            return None

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", seen
    finally:
        server.stop(None)


def test_target_name_and_session_metadata_reach_the_target(
    project: Project, target: tuple[str, list[dict[str, str]]]
) -> None:
    address, seen = target
    project.write(
        "scenarios/t.yaml",
        """
        name: calls the system under test
        session: {id: "sut-{{ scenario.slug }}"}
        steps:
          - call: helloworld.Greeter/SayHello
            target: sut
            metadata: {x-tenant: acme}
            expect: {response: {message: "sut saw {{ session.id }}"}}
          - call: helloworld.Greeter/SayHello
            target: "ADDRESS"
            expect: {response: {message: {$regex: "^sut saw sut-"}}}
        """.replace("ADDRESS", address),
    )
    result = project.run("--target", f"sut={address}")
    assert result.code == 0, result.problem("calls the system under test")
    assert len(seen) == 2
    assert seen[0]["x-mock-session"] == "sut-calls-the-system-under-test"
    assert seen[0]["x-tenant"] == "acme"


# -- subprocess: real exit codes, no traceback -------------------------------------------------


def test_subprocess_exit_codes(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    done = project.run_subprocess()
    assert done.code == 0, done.output
    assert done.outcomes == {"passes": "passed"}
    project.write("scenarios/ko.yaml", FAILING)
    done = project.run_subprocess()
    assert done.code == 1
    done = project.run_subprocess("--shard", "0/3")
    assert done.code == 2 and "--shard" in done.stderr
    done = project.run_subprocess("list", junit=None)
    assert done.code == 0 and "scenarios/ok.yaml::passes" in done.stdout


def test_sessions_db_keeps_every_session(project: Project) -> None:
    project.write("scenarios/ok.yaml", PASSING)
    result = project.run("--sessions-db", "kept.db")
    assert result.code == 0
    with sqlite3.connect(project.root / "kept.db") as connection:
        assert connection.execute("select count(*) from sqlite_master").fetchone()[0] > 0
    assert len(_session_spans(project.root / "kept.db")) == 1
