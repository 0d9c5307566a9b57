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


def test_a_run_does_not_import_the_serve_libraries(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            "scenarios/",
            "--junit-xml",
            str(tmp_path / "junit.xml"),
            "-q",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCENARIO_RUN_PROCESSES": "1", "PYTHONPATH": str(REPO)},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stdout + done.stderr
    loaded = set(result["loaded"])
    assert "grpc" in loaded  # the probe sees what the run imported
    assert loaded.isdisjoint(SERVE_ONLY), sorted(loaded & set(SERVE_ONLY))
    assert loaded.isdisjoint(SERVE_ONLY_MODULES)
    assert not any(name.startswith("scenario_runner.serve") for name in loaded)
