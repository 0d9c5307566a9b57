"""``scenario-run serve`` started as a user would: a subprocess in its own process group,
on free loopback ports, always reaped (on failure too)."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from scenario_runner.protos import ProtoRegistry, compile_protos

REPO = Path(__file__).resolve().parents[1]
PROTOS = REPO / "protos"
STARTED = re.compile(r"gRPC on (?P<grpc>\S+), admin API on (?P<http>http://\S+) ")
START_TIMEOUT = 30.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    grpc: str  # host:port
    http: str  # http://host:port
    line: str  # the line it printed on start
    stderr_file: Path

    def send(self, signum: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``signum`` and wait for the exit code."""
        self.send(signum)
        return self.process.wait(timeout)

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(encoding="utf-8", errors="replace")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scenario_runner.cli", "serve", *args]


def server_args(*extra: str) -> list[str]:
    return ["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--protos", str(PROTOS), *extra]


@contextlib.contextmanager
def serving(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``scenario-run serve`` and yield it once it has said where it listens."""
    stderr_file = cwd / f"serve-{time.monotonic_ns()}.err"
    with stderr_file.open("w") as err:
        process = subprocess.Popen(
            command(*server_args(*extra)),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group, reaped as a whole
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )
    try:
        line = _first_line(process, stderr_file)
        found = STARTED.search(line)
        assert found, f"unexpected start line: {line!r}"
        yield Served(process, found["grpc"], found["http"], line, stderr_file)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def _first_line(process: subprocess.Popen[str], stderr_file: Path) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT):
            raise AssertionError(f"serve printed nothing in {START_TIMEOUT}s")
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(
            f"serve exited ({process.returncode}) before listening: {stderr_file.read_text()}"
        )
    return line


def run_serve(cwd: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``scenario-run serve`` expecting it to stop by itself (bad options, port in use)."""
    return subprocess.run(
        command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


# -- a gRPC client of the served mock ----------------------------------------------------------


class Client:
    """Calls the served mock's example services (message classes from the compiled protos)."""

    def __init__(self, address: str, registry: ProtoRegistry | None = None) -> None:
        self.registry = registry or compile_protos([PROTOS])
        self.channel = grpc.insecure_channel(address)

    def close(self) -> None:
        self.channel.close()

    def unary(
        self,
        call: str,
        request: dict[str, Any],
        session: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        method = self.registry.find_call(call)
        assert method is not None, call
        stub = self.channel.unary_unary(
            method.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=method.output_type.FromString,
        )
        pairs = [*metadata, *((("x-mock-session", session),) if session else ())]
        reply = stub(
            self.registry.from_json(method.input_type, request),
            metadata=pairs,
            timeout=timeout,
        )
        return self.registry.to_json(reply)

    def status_of(self, call: str, request: dict[str, Any], session: str | None = None) -> str:
        """The status name of a call that may fail (``"OK"`` when it answers)."""
        try:
            self.unary(call, request, session)
        except grpc.RpcError as exc:
            return str(exc.code().name)
        return "OK"


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll until ``predicate()`` is true; False when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@contextlib.contextmanager
def replicas(cwd: Path, count: int, store: str, *extra: str) -> Iterator[list[Served]]:
    """``count`` servers on one store (replicas of one mock), each on its own ports."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serving(cwd, "--store", store, *extra)) for _ in range(count)]


def store_url(kind: str, request: Any, tmp_path: Path) -> str:
    """A fresh store of a kind: ``postgresql`` (a new database of the test cluster) or
    ``sqlite`` (a new file)."""
    if kind == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'shared.db'}"
