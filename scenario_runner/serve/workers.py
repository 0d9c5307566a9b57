"""``serve --workers N``: N ``serve`` processes sharing both ports and one store.

The parent reserves the two ports (bound with SO_REUSEPORT, never listening, so the kernel
hands every connection to a worker), starts N workers on them (``--reuse-port``), each a
replica of the shared store (``replicas.py``), and prints one line once they all listen.
A worker that dies is started again; SIGTERM or SIGINT is passed on to the workers, whose
calls in flight finish, and the parent exits when they have (0 when they all stopped
cleanly). A worker that cannot start stops the others: exit 2.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from ..errors import ScenarioError
from .options import Address, ServeOptions

START_TIMEOUT = 60.0  # seconds a worker gets to say it listens
STOP_TIMEOUT = 30.0  # seconds the workers get to stop before they are killed
RESTART_DELAY = 1.0  # seconds before a worker that died is started again


class PoolError(ScenarioError):
    """The workers could not be started."""


def _reserve(address: Address, option: str) -> socket.socket:
    infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(where)
    except OSError as exc:
        sock.close()
        raise PoolError(f"{option} {address.show()}: cannot listen: {exc.strerror}") from exc
    return sock


class _Worker:
    def __init__(self, number: int, argv: list[str]) -> None:
        self.number = number
        self.argv = argv
        self.process = self._start()
        self.line = ""

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )

    def restart(self) -> None:
        self._close()
        self.process = self._start()

    def wait_ready(self, timeout: float) -> str:
        """The worker's start line; PoolError when it exits or says nothing in time."""
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise PoolError(f"worker {self.number} did not start in {timeout:g}s")
        line = stdout.readline()
        if not line:
            code = self.process.wait(10)
            raise PoolError(f"worker {self.number} exited with code {code} before listening")
        self.line = line.rstrip("\n")
        return self.line

    def _close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def run_pool(options: ServeOptions, args: Sequence[str]) -> int:
    """Run ``options.workers`` workers of ``serve`` with ``args``; the exit code."""
    grpc = _reserve(options.grpc, "--grpc")
    try:
        http = _reserve(options.http, "--http")
    except BaseException:
        grpc.close()
        raise
    try:
        grpc_port, http_port = grpc.getsockname()[1], http.getsockname()[1]
        argv = [
            sys.executable,
            "-m",
            "scenario_runner.cli",
            "serve",
            *args,
            "--workers",
            "1",
            "--reuse-port",
            "--grpc",
            options.grpc.show(grpc_port),
            "--http",
            options.http.show(http_port),
        ]
        return _supervise(options.workers, argv)
    finally:
        grpc.close()
        http.close()


def _supervise(count: int, argv: list[str]) -> int:
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    workers: list[_Worker] = []
    try:
        # One after the other: the first creates the store's schema, the others find it.
        for number in range(1, count + 1):
            worker = _Worker(number, argv)
            workers.append(worker)
            worker.wait_ready(START_TIMEOUT)
            if stopping:
                return _stop(workers)
        line = workers[0].line
        head, _, tail = line.rpartition(")")
        print(f"{head}, {count} workers){tail}" if _ else line, flush=True)
        died: dict[int, float] = {}
        while not stopping:
            time.sleep(0.1)
            for worker in workers:
                code = worker.process.poll()
                if code is None or stopping:
                    continue
                if worker.number not in died:
                    _say(f"worker {worker.number} exited with code {code}; starting it again")
                    died[worker.number] = time.monotonic() + RESTART_DELAY
                elif time.monotonic() >= died[worker.number]:
                    del died[worker.number]
                    worker.restart()
                    try:
                        worker.wait_ready(START_TIMEOUT)
                    except PoolError as exc:
                        if stopping:  # stopped while it was starting
                            break
                        _say(f"{exc}; stopping")
                        _stop(workers)
                        return 1
                    _say(f"worker {worker.number} listens again")
        return _stop(workers)
    except PoolError:
        _stop(workers)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for worker in workers:
            worker._close()


def _stop(workers: list[_Worker]) -> int:
    """SIGTERM to every worker, SIGKILL to those still there after ``STOP_TIMEOUT``."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    codes = []
    for worker in workers:
        try:
            codes.append(worker.process.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            codes.append(worker.process.wait())
    return 0 if all(code == 0 for code in codes) else 1


def _say(message: str) -> None:
    print(f"scenario-run serve: {message}", file=sys.stderr, flush=True)
