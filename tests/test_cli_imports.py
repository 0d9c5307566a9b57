"""An embedded run never imports the libraries of ``scenario-run serve`` (cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVE_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic",
    "h11",
    "anyio",
    "psycopg",
    "psycopg_pool",
)
# `import grpc` itself imports these two (empty) packages; their services are serve's.
SERVE_ONLY_MODULES = ("grpc_reflection.v1alpha", "grpc_health.v1")

PROBE = """
import json, sys
from scenario_runner import cli
code = cli.main(sys.argv[1:])
loaded = sorted({name.split(".")[0] for name in sys.modules} | set(sys.modules))
print(json.dumps({"code": code, "loaded": loaded}))
"""


def loaded_by_a_run(cwd: Path, *args: str) -> set[str]:
    """The modules a run (in one process) imported, as the probe reports them."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCENARIO_RUN_PROCESSES": "1", "PYTHONPATH": str(REPO)},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stdout + done.stderr
    return set(result["loaded"])


def test_a_run_does_not_import_the_serve_libraries(tmp_path: Path) -> None:
    loaded = loaded_by_a_run(REPO, "scenarios/", "--junit-xml", str(tmp_path / "junit.xml"), "-q")
    assert "grpc" in loaded  # the probe sees what the run imported
    assert loaded.isdisjoint(SERVE_ONLY), sorted(loaded & set(SERVE_ONLY))
    assert loaded.isdisjoint(SERVE_ONLY_MODULES)
    assert not any(name.startswith("scenario_runner.serve") for name in loaded)


def test_a_run_of_files_parsed_and_checked_before_imports_neither_yaml_nor_the_validator(
    tmp_path: Path,
) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "a.yaml").write_text(
        "name: greets\nstubs:\n  - service: helloworld.Greeter\n    method: SayHello\n"
        "    output: {data: {message: hi}}\nsteps:\n  - call: helloworld.Greeter/SayHello\n"
        "    expect: {response: {message: hi}}\n"
    )
    args = ("scenarios/", "--protos", str(REPO / "protos"), "-q")
    first = loaded_by_a_run(tmp_path, *args)
    assert {"yaml", "jsonschema_rs"} <= first, "the first run parses and checks the file"
    again = loaded_by_a_run(tmp_path, *args)
    assert "grpc" in again
    assert again.isdisjoint({"yaml", "jsonschema_rs"}), sorted(again & {"yaml", "jsonschema_rs"})
    # Nor the Go template engine, nor what only some runs need: no file here has a template.
    heavy = {
        "scenario_runner.gotemplate.parse",
        "scenario_runner.gotemplate.functions",
        "scenario_runner.gotemplate.fakes",
        "uuid",
        "ctypes",
    }
    assert again.isdisjoint(heavy), sorted(again & heavy)
