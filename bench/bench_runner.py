"""Runner throughput: 1,000 generated scenarios through ``scenario-run`` vs the same 2,000
unary calls made by a bare grpc.aio client against a bare grpc.aio echo server, at the same
concurrency, measured in the same run.

    python bench/bench_runner.py [--scenarios 1000] [--workers 50] [--rounds 9]

Each scenario: 2 stubs, 2 unary calls, 1 verify. Target: scenario-run ≤ 2.0× the bare time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from _package import byte_compile
from grpc import aio

REPO = Path(__file__).resolve().parents[1]
PROTO = """syntax = "proto3";
package bench;
service Echo { rpc Say (Msg) returns (Msg); }
message Msg { string text = 1; int32 n = 2; }
"""
SCENARIO = """name: scenario {i}
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


def write_suite(root: Path, count: int) -> None:
    (root / "protos").mkdir()
    (root / "protos" / "bench.proto").write_text(PROTO)
    scenarios = root / "scenarios"
    scenarios.mkdir()
    for i in range(count):
        (scenarios / f"s{i:04d}.yaml").write_text(SCENARIO.format(i=i))


def run_scenario_run(root: Path, workers: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scenario_runner.cli", "scenarios", "-q", "--workers", str(workers)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scenario-run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


async def bare(calls: int, concurrency: int) -> float:
    """A bare echo server and client in one process, as scenario-run runs its mock."""
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
        per_worker = calls // concurrency

        async def worker(n: int) -> None:
            for _ in range(n):
                await say(b"\n\x04ping", metadata=(("x-mock-session", "s"),), timeout=10)

        extra = calls - per_worker * concurrency
        await asyncio.gather(
            *(worker(per_worker + (1 if i < extra else 0)) for i in range(concurrency))
        )
    elapsed = time.perf_counter() - started
    await server.stop(None)
    return elapsed


def bare_process(calls: int, concurrency: int) -> float:
    """The bare client in a fresh interpreter, timed from launch, like scenario-run."""
    here = str(Path(__file__).parent)
    code = (
        f"import asyncio, sys; sys.path.insert(0, {here!r}); import bench_runner as b; "
        f"asyncio.run(b.bare({calls}, {concurrency}))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(
        f"$ python bench/bench_runner.py --scenarios {args.scenarios} "
        f"--workers {args.workers} --rounds {args.rounds}"
    )
    print(byte_compile())
    root = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    try:
        write_suite(root, args.scenarios)
        run_scenario_run(root, args.workers)  # warm-up (fills the compile cache)
        ours, base = [], []
        for _ in range(args.rounds):
            ours.append(run_scenario_run(root, args.workers))
            base.append(bare_process(2 * args.scenarios, args.workers))
        ours_s, base_s = statistics.median(ours), statistics.median(base)
        calls = 2 * args.scenarios
        print(f"bare grpc.aio, {calls} calls, process launch to exit: {base_s:.3f} s")
        print(f"scenario-run, {args.scenarios} scenarios ({calls} calls):  {ours_s:.3f} s")
        print(f"ratio scenario-run / bare: {ours_s / base_s:.2f}x  (target <= 2.0x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
