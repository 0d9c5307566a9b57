"""Unary calls/s through ``scenario-run serve --workers 2`` vs ``--workers 1``, on one store.

    python bench/bench_serve_workers.py [--store sqlite|postgresql] [--calls 4000]
                                        [--concurrency 64] [--connections 8] [--rounds 5]

Both pools run at once, each on its own ports and its own store (a new SQLite file, or a
new database of a throwaway PostgreSQL cluster started for the run), with one stub posted
in the calling session. One client process drives them in turn, round by round, over
``--connections`` connections of its own (the kernel hands each connection to one worker).
Prints calls/s (median) for each pool and the ratio 2 workers / 1 worker. The client needs
a core too: on a 2-core machine the two workers and the client share two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
from _bare import PROTOS, ROOT, SESSION, command_line, measure_rounds, unary_load
from grpc import aio

from scenario_runner.protos import compile_protos

CALL = "helloworld.Greeter/SayHello"
REPLY = {"message": "Hello worker"}
STARTED = re.compile(r"gRPC on (?P<grpc>\S+), admin API on (?P<http>http://\S+) ")


@contextlib.contextmanager
def pool(workers: int, store: str, folder: Path) -> Iterator[tuple[str, str]]:
    command = [
        sys.executable, "-m", "scenario_runner.cli", "serve", "--grpc", "127.0.0.1:0",
        "--http", "127.0.0.1:0", "--protos", str(PROTOS), "--store", store,
        "--workers", str(workers), "--session-ttl", "0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        found = STARTED.search(process.stdout.readline())
        if not found:
            raise RuntimeError(f"serve --workers {workers} did not start")
        yield found["grpc"], found["http"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(60)


@contextlib.contextmanager
def stores(kind: str, folder: Path) -> Iterator[Callable[[str], str]]:
    if kind == "sqlite":
        yield lambda name: f"sqlite:///{folder / name}.db"
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_support import start_cluster  # the tests' throwaway cluster

    cluster = start_cluster()
    try:
        yield lambda name: cluster.new_database()
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


async def client(args: argparse.Namespace, targets: dict[str, tuple[str, str]]) -> None:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    request = registry.from_json(method.input_type, {"name": "w"}).SerializeToString()
    stub = {"service": method.service, "method": method.name, "output": {"data": REPLY}}
    for _, http in targets.values():
        response = httpx.post(
            f"{http}/api/stubs", json=stub, headers={"X-Mock-Session": SESSION}, timeout=30
        )
        response.raise_for_status()
    channels = {
        name: [
            aio.insecure_channel(grpc_address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(args.connections)
        ]
        for name, (grpc_address, _) in targets.items()
    }

    def runner(group: list[aio.Channel]) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            share = args.concurrency // len(group)
            calls = args.calls // len(group)
            await asyncio.gather(
                *(unary_load(channel, method.path, request, calls, share) for channel in group)
            )
            return calls * len(group)

        return run

    try:
        figures = await measure_rounds(
            {name: runner(group) for name, group in channels.items()}, args.rounds, 1
        )
    finally:
        for group in channels.values():
            for channel in group:
                await channel.close()
    for row in figures.values():
        print(row.line("calls/s"))
    ratio = figures["2 wkr"].median / figures["1 wkr"].median
    print(f"ratio 2 workers / 1 worker: {ratio:.2f} (store {args.store}, {os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"command: {command_line()}")
    print(
        f"unary, 1 stub, {args.calls:,} calls a round over {args.connections} connections, "
        f"{args.concurrency} in flight, {args.rounds} rounds after 1 warm-up (median)"
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    try:
        with (
            stores(args.store, folder) as new_store,
            pool(1, new_store("one"), folder) as one,
            pool(2, new_store("two"), folder) as two,
        ):
            asyncio.run(client(args, {"1 wkr": one, "2 wkr": two}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
