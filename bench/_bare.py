"""Shared pieces of the mock benchmarks: bare grpc.aio baselines, server processes, client loops.

Every server (the mock and its bare baseline) runs in a child process of its own, so the
client loop (in the parent) never shares an event loop or the GIL with the server it
measures, and both servers are measured with exactly the same client code. Children are
started with ``spawn`` and stopped by their own handle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shlex
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
SESSION = "bench"
METADATA = (("x-mock-session", SESSION),)

ServerFactory = Callable[[], Awaitable[tuple[aio.Server | Any, int]]]


def command_line() -> str:
    """The command that produced this output, to print at its top."""
    return shlex.join([sys.executable, *sys.argv])


# -- bare baselines ------------------------------------------------------------------------------


class _Route(grpc.GenericRpcHandler):
    def __init__(self, path: str, handler: grpc.RpcMethodHandler) -> None:
        self._path = path
        self._handler = handler

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handler if details.method == self._path else None


async def bare_stream_server(path: str, messages: Sequence[bytes]) -> tuple[aio.Server, int]:
    """A plain grpc.aio server streaming pre-serialised messages (async generator)."""

    async def handle(request: bytes, context: aio.ServicerContext) -> AsyncIterator[bytes]:
        for blob in messages:
            yield blob

    handler = grpc.unary_stream_rpc_method_handler(handle)
    return await _start(_Route(path, handler))


async def bare_unary_server(path: str, reply: bytes) -> tuple[aio.Server, int]:
    """A plain grpc.aio server answering every call with a pre-serialised reply."""

    async def handle(request: bytes, context: aio.ServicerContext) -> bytes:
        return reply

    handler = grpc.unary_unary_rpc_method_handler(handle)
    return await _start(_Route(path, handler))


async def _start(router: grpc.GenericRpcHandler) -> tuple[aio.Server, int]:
    server = aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((router,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


# -- server processes ----------------------------------------------------------------------------


PIN_ENV = "BENCH_NO_PIN"  # set (by --no-pin) to let client and servers share every CPU


def _cpus() -> tuple[set[int], set[int]]:
    """(client CPUs, server CPUs): one CPU for the client, the others for the servers."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2 or os.environ.get(PIN_ENV):
        return set(available), set(available)
    return {available[0]}, set(available[1:])


def pin_client() -> str:
    """Keep the client loop off the servers' CPUs (less noise); describe the placement."""
    client, servers = _cpus()
    if client and client != servers:
        os.sched_setaffinity(0, client)
        return f"client on CPU {sorted(client)}, servers on CPUs {sorted(servers)}"
    return "client and servers share the CPUs"


def _serve(factory: Callable[[], Awaitable[tuple[Any, int]]], ports: Any) -> None:
    _, servers = _cpus()
    if servers and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, servers)

    async def main() -> None:
        _server, port = await factory()  # kept alive by this frame
        ports.put(port)
        await asyncio.Event().wait()  # until the parent terminates this process

    asyncio.run(main())


@dataclass
class ServerProcess:
    name: str
    process: Any
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float | None:
        """CPU time the server process used so far (all its threads); None off Linux."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def start_server(name: str, factory: Callable[[], Awaitable[tuple[Any, int]]]) -> ServerProcess:
    """Run ``factory`` (a picklable coroutine function) in a child process; wait for its port."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(factory, ports), name=name, daemon=True)
    process.start()
    port = ports.get(timeout=60)
    return ServerProcess(name, process, port)


# -- client loops ----------------------------------------------------------------------------------


async def read_stream(channel: aio.Channel, path: str, request: bytes) -> int:
    """One server-streaming call read to the end; the number of messages received."""
    call = channel.unary_stream(path)(request, metadata=METADATA)
    count = 0
    async for _ in call:
        count += 1
    if await call.code() is not grpc.StatusCode.OK:
        raise RuntimeError(f"stream ended with {await call.code()}: {await call.details()}")
    return count


async def unary_load(
    channel: aio.Channel, path: str, request: bytes, calls: int, concurrency: int
) -> int:
    """``calls`` unary calls with ``concurrency`` of them in flight; the replies' total size."""
    method = channel.unary_unary(path)
    per_worker, extra = divmod(calls, concurrency)
    received = 0

    async def worker(count: int) -> None:
        nonlocal received
        for _ in range(count):
            reply = await method(request, metadata=METADATA)
            received += len(reply)

    await asyncio.gather(*(worker(per_worker + (i < extra)) for i in range(concurrency)))
    return received


@dataclass
class Figures:
    name: str
    rates: list[float]
    cpu: list[float]  # server CPU seconds per item, per round (empty when unknown)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    def line(self, unit: str) -> str:
        shown = ", ".join(f"{rate:,.0f}" for rate in self.rates)
        text = f"{self.name:<6} median {self.median:>10,.0f} {unit}"
        if self.cpu:
            text += f", server CPU {statistics.median(self.cpu) * 1e6:,.1f} µs/item"
        return f"{text}   (rounds: {shown})"


async def measure_rounds(
    runs: dict[str, Callable[[], Awaitable[int]]],
    rounds: int,
    warmup: int,
    servers: dict[str, ServerProcess] | None = None,
) -> dict[str, Figures]:
    """Alternate the runs round by round (drift hits both alike); items per second each, and
    the CPU time the run's server process spent per item when ``servers`` names it."""
    for _ in range(warmup):
        for run in runs.values():
            await run()
    figures = {name: Figures(name, [], []) for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            server = (servers or {}).get(name)
            cpu_before = server.cpu_seconds() if server else None
            started = time.perf_counter()
            items = await run()
            figures[name].rates.append(items / (time.perf_counter() - started))
            cpu_after = server.cpu_seconds() if server else None
            if cpu_before is not None and cpu_after is not None:
                figures[name].cpu.append((cpu_after - cpu_before) / items)
    return figures
