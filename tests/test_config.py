"""Options: command line over scenario-run.yaml over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_runner.config import Options, build_options, read_config_file
from scenario_runner.errors import ConfigError


def test_defaults_when_nothing_is_given() -> None:
    options = build_options({}, {})
    assert options.paths == (Path("scenarios"),)
    assert options.protos == (Path("protos"),)
    assert options.junit_xml == Path("reports/junit.xml")
    assert options.workers == Options().workers
    assert options.verbosity == 0


def test_config_file_values_apply_and_the_command_line_wins(tmp_path: Path) -> None:
    config_file = tmp_path / "scenario-run.yaml"
    config_file.write_text(
        "protos: [api]\nworkers: 4\njunit-xml: out/j.xml\ntag: [smoke]\n"
        "vars: {user: alice, count: 3}\ntargets: {orders: 'localhost:1'}\nfail-fast: true\n"
    )
    config = read_config_file(config_file)
    options = build_options({"workers": 8, "vars": ["user=bob"]}, config)
    assert options.protos == (Path("api"),)
    assert options.workers == 8
    assert options.junit_xml == Path("out/j.xml")
    assert options.tags == ("smoke",)
    assert options.vars == {"user": "bob", "count": 3}
    assert options.targets == {"orders": "localhost:1"}
    assert options.fail_fast is True


def test_vars_file_is_read_and_var_overrides_it(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("user: carol\nlimit: 10\n")
    options = build_options({"vars_file": str(vars_file), "vars": ["limit=5"]}, {})
    assert options.vars == {"user": "carol", "limit": "5"}


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"vars": ["novalue"]}, "--var expects KEY=VALUE"),
        ({"targets": ["=x"]}, "--target expects KEY=VALUE"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"vars_file": "/nonexistent/vars.yaml"}, "--vars-file: cannot read"),
    ],
)
def test_bad_options_are_config_errors(cli: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_options(cli, {})


def test_unknown_key_in_config_file_names_it(tmp_path: Path) -> None:
    config_file = tmp_path / "scenario-run.yaml"
    config_file.write_text("wrokers: 3\n")
    with pytest.raises(ConfigError, match="unknown option 'wrokers'"):
        read_config_file(config_file)


def test_missing_config_file_is_empty(tmp_path: Path) -> None:
    assert read_config_file(tmp_path / "scenario-run.yaml") == {}
