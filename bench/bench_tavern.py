"""scenario-run against Tavern (with its gRPC plugin) on the same 1,000 one-call tests, each
run as a whole process (launch to exit), alternated round by round.

    python bench/bench_tavern.py [--tests 1000] [--files 20] [--rounds 5]

Tavern 3.7 (``tavern[grpc]``, plus ``grpcio-tools`` to generate the Python modules of the
proto, as Tavern's gRPC plugin imports them) is installed into its own virtual environment
under ``.scenario-run/bench-tavern/`` (not committed; made once, reused). Tavern calls a bare
grpc.aio server (started once, in its own process) that answers each request with the
reply the scenario-run stub gives; scenario-run runs the same tests with its embedded mock,
one stub per test. Tavern runs as its users run it: ``pytest`` in one process. Target:
Tavern ÷ scenario-run ≥ 15×.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _package import byte_compile
from _suites import ONE_CALL, PROTO, command_line, run_scenario_run, write_suite

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".scenario-run" / "bench-tavern"
TAVERN = "tavern[grpc]>=3.7,<3.8"
# Tavern 3.7 imports _pytest.python_api, which pytest 9 no longer has.
PYTEST = "pytest>=8,<9"
TARGET = 15.0

TAVERN_TEST = """test_name: scenario {i}
grpc:
  connect: {{host: 127.0.0.1, port: {port}, timeout: 10}}
  proto: {{module: bench_pb2_grpc}}
stages:
  - name: say
    grpc_request:
      service: bench.Echo/Say
      body: {{text: ping-{i}}}
    grpc_response:
      status: OK
      body: {{text: pong-{i}, n: 1}}
"""

# The baseline server: every request the tests send, and the reply a stub would give.
SERVER = """
import asyncio, sys, grpc
from grpc import aio

def text(value: str, n: int = 0) -> bytes:
    data = value.encode()
    out = b"\\n" + bytes([len(data)]) + data
    return out + (b"\\x10" + bytes([n]) if n else b"")

ANSWERS = {text(f"ping-{i}"): text(f"pong-{i}", 1) for i in range(int(sys.argv[1]))}

async def say(request: bytes, context: aio.ServicerContext) -> bytes:
    reply = ANSWERS.get(request)
    if reply is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no answer")
    return reply

async def main() -> None:
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


def tavern_python() -> Path:
    """The virtual environment's interpreter, with Tavern installed (once)."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed.json"
    if not marker.exists():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", TAVERN, PYTEST, "grpcio-tools"],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('tavern'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        marker.write_text(json.dumps({"tavern": version}))
    return python


def write_tavern_suite(root: Path, python: Path, tests: int, files: int, port: int) -> Path:
    suite = root / "tavern"
    suite.mkdir()
    (root / "protos").mkdir(exist_ok=True)
    (root / "protos" / "bench.proto").write_text(PROTO)
    subprocess.run(
        [
            str(python),
            "-m",
            "grpc_tools.protoc",
            f"-I{root / 'protos'}",
            f"--python_out={suite}",
            f"--grpc_python_out={suite}",
            "bench.proto",
        ],
        check=True,
        cwd=root / "protos",
    )
    per_file, extra = divmod(tests, files)
    number = 0
    for f in range(files):
        size = per_file + (1 if f < extra else 0)
        documents = [TAVERN_TEST.format(i=number + k, port=port) for k in range(size)]
        number += size
        (suite / f"test_s{f:05d}.tavern.yaml").write_text("---\n".join(documents))
    return suite


def run_tavern(python: Path, suite: Path, tests: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        cwd=suite,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
        raise SystemExit(f"Tavern failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(command_line())
    print(byte_compile())
    python = tavern_python()
    print(f"Tavern: {json.loads((VENV / 'installed.json').read_text())['tavern']} in {VENV}")
    temp = Path(tempfile.mkdtemp(prefix="bench-tavern-"))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.tests)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        suite = write_tavern_suite(temp, python, args.tests, args.files, port)
        ours_root = write_suite(temp / "scenario-run", args.tests, args.files, ONE_CALL)
        run_scenario_run(ours_root)  # warm-up: the proto compile cache
        run_tavern(python, suite, args.tests)  # warm-up: bytecode of Tavern's own files
        tavern, ours = [], []
        for _ in range(args.rounds):
            tavern.append(run_tavern(python, suite, args.tests))
            ours.append(run_scenario_run(ours_root))
        tavern_s, ours_s = statistics.median(tavern), statistics.median(ours)
        print(f"Tavern, {args.tests} tests in {args.files} files:       {tavern_s:.3f} s")
        print(f"scenario-run, {args.tests} scenarios in {args.files} files: {ours_s:.3f} s")
        print(f"ratio Tavern / scenario-run: {tavern_s / ours_s:.1f}x  (target >= {TARGET:g}x)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
