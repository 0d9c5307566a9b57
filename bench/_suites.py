"""Generated suites and timed ``scenario-run`` processes, shared by the runner benchmarks."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc import aio

PROTO = """syntax = "proto3";
package bench;
service Echo { rpc Say (Msg) returns (Msg); }
message Msg { string text = 1; int32 n = 2; }
"""

# The runner benchmark's scenario: 2 stubs, 2 unary calls, 1 verify.
TWO_CALLS = """name: scenario {i}
stubs:
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: ping-{i}}}}}
    output: {{data: {{text: pong-{i}, n: 1}}}}
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: other-{i}}}}}
    output: {{data: {{text: other-{i}, n: 2}}}}
steps:
  - call: bench.Echo/Say
    request: {{text: ping-{i}}}
    expect: {{response: {{text: pong-{i}}}}}
  - call: bench.Echo/Say
    request: {{text: other-{i}}}
    expect: {{response: {{n: 2}}}}
verify:
  - call: bench.Echo/Say
    times: 2
"""

# One stub, one call, its answer checked.
ONE_CALL = """name: scenario {i}
stubs:
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: ping-{i}}}}}
    output: {{data: {{text: pong-{i}, n: 1}}}}
steps:
  - call: bench.Echo/Say
    request: {{text: ping-{i}}}
    expect: {{response: {{text: pong-{i}, n: 1}}}}
"""


def command_line() -> str:
    return "$ " + shlex.join(["python", *sys.argv])


def write_suite(root: Path, count: int, files: int, template: str = TWO_CALLS) -> Path:
    """``count`` scenarios in ``files`` files (documents split evenly, in order)."""
    (root / "protos").mkdir(parents=True, exist_ok=True)
    (root / "protos" / "bench.proto").write_text(PROTO)
    scenarios = root / "scenarios"
    scenarios.mkdir(exist_ok=True)
    for old in scenarios.glob("*.yaml"):
        old.unlink()
    per_file, extra = divmod(count, files)
    number = 0
    for f in range(files):
        size = per_file + (1 if f < extra else 0)
        documents = [template.format(i=number + k) for k in range(size)]
        number += size
        (scenarios / f"s{f:05d}.yaml").write_text("---\n".join(documents))
    return root


def run_scenario_run(root: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    """Seconds from launch to exit of ``scenario-run scenarios -q ...`` in ``root``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scenario_runner.cli", "scenarios", "-q", *extra],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scenario-run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


async def bare(calls: int, concurrency: int) -> float:
    """A bare grpc.aio echo server and client in one process, as scenario-run runs its
    mock; the seconds the calls took (server start excluded)."""
    reply = b"\n\x04pong\x10\x01"

    async def echo(request: bytes, context: aio.ServicerContext) -> bytes:
        return reply

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Say": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    started = time.perf_counter()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        say = channel.unary_unary("/bench.Echo/Say")
        per_worker, extra = divmod(calls, concurrency)

        async def worker(n: int) -> None:
            for _ in range(n):
                await say(b"\n\x04ping", metadata=(("x-mock-session", "s"),), timeout=10)

        await asyncio.gather(*(worker(per_worker + (i < extra)) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    await server.stop(None)
    return elapsed


def bare_process(calls: int, concurrency: int) -> tuple[float, float]:
    """The bare client and server in a fresh interpreter: (seconds from launch to exit,
    seconds the calls took)."""
    here = str(Path(__file__).parent)
    code = (
        f"import asyncio, sys; sys.path.insert(0, {here!r}); import _suites; "
        f"print(asyncio.run(_suites.bare({calls}, {concurrency})))"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, float(done.stdout.strip())
