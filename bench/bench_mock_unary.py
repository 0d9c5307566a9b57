"""Unary throughput through the mock with 1,000 stubs on the called method vs a bare echo server.

    python bench/bench_mock_unary.py [--stubs 1000] [--calls 5000] [--concurrency 50]
                                     [--rounds 9] [--warmup 1] [--no-index]
                                     [--without-log] [--served]
                                     [--store memory|sqlite|postgresql]

The method has ``--stubs`` stubs in the calling session: all but one expect other names
(``input.equals``), and the one that matches is declared last, so selection cannot stop at
the first stub. The bare grpc.aio server answers every call with a pre-serialised reply.
Each server runs in its own process (the mock's with the collector settings scenario-run
uses, ``scenario_runner.collector``); one client loop (``--concurrency`` calls in flight)
drives both, alternating round by round. Prints calls/s (median) for each and the ratio
mock/bare (target ≥ 0.9). ``--no-index`` turns off the store's ``equals`` index in the mock
(a plain scan of every stub), to show what the index buys. ``--served`` also measures the mock
with the session hub of ``scenario-run serve``, which notes every call's session for TTLs;
``--store`` gives that served mock a store as ``serve --store`` does (its calls then written
in batches, as a replica of a shared store writes them; ``postgresql`` starts a throwaway
cluster for the run, as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from _bare import (
    PIN_ENV,
    PROTOS,
    ROOT,
    SESSION,
    ServerProcess,
    bare_unary_server,
    command_line,
    measure_rounds,
    pin_client,
    start_server,
    unary_load,
)
from grpc import aio

from scenario_runner import collector
from scenario_runner.mock import store as store_module
from scenario_runner.mock.server import MockServer
from scenario_runner.mock.stubs import build_stub
from scenario_runner.protos import compile_protos

CALL = "helloworld.Greeter/SayHello"
NAME = "winner"
REPLY = {"message": "Hello winner"}
TARGET = 0.9


async def mock_server(
    stubs: int, index: bool, log: bool = True, served: bool = False, store: str = "memory"
) -> tuple[MockServer, int]:
    collector.tune()  # as scenario-run sets its process up before it starts the mock
    if not index:
        store_module.INDEX_THRESHOLD = 10**9
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    base = {"service": method.service, "method": method.name}
    built = [
        build_stub(
            {
                **base,
                "input": {"equals": {"name": f"other-{i}"}},
                "output": {"data": {"message": f"Hello other {i}"}},
            },
            method,
            registry,
        )
        for i in range(stubs - 1)
    ]
    winner = {**base, "input": {"equals": {"name": NAME}}, "output": {"data": REPLY}}
    built.append(build_stub(winner, method, registry))
    if served:  # the mock of `scenario-run serve`, on its store
        from scenario_runner.serve.app import open_store
        from scenario_runner.serve.core import SharedMock

        shared = SharedMock(registry, open_store(store), default_ttl=0, persistent=True)
        await shared.restore([])
        mock = shared.mock
    else:
        mock = MockServer(registry)
    mock.store.add(SESSION, built)
    if not log:

        def record(*args: object, **kwargs: object) -> None:
            return None

        mock.hub.record_call = record  # type: ignore[assignment,method-assign]
    return mock, await mock.start()


async def bare_server() -> tuple[aio.Server, int]:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    reply = registry.from_json(method.output_type, REPLY).SerializeToString()
    return await bare_unary_server(method.path, reply)


async def client(args: argparse.Namespace, servers: dict[str, ServerProcess]) -> None:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    request = registry.from_json(method.input_type, {"name": NAME}).SerializeToString()
    expected = len(registry.from_json(method.output_type, REPLY).SerializeToString())
    channels = {name: aio.insecure_channel(server.target) for name, server in servers.items()}

    def runner(channel: aio.Channel) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            size = await unary_load(channel, method.path, request, args.calls, args.concurrency)
            if size != expected * args.calls:
                raise RuntimeError("a reply was not the winning stub's")
            return int(args.calls)

        return run

    try:
        figures = await measure_rounds(
            {name: runner(channel) for name, channel in channels.items()},
            args.rounds,
            args.warmup,
            servers,
        )
    finally:
        for channel in channels.values():
            await channel.close()
    for row in figures.values():
        print(row.line("calls/s"))
    if "nolog" in figures:
        share = figures["nolog"].median / figures["bare"].median
        print(f"ratio nolog/bare: {share:.2f} (the mock's own path, without its call history)")
    if "served" in figures:
        share = figures["served"].median / figures["bare"].median
        print(f"ratio served/bare: {share:.2f} (the mock as `scenario-run serve` runs it)")
    ratio = figures["mock"].median / figures["bare"].median
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"ratio mock/bare: {ratio:.2f} ({verdict} the target of {TARGET})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stubs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-index", action="store_true", help="plain scan of every stub")
    parser.add_argument(
        "--without-log",
        action="store_true",
        help="also measure the mock with its call history (hub.record_call) turned off",
    )
    parser.add_argument(
        "--served",
        action="store_true",
        help="also measure the mock with the session hub of `scenario-run serve` (TTLs)",
    )
    parser.add_argument(
        "--store",
        choices=["memory", "sqlite", "postgresql"],
        default="memory",
        help="the served mock's store (with --served)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="client and servers share every CPU (noisier)"
    )
    args = parser.parse_args()
    if args.no_pin:
        os.environ[PIN_ENV] = "1"  # read by the server processes too
    print(f"command: {command_line()}")
    print(
        f"unary, {args.stubs:,} stubs on the method (the winner declared last"
        f"{', equals index off' if args.no_index else ''}), {args.calls:,} calls, "
        f"{args.concurrency} in flight, {args.rounds} rounds after {args.warmup} warm-up "
        "(median), each server in its own process"
    )
    servers = {
        "mock": start_server("mock", functools.partial(mock_server, args.stubs, not args.no_index)),
        "bare": start_server("bare", bare_server),
    }
    if args.without_log:
        nolog = functools.partial(mock_server, args.stubs, not args.no_index, False)
        servers["nolog"] = start_server("nolog", nolog)
    with contextlib.ExitStack() as cleanup:
        if args.served:
            store = cleanup.enter_context(store_for(args.store))
            served = functools.partial(
                mock_server, args.stubs, not args.no_index, True, True, store
            )
            servers["served"] = start_server("served", served)
        print(pin_client())
        try:
            asyncio.run(client(args, servers))
        finally:
            for server in servers.values():
                server.stop()


@contextlib.contextmanager
def store_for(kind: str) -> Iterator[str]:
    """A ``serve --store`` value of that kind, fresh for the run."""
    if kind == "memory":
        yield "memory"
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        if kind == "sqlite":
            yield f"sqlite:///{folder / 'served.db'}"
            return
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_support import start_cluster  # the tests' throwaway cluster

        cluster = start_cluster()
        try:
            yield cluster.new_database()
        finally:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
