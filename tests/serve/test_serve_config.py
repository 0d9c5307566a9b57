"""`scenario-run serve` reads the project's scenario-run.yaml: its `serve:` section and the
protos, import paths and stubs a run uses; the command line wins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import PROTOS, run_serve, serving

from scenario_runner.config import build_options, read_config_file
from scenario_runner.errors import ConfigError
from scenario_runner.serve.options import TOKEN_ENV, parse_options


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    yield tmp_path


def test_without_a_config_file_the_defaults_hold(project: Path) -> None:
    options = parse_options([])
    assert (options.grpc.show(), options.http.show()) == ("127.0.0.1:4770", "127.0.0.1:4771")
    assert options.protos == (Path("protos"),) and options.stubs == ()
    assert (options.session_ttl, options.store, options.workers) == (60.0, "memory", 1)
    assert options.reuse_port is False


def test_the_serve_section_and_the_shared_keys_are_read(project: Path) -> None:
    (project / "scenario-run.yaml").write_text(
        "protos: [api]\n"
        "import-paths: third_party\n"
        "stubs: [mocks]\n"
        "serve:\n"
        "  grpc: 127.0.0.1:5770\n"
        "  http: 127.0.0.1:5771\n"
        "  session_ttl: 90\n"
        "  store: sqlite:///sessions.db\n"
        "  workers: 2\n"
        "  reuse-port: true\n"
    )
    options = parse_options([])
    assert (options.grpc.port, options.http.port) == (5770, 5771)
    assert options.protos == (Path("api"),) and options.import_paths == (Path("third_party"),)
    assert options.stubs == (Path("mocks"),)
    assert (options.session_ttl, options.workers) == (90.0, 2)
    assert options.store == "sqlite:///sessions.db"
    assert options.reuse_port is True


def test_the_command_line_wins_over_the_file(project: Path) -> None:
    (project / "scenario-run.yaml").write_text(
        "protos: api\nserve: {grpc: '127.0.0.1:5770', session-ttl: 90s, store: memory}\n"
    )
    options = parse_options(["--grpc", "127.0.0.1:6770", "--session-ttl", "0", "--protos", "p"])
    assert options.grpc.port == 6770 and options.session_ttl == 0.0
    assert options.protos == (Path("p"),) and options.store == "memory"


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("serve:\n  grpc: 4770\n", 2, "serve.grpc"),
        ("serve:\n  store: redis://x\n", 2, "serve.store"),
        ("serve:\n  admin-token: secret\n", 2, "admin-token"),
        ("serve:\n  workers: 2\n", None, "--workers N needs a store the processes share"),
        ("serve:\n  http: 0.0.0.0:4771\n", None, "needs --admin-token"),
    ],
)
def test_a_bad_serve_section_is_a_config_error(
    project: Path, section: str, line: int | None, expected: str
) -> None:
    (project / "scenario-run.yaml").write_text(section)
    with pytest.raises(ConfigError) as caught:
        parse_options([])
    assert expected in str(caught.value)
    if line is not None:
        assert caught.value.location is not None
        assert (caught.value.location.file, caught.value.location.line) == (
            "scenario-run.yaml",
            line,
        )


def test_serve_started_in_a_project_folder_serves_the_stubs_its_file_names(tmp_path: Path) -> None:
    (tmp_path / "mocks").mkdir()
    (tmp_path / "mocks" / "greeting.yaml").write_text(
        "- id: from-the-file\n  service: helloworld.Greeter\n  method: SayHello\n"
        "  output: {data: {message: hi}}\n"
    )
    (tmp_path / "scenario-run.yaml").write_text(
        f"protos: [{PROTOS}]\nstubs: [mocks]\nserve: {{session-ttl: 5s}}\n"
    )
    # The ports come from the command line (any free one); everything else from the file.
    with serving(tmp_path) as served, httpx.Client(base_url=served.http, timeout=10) as http:
        stubs = http.get("/api/stubs").json()
        assert [s["id"] for s in stubs] == ["from-the-file"]


def test_a_bad_file_stops_serve_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "scenario-run.yaml").write_text("serve:\n  workers: many\n")
    done = run_serve(tmp_path, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0")
    assert done.returncode == 2
    assert "scenario-run.yaml:2" in done.stderr and "Traceback" not in done.stderr


def test_a_run_reads_the_same_file_and_leaves_the_serve_section_alone(project: Path) -> None:
    (project / "scenario-run.yaml").write_text("protos: [api]\nserve: {store: memory}\n")
    options = build_options({}, read_config_file(project / "scenario-run.yaml"))
    assert options.protos == (Path("api"),)
