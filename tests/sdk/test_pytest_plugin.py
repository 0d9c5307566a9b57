"""The pytest plugin: the example test file of examples/sdk, run by pytest as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sdk"


def run_pytest(*args: str, cwd: Path = EXAMPLE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_example_passes_with_the_embedded_mock() -> None:
    done = run_pytest()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_the_example_passes_on_four_xdist_workers() -> None:
    done = run_pytest("-n", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_settings_come_from_the_ini_file_and_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nscenario_run_protos = {REPO / 'nowhere'}\n")
    (tmp_path / "test_one.py").write_text(
        "def test_greets(mock_server):\n"
        "    mock_server.stub('Greeter', 'SayHello').reply(data={'message': 'hi'}).commit()\n"
        "    assert mock_server.call('helloworld.Greeter/SayHello') == {'message': 'hi'}\n"
        "    assert mock_server.session.startswith('test-one-py-test-greets-')\n"
    )
    wrong = run_pytest(cwd=tmp_path)
    assert wrong.returncode != 0
    assert "scenario-run mock_server: protos do not compile" in wrong.stdout, wrong.stdout
    assert "nowhere" in wrong.stdout
    right = run_pytest("--scenario-run-protos", str(REPO / "protos"), cwd=tmp_path)
    assert right.returncode == 0, right.stdout + right.stderr


def test_the_sdk_is_typed_for_its_users() -> None:
    """A user's test file type-checks with mypy --strict against the installed package."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(EXAMPLE / "test_greeter.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
