"""``scenario-run serve``: the gRPC mock and its admin HTTP API on one asyncio loop.

Start: compile the protos, load the global stub files, open the store and take back what it
kept, bind both ports (a port in use is a clear error, exit 2), start gRPC (the mock's
services, reflection, health) and uvicorn, then print one line saying where they listen.
SIGTERM or SIGINT: readiness turns false, new calls are refused, the calls in flight finish
(for up to ``SHUTDOWN_GRACE`` seconds), the mock's history is written to the store, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from ..config import Options
from ..engine import Suite, build_global_stubs
from ..errors import ScenarioError, ScenarioFileError
from ..protos import ProtoRegistry
from ..sessions import InMemorySessionService, SessionService
from ..sessions.sqlite_shared import SharedSqliteSessionService
from .admin import create_app
from .core import SharedMock
from .grpc_services import extra_services, health_servicer, set_serving
from .options import POSTGRES_PREFIXES, SQLITE_PREFIX, ServeOptions, bind_http, port_in_use
from .stub_input import PostedStub

SHUTDOWN_GRACE = 10.0  # seconds the calls in flight get to finish on SIGTERM


class StartError(ScenarioError):
    """The server cannot start (a port in use, a store that cannot be opened)."""


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the serve command owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def open_store(store: str) -> SessionService:
    if store == "memory":
        return InMemorySessionService()
    if store.startswith(POSTGRES_PREFIXES):
        # Imported here only: a run, and a serve on another store, never load psycopg.
        from ..sessions.model import StoreError
        from ..sessions.postgres import PostgresSessionService

        try:
            return PostgresSessionService(store)
        except StoreError as exc:
            raise StartError(f"--store: {exc}") from exc
        except Exception as exc:  # psycopg's errors: a URL it cannot read, a refused login
            raise StartError(f"--store {store}: {type(exc).__name__}: {exc}") from exc
    path = Path(store[len(SQLITE_PREFIX) :])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SharedSqliteSessionService(path)
    except Exception as exc:  # sqlite3.Error, OSError: the file cannot be used
        raise StartError(f"--store {store}: cannot open {path}: {exc}") from exc


def global_stubs(suite: Suite) -> list[PostedStub]:
    """The ``--stubs`` files, checked like a run's: a stub that cannot be served is left out
    (said on stderr) and the others are served, as GripMock does."""
    skipped: list[ScenarioFileError] = []
    built = build_global_stubs(suite.global_stubs(skipped), suite.registry, skipped)
    for problem in skipped:
        print(f"scenario-run serve: --stubs: a stub left out: {problem}", file=sys.stderr)
    return [PostedStub({**stub.raw, "id": stub.id}, stub) for stub in built]


async def run(options: ServeOptions) -> int:
    suite = Suite(
        Options(
            protos=options.protos,
            import_paths=options.import_paths,
            stubs=options.stubs,
            cache_dir=options.cache_dir,
        )
    )
    registry = suite.registry
    file_stubs = global_stubs(suite)
    for address, option in ((options.grpc, "--grpc"), (options.http, "--http")):
        problem = port_in_use(address, options.reuse_port)
        if problem:
            raise StartError(f"{option} {address.show()}: cannot listen: {problem}")
    service = open_store(options.store)
    try:
        return await _serve(options, registry, file_stubs, service)
    finally:
        service.close()


async def _serve(
    options: ServeOptions,
    registry: ProtoRegistry,
    file_stubs: list[PostedStub],
    service: SessionService,
) -> int:
    mock = SharedMock(
        registry,
        service,
        default_ttl=options.session_ttl,
        persistent=options.store != "memory",
    )
    restored = await mock.restore(file_stubs)
    try:
        http_socket = bind_http(options.http, options.reuse_port)
    except OSError as exc:
        await mock.close()
        raise StartError(f"--http {options.http.show()}: cannot listen: {exc.strerror}") from exc
    health = health_servicer()
    try:
        grpc_port = await mock.mock.start(
            options.grpc.show(),
            services=extra_services(registry, health),
            reuse_port=options.reuse_port,
        )
    except OSError as exc:
        http_socket.close()
        await mock.close()
        raise StartError(f"--grpc {options.grpc.show()}: cannot listen ({exc})") from exc
    await set_serving(health, registry, True)
    config = uvicorn.Config(
        create_app(mock, options.admin_token),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    http = _Uvicorn(config)
    http_task = asyncio.create_task(http.serve(sockets=[http_socket]))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():
        await mock.mock.stop(grace=None)
        http_socket.close()
        await mock.close()
        raise StartError(f"--http {options.http.show()}: the admin API did not start")
    mock.ready = True
    http_port = http_socket.getsockname()[1]
    _announce(options, registry, grpc_port, http_port, len(file_stubs), restored)
    sweeper = asyncio.create_task(mock.run_sweeper())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({stopped, http_task}, return_when=asyncio.FIRST_COMPLETED)
    # Shutting down: no new work; the calls and requests in flight finish.
    mock.ready = False
    await set_serving(health, registry, False)
    http.should_exit = True
    await asyncio.gather(mock.mock.stop(grace=SHUTDOWN_GRACE), http_task, return_exceptions=True)
    sweeper.cancel()
    stopped.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await mock.close()
    http_socket.close()
    if not stop.is_set():  # the HTTP server ended by itself: not a clean stop
        print("scenario-run serve: error: the admin API stopped", file=sys.stderr, flush=True)
        return 1
    print("scenario-run serve: stopped", file=sys.stderr, flush=True)
    return 0


def _announce(
    options: ServeOptions,
    registry: ProtoRegistry,
    grpc_port: int,
    http_port: int,
    stubs: int,
    restored: int,
) -> None:
    ttl = f"{options.session_ttl:g}s" if options.session_ttl else "off"
    kept = f", {restored} session(s) restored" if restored else ""
    print(
        f"scenario-run serve: gRPC on {options.grpc.show(grpc_port)}, admin API on "
        f"http://{options.http.show(http_port)} ({len(registry.services)} service(s), "
        f"{stubs} global stub(s), store {options.store}, session TTL {ttl}{kept})",
        flush=True,
    )
