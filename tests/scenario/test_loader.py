"""Loading scenario files: discovery, documents, schema and semantic checks (no server)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenario_runner.errors import ConfigError, ScenarioFileError
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario.loader import Loader, LoadResult, discover
from scenario_runner.scenario.yamlsource import load_documents

PROTOS = Path(__file__).resolve().parents[2] / "protos"


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


def _load(tmp_path: Path, registry: ProtoRegistry, files: dict[str, str]) -> LoadResult:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    loader = Loader(registry, root=tmp_path)
    return loader.load(discover([tmp_path / "scenarios"]))


def _errors(result: LoadResult) -> dict[str, str]:
    return {b.name: "\n".join(str(e) for e in b.errors) for b in result.broken}


def test_discover_skips_fragments_and_sorts(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.yml", "_frag.yaml", "_dir/x.yaml", "sub/c.yaml", "notes.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name: x\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == ["a.yml", "b.yaml", "sub/c.yaml"]
    # a fragment named on the command line is taken: the user asked for it
    assert discover([tmp_path / "_frag.yaml"]) == [tmp_path / "_frag.yaml"]


def test_discover_walks_folders_as_rglob_does(tmp_path: Path) -> None:
    root = tmp_path / "suite"
    for name in ["a/b.yaml", "a.b/c.yaml", "a/_x/d.yaml", ".git/e.yaml", "z/Y.yml", "z/x.yaml"]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name: x\n")
    (root / "linked.yaml").symlink_to(root / "a" / "b.yaml")  # a link to a file is a file
    (root / "folder-link").symlink_to(root / "z", target_is_directory=True)  # not followed
    (root / "dangling.yaml").symlink_to(root / "missing.yaml")
    found = discover([root])
    expected = sorted(
        path
        for path in root.rglob("*")
        if path.suffix in (".yaml", ".yml")
        and path.is_file()
        and not any(p.startswith(("_", ".")) for p in path.relative_to(root).parts)
    )
    assert found == expected
    assert [p.relative_to(root).as_posix() for p in found] == [
        "a/b.yaml",
        "a.b/c.yaml",
        "linked.yaml",
        "z/Y.yml",
        "z/x.yaml",
    ]


def test_duplicate_names_make_every_copy_invalid(tmp_path: Path, registry: ProtoRegistry) -> None:
    result = _load(
        tmp_path,
        registry,
        {"scenarios/d.yaml": "name: same\n---\nname: other\n---\nname: same\n"},
    )
    assert [s.name for s in result.scenarios] == ["other"]
    assert [(b.name, b.line) for b in result.broken] == [("same", 1), ("same", 5)]
    messages = [str(b.errors[0]) for b in result.broken]
    assert "duplicate scenario name 'same' in this file (also on line 5)" in messages[0]
    assert "scenarios/d.yaml:5:7: name: duplicate" in messages[1]


def test_matcher_problems_are_load_errors(tmp_path: Path, registry: ProtoRegistry) -> None:
    result = _load(
        tmp_path,
        registry,
        {
            "scenarios/m.yaml": """
            name: bad matchers
            steps:
              - call: helloworld.Greeter/SayHello
                expect:
                  message: {$regex: "("}
                  response: {message: {$startsWith: x}}
                  headers: {x-a: {$len: -1}}
            verify:
              - call: helloworld.Greeter/SayHello
                with: {name: {$type: text}}
            ---
            name: templated operands are checked later
            vars: {n: 1}
            steps:
              - call: helloworld.Greeter/SayHello
                expect: {response: {message: {$len: "{{ n }}"}}}
            """
        },
    )
    assert [s.name for s in result.scenarios] == ["templated operands are checked later"]
    text = _errors(result)["bad matchers"]
    assert "steps[0].expect.message.$regex" in text
    assert "steps[0].expect.response.message.$startsWith: unknown matcher operator" in text
    assert "steps[0].expect.headers.x-a.$len" in text
    assert "verify[0].with.name.$type" in text


@pytest.mark.parametrize(
    ("save", "ok"),
    [
        ("response.items[0].name", True),
        ('headers["x-id"]', True),
        ("status", True),
        ("message", True),
        ("trailers.x", True),
        ("responses[-1]", True),
        ("body.x", False),
        ("response..x", False),
        ("response[x]", False),
        ("{{ 'response.' + 'message' }}", True),
    ],
)
def test_save_paths_are_checked(
    tmp_path: Path, registry: ProtoRegistry, save: str, ok: bool
) -> None:
    result = _load(
        tmp_path,
        registry,
        {
            "scenarios/s.yaml": f"""
            name: save
            steps:
              - call: helloworld.Greeter/SayHello
                save: {{x: {save!r}}}
            """
        },
    )
    assert bool(result.scenarios) is ok, _errors(result)
    if not ok:
        assert "steps[0].save.x: cannot save 'x'" in _errors(result)["save"]


def test_stub_files_relative_to_the_scenario_and_inside_the_root(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    result = _load(
        tmp_path,
        registry,
        {
            "scenarios/sub/_stubs/one.json": '{"service": "Greeter", "method": "SayHello"}',
            "scenarios/sub/a.yaml": """
            name: uses a stub file
            stubs: [{file: _stubs/one.json}]
            ---
            name: leaves the root
            stubs: [{file: ../../../elsewhere.yaml}]
            ---
            name: missing
            stubs: [{file: _stubs/none.yaml}]
            """,
        },
    )
    assert [s.name for s in result.scenarios] == ["uses a stub file"]
    assert result.scenarios[0].stubs[0].method.full_name == "helloworld.Greeter/SayHello"
    errors = _errors(result)
    assert "leaves the working directory" in errors["leaves the root"]
    assert "stub file not found: scenarios/sub/_stubs/none.yaml" in errors["missing"]


def test_missing_global_stub_folder_is_a_config_error(
    tmp_path: Path, registry: ProtoRegistry
) -> None:
    with pytest.raises(ConfigError, match="--stubs"):
        Loader(registry, root=tmp_path).load_stub_dir(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!python/object/apply:os.system ['true']", "unsupported YAML tag"),
        ("a: !!python/name:os.system", "could not determine a constructor"),
        ("a: !custom {x: 1}", "unsupported YAML tag '!custom'"),
        ("a: !!set {x: null}", "unsupported YAML tag"),
        ("a: 1\na: 2", "duplicate key 'a'"),
        ("a: [1", "invalid YAML"),
        ("? [a]\n: 1", "a mapping key must be a plain scalar"),
    ],
)
def test_only_plain_yaml_is_loaded(text: str, message: str) -> None:
    with pytest.raises(ScenarioFileError, match=message) as info:
        load_documents(text, "f.yaml")
    assert str(info.value).startswith("f.yaml:")


def test_plain_yaml_features_still_work() -> None:
    docs = load_documents(
        "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\nwhen: 2024-01-01\ntext: !!str 5\n---\n- 1\n",
        "f.yaml",
    )
    assert docs[0].value == {
        "base": {"x": 1},
        "merged": {"x": 1, "y": 2},
        "when": "2024-01-01",
        "text": "5",
    }
    assert docs[1].value == [1]
    assert docs[0].position(("merged", "y")) == (2, 21)
