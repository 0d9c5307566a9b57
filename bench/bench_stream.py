"""Server-streaming throughput: a 10,000-message stream through the mock vs a bare grpc.aio server.

    python bench/bench_stream.py [--messages 10000] [--rounds 7] [--warmup 2]

The mock answers from a stub whose ``output.stream`` holds the messages (small ``Book``s);
the bare server yields the same messages, pre-serialised, from an async generator. Each
server runs in its own process; one client loop reads both, alternating round by round.
Prints messages/s (median of the rounds) for each and the ratio mock/bare (target ≥ 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
from typing import Any

from _bare import (
    PIN_ENV,
    PROTOS,
    SESSION,
    ServerProcess,
    bare_stream_server,
    command_line,
    measure_rounds,
    pin_client,
    read_stream,
    start_server,
)
from grpc import aio

from scenario_runner.mock.server import MockServer
from scenario_runner.mock.stubs import build_stub
from scenario_runner.protos import compile_protos

CALL = "bookstore.v1.Catalog/ListBooks"
TARGET = 0.8


def books(count: int) -> list[dict[str, Any]]:
    return [
        {"isbn": f"978-{i:07d}", "title": f"Book {i}", "stock": i % 7, "authors": ["A. Author"]}
        for i in range(count)
    ]


async def mock_server(count: int) -> tuple[MockServer, int]:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    raw = {"service": method.service, "method": method.name, "output": {"stream": books(count)}}
    mock = MockServer(registry)
    mock.store.add(SESSION, [build_stub(raw, method, registry)])
    return mock, await mock.start()


async def bare_server(count: int) -> tuple[aio.Server, int]:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    blobs = [registry.from_json(method.output_type, b).SerializeToString() for b in books(count)]
    return await bare_stream_server(method.path, blobs)


async def client(args: argparse.Namespace, mock: ServerProcess, bare: ServerProcess) -> None:
    registry = compile_protos([PROTOS])
    method = registry.find_call(CALL)
    assert method is not None
    request = registry.from_json(method.input_type, {"shelf": "all"}).SerializeToString()
    async with (
        aio.insecure_channel(mock.target) as mock_channel,
        aio.insecure_channel(bare.target) as bare_channel,
    ):

        async def run_mock() -> int:
            return await _checked(read_stream(mock_channel, method.path, request), args.messages)

        async def run_bare() -> int:
            return await _checked(read_stream(bare_channel, method.path, request), args.messages)

        figures = await measure_rounds(
            {"mock": run_mock, "bare": run_bare},
            args.rounds,
            args.warmup,
            {"mock": mock, "bare": bare},
        )
    ratio = figures["mock"].median / figures["bare"].median
    print(figures["mock"].line("msgs/s"))
    print(figures["bare"].line("msgs/s"))
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"ratio mock/bare: {ratio:.2f} ({verdict} the target of {TARGET})")


async def _checked(count: Any, expected: int) -> int:
    received = int(await count)
    if received != expected:
        raise RuntimeError(f"received {received} messages, expected {expected}")
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--no-pin", action="store_true", help="client and servers share every CPU (noisier)"
    )
    args = parser.parse_args()
    if args.no_pin:
        os.environ[PIN_ENV] = "1"  # read by the server processes too
    print(f"command: {command_line()}")
    print(
        f"server streaming, {args.messages:,} messages per call, {args.rounds} rounds "
        f"after {args.warmup} warm-up (median), each server in its own process"
    )
    servers = [
        start_server("mock", functools.partial(mock_server, args.messages)),
        start_server("bare", functools.partial(bare_server, args.messages)),
    ]
    print(pin_client())
    try:
        asyncio.run(client(args, *servers))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
