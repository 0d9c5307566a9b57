"""Texts checked clean before are built without checking them again, into the same model;
anything else is checked as always."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario import loader as loader_module
from scenario_runner.scenario.loader import Loader, LoadResult, discover
from scenario_runner.scenario.model import Scenario
from scenario_runner.scenario.yamlsource import DocumentCache

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([REPO / "protos"])


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the documents the schema was asked about."""
    seen: list[str] = []
    real = loader_module.validate_scenario

    def counting(document: Any) -> Any:
        seen.append(str(document.value.get("name")))
        return real(document)

    monkeypatch.setattr(loader_module, "validate_scenario", counting)
    return seen


def model(scenario: Scenario) -> tuple[Any, ...]:
    """Everything a run reads of a scenario."""
    return (
        scenario.name,
        scenario.order,
        scenario.line,
        scenario.tags,
        scenario.skip,
        scenario.parallel,
        scenario.timeout,
        scenario.session_id,
        scenario.session_ttl,
        scenario.vars,
        [(s.raw, s.path, s.method.path, str(s.location)) for s in scenario.stubs],
        [
            (s.index, s.name, s.raw, s.method and s.method.path, s.retry, s.path)
            for s in scenario.steps
        ],
        [(v.index, v.raw, v.method and v.method.path, v.path) for v in scenario.verify],
    )


def load(registry: ProtoRegistry, root: Path, cache: Path, **options: Any) -> LoadResult:
    loader = Loader(registry, root=root, documents=DocumentCache(cache), **options)
    return loader.load(discover([root / "scenarios"]))


def test_the_bundled_scenarios_build_alike_checked_or_trusted(
    tmp_path: Path, registry: ProtoRegistry, checks: list[str]
) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    first = load(registry, root, tmp_path / "cache")
    assert first.scenarios and checks, "the first load checks everything"
    marked = list((tmp_path / "cache").glob("*.checked"))
    assert marked, "texts found valid are marked"
    checks.clear()
    again = load(registry, root, tmp_path / "cache")
    clean = [s.name for s in first.scenarios]
    assert not set(checks) & set(clean), "a text marked clean is not checked again"
    assert [model(s) for s in again.scenarios] == [model(s) for s in first.scenarios]
    assert [(b.name, b.errors) for b in again.broken] == [(b.name, b.errors) for b in first.broken]


DOC = """name: greets
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    request: {name: ann}
    expect: {response: {message: hi}}
"""


def test_other_option_names_or_protos_check_again(
    tmp_path: Path, registry: ProtoRegistry, checks: list[str]
) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "a.yaml").write_text(DOC)
    load(registry, tmp_path, tmp_path / "cache")
    load(registry, tmp_path, tmp_path / "cache")
    assert checks == ["greets"], "checked once"
    load(registry, tmp_path, tmp_path / "cache", option_vars=["region"])
    assert checks == ["greets", "greets"], "other names defined: checked again"
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "greet.proto").write_text(
        'syntax = "proto3";\npackage helloworld;\nmessage HelloRequest { string other = 1; }\n'
        "message HelloReply { string message = 1; }\n"
        "service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }\n"
    )
    changed = load(compile_protos([tmp_path / "p"]), tmp_path, tmp_path / "cache")
    assert checks == ["greets"] * 3, "other protos: checked again"
    assert [b.name for b in changed.broken] == ["greets"]
    assert "has no field 'name'" in str(changed.broken[0].errors[0])


def test_a_document_with_a_mistake_is_checked_every_time(
    tmp_path: Path, registry: ProtoRegistry, checks: list[str]
) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "a.yaml").write_text(DOC.replace("name: ann", "nmae: ann"))
    for _ in range(2):
        result = load(registry, tmp_path, tmp_path / "cache")
        assert [b.name for b in result.broken] == ["greets"]
    assert checks == ["greets", "greets"]
    assert not list((tmp_path / "cache").glob("*.checked"))
