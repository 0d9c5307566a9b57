"""Options: command line over scenario-run.yaml over defaults; the config file's checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenario_runner.config import Options, build_options, read_config_file
from scenario_runner.errors import ConfigError
from scenario_runner.runner.targets import Target, TlsSettings


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario-run.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_defaults_when_nothing_is_given() -> None:
    options = build_options({})
    assert options.paths == (Path("scenarios"),)
    assert options.protos == (Path("protos"),)
    assert options.junit_xml == Path("reports/junit.xml")
    assert options.workers == Options().workers
    assert options.verbosity == 0
    assert options.mock_listen == "127.0.0.1:0"
    assert options.services == ()


def test_config_file_values_apply_and_the_command_line_wins(tmp_path: Path) -> None:
    config_file = write_config(
        tmp_path,
        "protos: [api]\nworkers: 4\njunit-xml: out/j.xml\ntag: [smoke]\n"
        "vars: {user: alice, count: 3}\ntargets: {orders: 'localhost:1'}\nfail-fast: true\n",
    )
    config = read_config_file(config_file)
    options = build_options({"workers": 8, "vars": ["user=bob"]}, config)
    assert options.protos == (Path("api"),)
    assert options.workers == 8
    assert options.junit_xml == Path("out/j.xml")
    assert options.tags == ("smoke",)
    assert options.vars == {"user": "bob", "count": 3}
    assert options.targets["orders"].address == "localhost:1"
    assert options.targets["orders"].tls is None
    assert options.fail_fast is True


def test_underscored_keys_are_the_same_options(tmp_path: Path) -> None:
    config = read_config_file(write_config(tmp_path, "junit_xml: a.xml\nmock_listen: ':5'\n"))
    options = build_options({}, config)
    assert options.junit_xml == Path("a.xml")
    assert options.mock_listen == "127.0.0.1:5"


def test_vars_file_is_read_and_var_overrides_it(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("user: carol\nlimit: 10\n")
    options = build_options({"vars_file": str(vars_file), "vars": ["limit=5"]})
    assert options.vars == {"user": "carol", "limit": "5"}


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"vars": ["novalue"]}, "--var expects KEY=VALUE"),
        ({"targets": ["=x"]}, "--target expects KEY=VALUE"),
        ({"targets": ["orders=nowhere"]}, "expected HOST:PORT or grpcs://HOST:PORT"),
        ({"targets": ["mock=localhost:1"]}, "'mock' is the embedded mock's own name"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"vars_file": "/nonexistent/vars.yaml"}, "--vars-file: cannot read"),
        ({"mock_listen": "localhost"}, "--mock-listen expects HOST:PORT"),
        ({"mock_listen": "localhost:99999"}, "--mock-listen expects HOST:PORT"),
    ],
)
def test_bad_options_are_config_errors(cli: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_options(cli)


def test_unknown_key_in_config_file_names_it_where_it_is(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "protos: [p]\nwrokers: 3\n")
    with pytest.raises(ConfigError) as caught:
        read_config_file(config_file)
    error = caught.value
    assert "unknown key 'wrokers'; did you mean 'workers'?" in error.message
    assert error.location is not None and (error.location.line, error.location.column) == (2, 1)
    assert "> 2 | wrokers: 3" in str(error)


def test_missing_config_file_is_empty(tmp_path: Path) -> None:
    config = read_config_file(tmp_path / "scenario-run.yaml")
    assert config.settings == {}
    assert build_options({}, config) == build_options({})


def test_services_are_read_with_their_defaults_and_paths_from_the_config_folder(
    tmp_path: Path,
) -> None:
    config = read_config_file(
        write_config(
            tmp_path,
            """
            services:
              pricing:
                command: [python3, pricing.py, 7]
                cwd: services/pricing
                env: {CATALOG_ADDR: "{{ mock.address }}", PORT: 50071, DEBUG: true}
                address: 127.0.0.1:50071
                ready: health
                startup-timeout: 20s
                tls: {ca: certs/ca.pem, server-name: pricing.local}
              worker:
                command: ./worker --once
            """,
        )
    )
    options = build_options({}, config)
    pricing, worker = options.services
    assert pricing.name == "pricing"
    assert pricing.command == ("python3", "pricing.py", "7")
    assert pricing.cwd == tmp_path / "services/pricing"
    assert pricing.env == {"CATALOG_ADDR": "{{ mock.address }}", "PORT": "50071", "DEBUG": "true"}
    assert (pricing.ready, pricing.startup_timeout, pricing.stop_timeout) == ("health", 20.0, 5.0)
    assert pricing.tls == TlsSettings(ca=tmp_path / "certs/ca.pem", server_name="pricing.local")
    assert pricing.where is not None and pricing.where.line == 2
    assert options.targets["pricing"] == Target(
        "pricing", "127.0.0.1:50071", pricing.tls, pricing.where
    )
    assert worker.command == "./worker --once"
    assert (worker.address, worker.ready, worker.cwd) == (None, "none", tmp_path)
    assert "worker" not in options.targets


def test_a_command_line_target_keeps_the_tls_settings_of_the_config(tmp_path: Path) -> None:
    config = read_config_file(
        write_config(
            tmp_path,
            """
            targets:
              secure: {address: "localhost:1", tls: {ca: ca.pem, cert: c.pem, key: k.pem}}
              public: grpcs://example.com:443
            """,
        )
    )
    options = build_options({"targets": ["secure=staging:2"]}, config)
    assert options.targets["secure"].address == "staging:2"
    assert options.targets["secure"].tls == TlsSettings(
        tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    )
    assert options.targets["public"].tls == TlsSettings()
    assert options.targets["public"].url == "grpcs://example.com:443"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("services:\n  a:\n    cwd: x\n", "missing required key 'command'", 2),
        ("services:\n  a:\n    command: x\n    ready: tcp\n", "'tcp' is not allowed here", 4),
        ("services:\n  a:\n    command: x\n    comand: y\n", "did you mean 'command'?", 4),
        ("services:\n  a b:\n    command: x\n", "is not a valid value", 2),
        ("services:\n  a:\n    command: x\n    address: nowhere\n", "HOST:PORT", 4),
        ("services:\n  a:\n    command: x\n    startup-timeout: soon\n", "expected 250ms", 4),
        ("services:\n  a:\n    command: x\n    tls: {cert: c.pem}\n", "'key' is required", 4),
        ("services:\n  a:\n    command: x\n    ready: port\n", "needs the `address`", 2),
        (
            "targets: {a: x:1}\nservices:\n  a: {command: x, address: 'h:1'}\n",
            "name of a target",
            3,
        ),
        ("services:\n  a:\n    command: x\n    env: {A=B: x}\n", "cannot hold '='", 4),
        ("services:\n  a:\n    command: x\n    env:\n      '': x\n", "needs a name", 5),
        ('services:\n  a:\n    command: x\n    env:\n      A: "x\\0"\n', "NUL", 5),
        ("mock-listen: 5\n", "expected string", 1),
        ("workers: [1]\n", "expected integer", 1),
        ("- a\n", "expected object", 1),
        ("protos: [a\n", "invalid YAML", 2),
    ],
)
def test_config_mistakes_say_what_and_where(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        build_options({}, read_config_file(path))
    error = caught.value
    assert message in str(error)
    assert error.location is not None and error.location.file == str(path)
    assert error.location.line == line, str(error)


def test_a_command_line_plaintext_target_drops_the_configs_tls(tmp_path: Path) -> None:
    config = read_config_file(
        write_config(tmp_path, "targets:\n  a: {address: 'h:1', tls: {ca: ca.pem}}\n")
    )
    assert build_options({"targets": ["a=grpcs://h:2"]}, config).targets["a"].tls == TlsSettings(
        tmp_path / "ca.pem"
    )
    assert build_options({"targets": ["a=grpc://h:2"]}, config).targets["a"].tls is None
