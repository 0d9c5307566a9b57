"""The run context's mock target: the runner's own calls reach the embedded mock through
its local socket, while templates and services under test see its TCP address."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from scenario_runner.mock.backend import EmbeddedMock
from scenario_runner.mock.stubs import build_stub
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.runner.calls import invoke
from scenario_runner.runner.context import RunContext, RunOptions
from scenario_runner.runner.targets import Target

PROTOS = Path(__file__).resolve().parents[2] / "protos"
SAY_HELLO = "helloworld.Greeter/SayHello"
ANSWERED = (grpc.StatusCode.OK, {"message": "hello ann"})

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract Unix sockets exist on Linux only"
)


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


async def _say_hello(
    ctx: RunContext, target: Target, registry: ProtoRegistry
) -> tuple[grpc.StatusCode, object]:
    method = registry.find_call(SAY_HELLO)
    assert method is not None
    request = registry.from_json(method.input_type, {"name": "ann"}).SerializeToString()
    result = await invoke(
        ctx.channel(target), registry, method, [request], [("x-mock-session", "s1")], 5
    )
    return result.status, result.response


@contextlib.asynccontextmanager
async def _context(
    registry: ProtoRegistry, *, local_socket: bool
) -> AsyncIterator[tuple[EmbeddedMock, RunContext, Target]]:
    """An embedded mock answering SayHello in session s1, a run context over it, and the
    context's ``mock`` target."""
    mock = EmbeddedMock(registry)
    await mock.start(local_socket=local_socket)
    ctx = RunContext(registry, mock, RunOptions())
    try:
        method = registry.find_call(SAY_HELLO)
        assert method is not None
        raw = {"service": "helloworld.Greeter", "method": "SayHello"}
        stub = build_stub({**raw, "output": {"data": {"message": "hello ann"}}}, method, registry)
        await mock.open_session("s1", {})
        await mock.add_stubs("s1", [stub])
        target = ctx.target("mock")
        assert target is not None
        yield mock, ctx, target
    finally:
        await ctx.close()
        await mock.aclose()


@linux_only
async def test_the_mock_target_dials_the_local_socket_and_shows_the_tcp_address(
    registry: ProtoRegistry,
) -> None:
    async with _context(registry, local_socket=True) as (mock, ctx, target):
        assert target.address == mock.address and target.address.startswith("127.0.0.1:")
        assert target.dial == mock.local_address
        assert target.dial is not None and target.dial.startswith("unix-abstract:")
        assert await _say_hello(ctx, target, registry) == ANSWERED
        # The channel goes where ``dial`` says: a dead TCP address beside it is not used.
        elsewhere = Target("mock", "127.0.0.1:1", dial=target.dial)
        assert await _say_hello(ctx, elsewhere, registry) == ANSWERED


async def test_without_a_local_socket_the_mock_target_dials_its_address(
    registry: ProtoRegistry,
) -> None:
    async with _context(registry, local_socket=False) as (mock, ctx, target):
        assert target.dial is None and mock.local_address is None
        assert await _say_hello(ctx, target, registry) == ANSWERED
