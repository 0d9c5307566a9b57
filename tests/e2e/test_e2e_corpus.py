"""The bad-input corpus (``corpus/*.yaml``) through the real CLI: every malformed input gives
exactly one clear message with ``file:line:column`` and the document path, never a
traceback; the other scenarios still run; the JUnit report stays valid (SPEC §3, §8)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import Project, RunResult

CORPUS = Path(__file__).parent / "corpus"
SCENARIO_CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "scenarios.yaml").read_text())
RUN_CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "runs.yaml").read_text())
FOLDER = "scenarios/corpus"
# A line that starts an error message: `file:line:column: ...` (snippet lines are indented).
HEADLINE = re.compile(
    r"^(?:scenario-run: (?:error: )?)?(?:--stubs: (?:a stub left out: )?)?\S[^\n]*?:\d+:\d+: ", re.M
)

GOOD = """
name: good scenario runs
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: "Hello {{ request.name }}"}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: alice}
    expect: {response: {message: Hello alice}}
"""


def test_the_corpus_is_large_enough() -> None:
    ids = [case["id"] for case in SCENARIO_CASES + RUN_CASES]
    assert len(ids) == len(set(ids)), "case ids are unique"
    assert len(ids) >= 60


def _write_case(project: Project, case: dict[str, Any]) -> None:
    target = project.root / FOLDER / f"{case['id']}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if "stub_file" in case:
        stub = project.root / FOLDER / "_stubs" / f"{case['id']}.yaml"
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(case["stub_file"], encoding="utf-8")
        target.write_text(
            f"name: {case['id']}\nstubs:\n  - file: _stubs/{case['id']}.yaml\n", encoding="utf-8"
        )
    elif "hex" in case:
        target.write_bytes(bytes.fromhex(case["hex"]))
    elif "generate" in case:
        _generate(target, case["generate"])
    else:
        target.write_text(case["text"], encoding="utf-8")


def _generate(target: Path, kind: str) -> None:
    if kind == "huge":
        with target.open("wb") as handle:  # 50 MiB, sparse: refused before it is read
            handle.write(b"name: file-huge\n")
            handle.seek(50 * 1024 * 1024 - 1)
            handle.write(b"\n")
    elif kind == "deep":
        depth = 150
        target.write_text(f"name: file-deeply-nested\nvars: {{x: {'[' * depth}{']' * depth}}}\n")
    elif kind == "billion-laughs":
        lines = ["name: file-billion-laughs", "vars:"]
        lines.append('  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
        lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
        target.write_text("\n".join(lines) + "\n")
    else:  # pragma: no cover - a typo in the corpus
        raise AssertionError(f"unknown generator {kind!r}")


@pytest.fixture(scope="module")
def corpus_project(module_project: Project) -> Project:
    for case in SCENARIO_CASES:
        _write_case(module_project, case)
    module_project.write("scenarios/good.yaml", GOOD)
    return module_project


@pytest.fixture(scope="module")
def corpus_run(corpus_project: Project) -> RunResult:
    return corpus_project.run("scenarios")


@pytest.fixture(scope="module")
def corpus_validate(corpus_project: Project) -> RunResult:
    return corpus_project.run("validate", "scenarios", junit=None)


def _headline(case: dict[str, Any]) -> str:
    where = f"{FOLDER}/{case['at']}"
    path = f"{case['path']}: " if case.get("path") else ""
    return f"{where}: {path}"


def test_the_run_reports_every_case_and_still_runs_the_rest(corpus_run: RunResult) -> None:
    assert corpus_run.code == 1
    outcomes = corpus_run.outcomes
    assert outcomes.pop("good scenario runs") == "passed"
    expected = {_case_name(case) for case in SCENARIO_CASES}
    assert set(outcomes) == expected
    assert set(outcomes.values()) == {"error"}


def _case_name(case: dict[str, Any]) -> str:
    """The test case's name: the scenario's, or the file's when the problem is with the whole
    file (no document path) or the name itself (``case`` says so)."""
    if "case" in case:
        return str(case["case"])
    return case["id"] if "stub_file" in case or case.get("path") else f"{case['id']}.yaml"


@pytest.mark.parametrize("case", SCENARIO_CASES, ids=[c["id"] for c in SCENARIO_CASES])
def test_each_case_is_one_clear_message_at_its_place(
    case: dict[str, Any], corpus_run: RunResult, corpus_validate: RunResult
) -> None:
    problem = corpus_run.problem(_case_name(case))
    message_attribute, _, text = problem.partition("\n")
    headline = _headline(case)
    assert message_attribute.startswith(headline), f"{message_attribute!r} at {headline!r}"
    assert case["message"] in message_attribute, message_attribute
    assert len(HEADLINE.findall(text)) == 1, f"exactly one message:\n{text}"
    if case.get("when") != "run":
        found = [line for line in corpus_validate.stderr.splitlines() if line.startswith(headline)]
        assert len(found) == 1 and case["message"] in found[0], corpus_validate.stderr


def test_validate_counts_every_case(corpus_validate: RunResult) -> None:
    assert corpus_validate.code == 1
    at_load = [case for case in SCENARIO_CASES if case.get("when") != "run"]
    valid = 1 + len(SCENARIO_CASES) - len(at_load)  # the good one, and those found running
    assert f"{valid} valid, {len(at_load)} invalid scenario(s)" in corpus_validate.stdout


# -- runs that use options, config files, protos ------------------------------------------------


def _prepare_run(project: Project, case: dict[str, Any]) -> list[str]:
    project.write("scenarios/good.yaml", GOOD)
    args: list[str] = list(case.get("args", []))
    if "config" in case:
        (project.root / "scenario-run.yaml").write_text(case["config"], encoding="utf-8")
    if "config_hex" in case:
        (project.root / "scenario-run.yaml").write_bytes(bytes.fromhex(case["config_hex"]))
    for kind, option in (("protos", "--protos"), ("stubs", "--stubs")):
        if kind in case:
            folder = project.root / f"corpus-{kind}"
            for name, text in case[kind].items():
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(text, str):
                    path.write_text(text, encoding="utf-8")
                else:
                    path.write_bytes(bytes.fromhex(text["hex"]))
            if kind == "protos" and all(name.endswith(".pb") for name in case[kind]):
                args += [arg for name in case[kind] for arg in (option, f"corpus-{kind}/{name}")]
            else:
                args += [option, f"corpus-{kind}"]
            if kind == "protos":
                args += ["--protos", "protos"]
    if "vars_file" in case:
        (project.root / "vars.yaml").write_text(case["vars_file"], encoding="utf-8")
        args += ["--vars-file", "vars.yaml"]
    return args


@pytest.mark.parametrize("case", RUN_CASES, ids=[c["id"] for c in RUN_CASES])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_each_run_case_is_one_clear_message(
    case: dict[str, Any], command: str, project: Project
) -> None:
    args = _prepare_run(project, case)
    if command == "validate":
        result = project.run("validate", "scenarios", *args, junit=None)
        expected_code = case.get("validate_exit", case["exit"])
    else:
        result = project.run("scenarios", *args)
        expected_code = case["exit"]
    assert result.code == expected_code, result.output
    where = f"{case['at']}: " if case.get("at") else ""
    path = f"{case['path']}: " if case.get("path") else ""
    # errors go to stderr; a run's notices (a --stubs stub left out) go with its progress
    lines = [line for line in result.output.splitlines() if case["message"] in line]
    assert len(lines) == 1, result.output
    assert f"{where}{path}{case['message']}" in lines[0], lines[0]
    if re.search(r":\d+:\d+$", case.get("at", "")):
        assert len(HEADLINE.findall(result.output)) == 1, result.output
    if command == "run":
        outcomes = result.outcomes
        if expected_code == 2:  # the run could not start: one errored case says why
            assert outcomes == {"run could not start": "error"}
            assert case["message"] in result.problem("run could not start")
        else:
            assert outcomes == {"good scenario runs": "passed"}


# -- what a run will know: targets and --var names ----------------------------------------------

USES_NAMES = """
name: calls orders with a region
steps:
  - call: helloworld.Greeter/SayHello
    target: orders
    request: {name: "{{ region }}"}
"""


@pytest.mark.parametrize(
    ("setup", "args", "problem"),
    [
        ("", [], "steps[0].target: unknown target 'orders'"),
        ("", ["--target", "orders=127.0.0.1:1"], "'region' is undefined here"),
        ("targets: {orders: 'localhost:1'}\n", ["--var", "region=eu"], None),
        ("vars: {region: eu}\n", ["--target", "orders=grpcs://orders.internal:443"], None),
        (
            "services:\n  orders: {command: [x], address: '127.0.0.1:1'}\n",
            ["--vars-file", "vars.yaml"],
            None,
        ),
    ],
)
def test_validate_knows_the_targets_and_names_a_run_will_have(
    project: Project, setup: str, args: list[str], problem: str | None
) -> None:
    project.write("scenarios/names.yaml", USES_NAMES)
    project.write("scenario-run.yaml", setup or "{}\n")
    project.write("vars.yaml", "region: eu\n")
    result = project.run("validate", "scenarios", *args, junit=None)
    if problem is None:
        assert result.code == 0, result.output
        assert "1 valid, 0 invalid scenario(s)" in result.stdout
    else:
        assert result.code == 1
        assert "scenarios/names.yaml:" in result.stderr and problem in result.stderr
