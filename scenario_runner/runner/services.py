"""The systems under test that a run starts, watches and stops (``services:`` in the config).

Each service runs in a process group of its own, with the runner's environment plus its
``env`` and the mock's address, its output written to a log file. The run waits until each
is ready (its port accepts, or grpc.health.v1 says SERVING), notices when one dies, and
stops every one at the end: SIGTERM to the group, SIGKILL after a grace period. ``kill()``
is the last resort of an interrupted run: it needs no event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Location, StartupError
from .targets import Target, TlsSettings, open_channel

MOCK_ADDRESS_ENV = "SCENARIO_RUN_MOCK_ADDRESS"
READY_CHECKS = ("port", "health", "none")
LAST_LINES = 20
_POLL_SECONDS = 0.05
_WATCH_SECONDS = 0.1
_EXIT_NOTICE_SECONDS = 0.5  # how long a failed call waits to learn that its service died


@dataclass(frozen=True)
class ServiceSpec:
    """A service as ``scenario-run.yaml`` declares it (templates already rendered)."""

    name: str
    command: str | tuple[str, ...]  # a shell string, or an argv list
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None  # where it serves gRPC (host:port)
    ready: str = "port"  # port | health | none
    startup_timeout: float = 30.0
    stop_timeout: float = 5.0
    tls: TlsSettings | None = None
    where: Location | None = None

    @property
    def target(self) -> Target | None:
        if self.address is None:
            return None
        return Target.parse(self.name, self.address, self.tls, self.where)


class ServiceDied(Exception):
    """Raised for a call to a service that is no longer running."""


class RunningService:
    def __init__(self, spec: ServiceSpec, process: subprocess.Popen[bytes], log: Path) -> None:
        self.spec = spec
        self.process = process
        self.log = log
        self.stopping = False  # we are stopping it: its exit is no news
        self.death_reported = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def exit_text(self) -> str:
        """``service pricing exited with code 3`` (or ``was killed by signal 9``)."""
        code = self.exit_code
        if code is None:
            return f"service {self.name} is running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"service {self.name} was killed by {name}"
        return f"service {self.name} exited with code {code}"

    def last_lines(self, count: int = LAST_LINES) -> str:
        try:
            with self.log.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 64 * 1024))
                tail = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(tail.splitlines()[-count:])

    def death_report(self) -> str:
        """What a user needs when the service is gone: why, and its last output lines."""
        lines = self.last_lines()
        shown = _display(self.log)
        if not lines:
            return f"{self.exit_text()} (no output; log: {shown})"
        indented = "\n".join(f"    {line}" for line in lines.splitlines())
        return f"{self.exit_text()}; last lines of {shown}:\n{indented}"

    async def exited_soon(self, seconds: float = _EXIT_NOTICE_SECONDS) -> bool:
        """Whether the process is gone, or goes within ``seconds`` (a call that failed may
        have seen the connection drop a moment before the process was reaped)."""
        deadline = time.monotonic() + seconds
        while self.exit_code is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


class Services:
    """Starts the run's services in declaration order and stops them in reverse."""

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        log_dir: Path,
        mock_address: str,
        on_death: Callable[[RunningService], None] | None = None,
    ) -> None:
        self.specs = list(specs)
        self.log_dir = log_dir
        self.mock_address = mock_address
        self.on_death = on_death
        self.running: dict[str, RunningService] = {}
        self._watcher: asyncio.Task[None] | None = None

    def get(self, name: str) -> RunningService | None:
        return self.running.get(name)

    def targets(self) -> dict[str, Target]:
        return {s.name: t for s in self.specs if (t := s.target) is not None}

    async def start(self) -> None:
        """Start each service and wait until it is ready; ``StartupError`` says which one did
        not come up, and why, with its last output lines (the others are stopped then)."""
        try:
            for spec in self.specs:
                service = self._spawn(spec)
                self.running[spec.name] = service
                await self._wait_ready(service)
        except BaseException:
            await self.stop()
            raise
        if self.running:
            self._watcher = asyncio.create_task(self._watch())

    def _spawn(self, spec: ServiceSpec) -> RunningService:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"service-{spec.name}.log"
        env = service_environment(spec.env, self.mock_address)
        shell = isinstance(spec.command, str)
        try:
            with log.open("wb") as output:
                process = subprocess.Popen(
                    spec.command,
                    shell=shell,
                    cwd=spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: we stop all of it
                )
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the command or its env
            command = spec.command if shell else " ".join(spec.command)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StartupError(
                f"service {spec.name}: cannot start {command!r} in {spec.cwd}: {reason}",
                location=spec.where,
            ) from exc
        return RunningService(spec, process, log)

    async def _wait_ready(self, service: RunningService) -> None:
        spec = service.spec
        deadline = time.monotonic() + spec.startup_timeout
        last_problem = ""
        while True:
            if service.exit_code is not None:
                raise StartupError(
                    f"service {spec.name} did not come up: {service.death_report()}",
                    location=spec.where,
                )
            try:
                if await _is_ready(spec, max(0.1, deadline - time.monotonic())):
                    return
            except ReadinessUnknown as exc:
                last_problem = str(exc)
            if time.monotonic() >= deadline:
                lines = service.last_lines()
                shown = "\n".join(f"    {line}" for line in lines.splitlines()) or "    (none)"
                waited = f"{spec.ready} check at {spec.address}"
                why = f" ({last_problem})" if last_problem else ""
                raise StartupError(
                    f"service {spec.name} did not come up within {spec.startup_timeout:g}s "
                    f"({waited} never succeeded{why}); last lines of {_display(service.log)}:\n"
                    f"{shown}",
                    location=spec.where,
                )
            await asyncio.sleep(_POLL_SECONDS)

    async def _watch(self) -> None:
        """Notice a service that dies while the run goes on."""
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            self._report_deaths()

    def _report_deaths(self) -> None:
        """Tell ``on_death`` of each service that died on its own, once."""
        for service in self.running.values():
            if service.stopping or service.death_reported or service.exit_code is None:
                continue
            service.death_reported = True
            if self.on_death is not None:
                self.on_death(service)

    async def stop(self) -> None:
        """SIGTERM every group, wait for the grace period, SIGKILL what is left."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        self._report_deaths()  # one that died since the last look is still worth a word
        services = list(reversed(self.running.values()))
        for service in services:
            service.stopping = True
            service.signal_group(signal.SIGTERM)
        for service in services:
            deadline = time.monotonic() + service.spec.stop_timeout
            while service.exit_code is None and time.monotonic() < deadline:
                await asyncio.sleep(_POLL_SECONDS)
            service.signal_group(signal.SIGKILL)  # the group: children outlive their parent
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=1)
        self.running.clear()

    def kill(self) -> None:
        """SIGKILL every group at once (an interrupted run's last resort; no event loop)."""
        for service in self.running.values():
            service.stopping = True
            service.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=1)
        self.running.clear()


