"""GripMock's own example projects, run unchanged through the real CLI.

Each project's stub folder is loaded with ``--stubs`` as GripMock ships it, its protos (or
descriptor set) with ``--protos``, and each of its test cases (``.gctf``) becomes one
scenario that makes the same calls and expects the same answers (``gctf.py``). At least 95
of every 100 cases must pass; the test prints every case that does not, and every
assertion line the converter could not translate.
"""

from __future__ import annotations

import contextlib
import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from gctf import convert

from scenario_runner import cli
from scenario_runner.protos import compile_protos

PROJECTS = Path(__file__).parent / "gripmock" / "projects"
REQUIRED_PASS_RATE = 0.95


def _protos(project: Path) -> list[Path]:
    sets = sorted(project.glob("*.pb"))
    return sets or [project]


def _run_project(project: Path, work: Path) -> tuple[dict[str, str], list[str], str]:
    """Outcome of every case of one project, untranslated assertions, and the CLI output."""
    protos = _protos(project)
    registry = compile_protos(protos)
    scenarios = work / "scenarios"
    untranslated: list[str] = []
    for case in sorted(project.rglob("*.gctf")):
        name = case.relative_to(PROJECTS).as_posix()
        converted = convert(name, case.read_text(encoding="utf-8"), registry)
        untranslated += [f"{name}: {line}" for line in converted.untranslated]
        target = scenarios / case.relative_to(project).with_suffix(".yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(converted.scenario, sort_keys=False), encoding="utf-8")
    args = ["scenarios", "--stubs", str(project), "--junit-xml", "junit.xml"]
    for path in protos:
        args += ["--protos", str(path)]
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main(args)
    finally:
        os.chdir(before)
    outcomes: dict[str, str] = {}
    root = ET.parse(work / "junit.xml").getroot()
    for case in root.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = f"{tag}: {element.get('message', '')}"
        outcomes[case.get("name", "")] = outcome
    return outcomes, untranslated, out.getvalue() + err.getvalue()


def test_gripmock_example_projects_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    projects = sorted(p for p in PROJECTS.iterdir() if p.is_dir())
    assert len(projects) >= 25, "the GripMock example projects are missing"
    total = passed = 0
    failures: list[str] = []
    untranslated: list[str] = []
    for project in projects:
        outcomes, dropped, output = _run_project(project, tmp_path / project.name)
        cases = sorted(p.relative_to(PROJECTS).as_posix() for p in project.rglob("*.gctf"))
        assert sorted(outcomes) == cases, output  # every case ran and was reported
        untranslated += dropped
        for name, outcome in sorted(outcomes.items()):
            total += 1
            if outcome == "passed":
                passed += 1
            else:
                failures.append(f"{name}: {outcome}")
    rate = passed / total
    with capsys.disabled():
        print(f"\nGripMock examples: {passed}/{total} cases passed ({rate:.1%})")
        for line in failures:
            print(f"  not passed: {line[:300]}")
        for line in untranslated:
            print(f"  assertion not translated: {line}")
    assert total >= 140
    assert rate >= REQUIRED_PASS_RATE, "\n".join(failures)