class ReadinessUnknown(Exception):
    """The check could not say (e.g. health answered NOT_SERVING): keep waiting."""


async def _is_ready(spec: ServiceSpec, budget: float) -> bool:
    if spec.ready == "none" or spec.address is None:
        return True
    if spec.ready == "health":
        return await _health_serving(spec, min(budget, 1.0))
    target = spec.target
    assert target is not None
    host, _, port = target.address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), min(budget, 1.0)
        )
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _health_serving(spec: ServiceSpec, timeout: float) -> bool:
    """``grpc.health.v1.Health/Check`` for the whole server (service "") says SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2

    target = spec.target
    assert target is not None
    channel = open_channel(target)
    try:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        response = await check(health_pb2.HealthCheckRequest(), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return False
        raise ReadinessUnknown(f"health check: {exc.code().name}: {exc.details()}") from exc
    finally:
        await channel.close()
    if response.status == health_pb2.HealthCheckResponse.SERVING:
        return True
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    raise ReadinessUnknown(f"health check answered {status}")


def service_environment(extra: Mapping[str, str], mock_address: str) -> dict[str, str]:
    """The runner's environment, as if its virtualenv were activated, plus the mock's address
    and the service's own ``env`` (which wins)."""
    env = dict(os.environ)
    if sys.prefix != sys.base_prefix:  # run from a virtualenv: its python comes first on PATH
        bin_dir = str(Path(sys.executable).parent)
        env["VIRTUAL_ENV"] = sys.prefix
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONUNBUFFERED", "1")  # a Python service's last lines reach its log
    env[MOCK_ADDRESS_ENV] = mock_address
    env.update(extra)
    return env


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
