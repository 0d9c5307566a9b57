"""The run engine: compile → load → select → start → run → report.

Every door onto scenario-run uses it: the command line parses options, hands them to a
``Run`` and prints what it observes; ``serve`` and the SDK reuse its ``Suite`` (protos,
stub files) and ``started`` (the mock and the services under test).

``Suite`` is the part without network: protos, scenario files, selection. ``started`` opens
what the scenarios need (the mock, the services the config declares, the targets) and
closes it again whatever happens. ``Run.execute`` conducts the whole run, spreading a large
suite over forked worker processes, and writes the JUnit report.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from . import collector
from .config import Options
from .errors import ConfigError, ProtoCompileError, ScenarioError, ScenarioFileError, StartupError
from .mock.backend import EmbeddedMock, MockBackend
from .mock.stubs import Stub, build_stub
from .protos import ProtoRegistry, compile_protos
from .report.junit import write_junit
from .results import Outcome, Problem, ScenarioResult
from .runner.context import RunContext, RunOptions
from .runner.engine import NOT_RUN_INTERRUPTED, OnResult, broken_result, run_all
from .runner.processes import Entry, WorkerPool, entry_of, process_count
from .runner.select import Shard, select
from .runner.services import RunningService, Services, ServiceSpec
from .runner.split import Named, Part, Share, file_size, needs_whole_load, split_shares
from .runner.targets import Target
from .scenario.loader import BrokenScenario, Loader, LoadResult, PieceUnreadable, discover
from .scenario.model import Scenario, StubSource
from .scenario.yamlsource import DocumentCache
from .sessions import SessionService
from .templating import TemplateProblem, Templates

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_START, EXIT_INTERRUPTED = 0, 1, 2, 130

Item = Scenario | BrokenScenario


class Suite:
    """Protos, scenario files and selection: everything a run knows before it starts."""

    def __init__(self, options: Options, *, parse_outputs: bool = True) -> None:
        self.options = options
        self.registry = self._compile()
        # What can be known before running is checked while loading, for a run as for
        # `validate`: the names --var defines, the targets a step may call.
        targets = [*options.targets, *(s.name for s in options.services if s.address)]
        cache = options.cache_dir
        documents = DocumentCache(cache / "documents") if cache is not None else None
        self.loader = Loader(
            self.registry,
            parse_outputs=parse_outputs,
            documents=documents,
            option_vars=options.vars,
            targets=targets,
        )

    def _compile(self) -> ProtoRegistry:
        options = self.options
        return compile_protos(
            list(options.protos), list(options.import_paths), cache_dir=options.cache_dir
        )

    def files(self) -> list[Path]:
        missing = [str(p) for p in self.options.paths if not p.exists()]
        if missing:
            raise ConfigError(f"no such file or folder: {', '.join(missing)}")
        files = discover(list(self.options.paths))
        if not files:
            shown = ", ".join(str(p) for p in self.options.paths)
            raise ConfigError(f"no scenario files (*.yaml, *.yml) in {shown}")
        return files

    def load(self) -> LoadResult:
        return self.loader.load(self.files())

    def load_slice(self, files: Sequence[tuple[int, Path]]) -> list[Item]:
        items: list[Item] = []
        with collector.loading():
            for index, path in files:
                scenarios, broken = self.loader.load_file(path, index)
                items.extend(scenarios)
                items.extend(broken)
        return sorted(items, key=lambda item: item.order)

    def load_share(self, parts: Sequence[Part]) -> tuple[list[Item], set[int]]:
        """A process's share of the suite; and the files a piece of which does not read
        alone (loaded whole by the parent instead)."""
        items: list[Item] = []
        troubled: set[int] = set()
        with collector.loading():
            for part in parts:
                try:
                    scenarios, broken = self.loader.load_file(
                        part.path, part.index, None if part.whole else part
                    )
                except PieceUnreadable:
                    troubled.add(part.index)
                    continue
                items.extend(scenarios)
                items.extend(broken)
        return sorted(items, key=lambda item: item.order), troubled

    def global_stubs(self, skipped: list[ScenarioFileError] | None = None) -> list[StubSource]:
        """The ``--stubs`` folders' GripMock stubs, checked against the protos. With
        ``skipped``, a stub that cannot be served is left out and said there (GripMock
        loads the others and answers them); without, it is an error."""
        return [s for d in self.options.stubs for s in self.loader.load_stub_dir(d, skipped)]

    def choose(self, entries: Sequence[Entry]) -> list[Entry]:
        """-k, --tag, --skip-tag, then --shard, over every scenario in the stable order.

        Broken files are always reported (like collection errors), whatever -k or --tag say."""
        options = self.options
        filtered = select(
            entries,
            text=lambda e: e.name,  # SPEC §2: -k is an expression on scenario names
            tags=lambda e: e.tags,
            keyword=options.keyword,
            with_tags=options.tags,
            without_tags=options.skip_tags,
        )
        kept = {e.order for e in filtered}
        chosen = [e for e in entries if e.order in kept or e.broken is not None]
        return Shard.parse(options.shard).take(chosen) if options.shard else chosen

    def selected(self, loaded: LoadResult) -> list[Item]:
        items: list[Item] = [*loaded.scenarios, *loaded.broken]
        items.sort(key=lambda item: item.order)
        chosen = {e.order for e in self.choose([entry(item) for item in items])}
        return [item for item in items if item.order in chosen]


def entry(item: Item) -> Entry:
    return entry_of(item, broken_result(item) if isinstance(item, BrokenScenario) else None)


def build_global_stubs(
    sources: Sequence[StubSource],
    registry: ProtoRegistry,
    skipped: list[ScenarioFileError] | None = None,
) -> list[Stub]:
    """The served form of global stubs; one whose output does not fit is an error, or, with
    ``skipped``, left out and said there."""
    stubs = []
    for source in sources:
        try:
            stubs.append(
                build_stub(source.raw, source.method, registry, source=str(source.location))
            )
        except ValueError as exc:
            problem = source.document.error(f"invalid stub: {exc}", (*source.path, "output"))
            if skipped is None:
                raise problem from exc
            skipped.append(problem)
    return stubs


# -- starting what the scenarios need ------------------------------------------------------


class Observer(Protocol):
    """What a door onto the engine hears of a run while it goes on."""

    def run_started(self, total: int) -> None: ...

    def scenario_finished(self, result: ScenarioResult) -> None: ...

    def notice(self, text: str) -> None:
        """Something the user should know at once (a service died)."""
        ...


@dataclass
class StartParts:
    """What ``started`` needs besides the options."""

    registry: ProtoRegistry
    global_stubs: Sequence[Stub] = ()
    notice: Callable[[str], None] = lambda text: None
    # Every ``Services`` started, so an interrupted run can kill what is left without a loop.
    services: list[Services] = field(default_factory=list)


@contextlib.asynccontextmanager
async def started(options: Options, parts: StartParts) -> AsyncIterator[RunContext]:
    """The mock, then the services, then the targets; closed in reverse whatever happens.

    ``StartupError`` when the mock cannot listen or a service does not come up."""
    store = open_sessions_db(options.sessions_db) if options.sessions_db else None
    templates = Templates()
    mock = await _start_mock(options, parts, store, templates)
    services: Services | None = None
    ctx: RunContext | None = None
    try:
        names = {
            "mock": {"address": mock.address},
            "env": dict(os.environ),
            "free_port": FreePorts(),
        }
        specs = [_render_service(spec, templates, names) for spec in options.services]

        def died(service: RunningService) -> None:
            parts.notice(service.death_report())

        services = Services(specs, options.report_dir, mock.address, died)
        parts.services.append(services)
        await services.start()
        targets = {
            name: _render_target(target, templates, names)
            for name, target in options.targets.items()
        }
        targets.update(services.targets())
        run_options = RunOptions(
            vars=_render_vars(options.vars, templates, names),
            targets=targets,
            workers=options.workers,
            fail_fast=options.fail_fast,
            keep_sessions=options.sessions_db is not None,
        )
        ctx = RunContext(parts.registry, mock, run_options, templates, services)
        yield ctx
    finally:
        if ctx is not None:
            await ctx.close()
        if services is not None:
            await services.stop()
        await mock.aclose()


def open_sessions_db(path: Path) -> SessionService:
    """``--sessions-db FILE``, its folder made if need be; ``StartupError`` in one line when
    it cannot be opened."""
    import sqlite3  # only when a run asks for the file

    from .sessions.sqlite import SqliteSessionService

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteSessionService(path)
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(f"--sessions-db {path}: cannot open it: {exc}") from exc


class FreePorts:
    """``{{ free_port('orders') }}`` in scenario-run.yaml: a TCP port free on this machine,
    the same one for the same name throughout the run (a service's ``env`` and its
    ``address`` agree), so runs side by side never fight over a port."""

    def __init__(self) -> None:
        self._chosen: dict[str, int] = {}

    def __call__(self, name: str = "") -> int:
        port = self._chosen.get(name)
        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            self._chosen[name] = port
        return port


async def _start_mock(
    options: Options, parts: StartParts, store: SessionService | None, templates: Templates
) -> MockBackend:
    """The embedded mock, listening; or the client of the remote one, which answers."""
    if options.remote:
        from .remote.client import RemoteMock  # httpx only for remote runs

        assert options.admin is not None
        remote = RemoteMock(
            options.remote,
            options.admin,
            store=store,
            templates=templates,
            global_stubs=parts.global_stubs,
        )
        try:
            await remote.start()
        except BaseException:
            await remote.aclose()
            raise
        return remote
    embedded = EmbeddedMock(
        parts.registry, store, parts.global_stubs, templates, keep_in_batches=True
    )
    try:
        await embedded.start(options.mock_listen, local_socket=_local_socket_allowed())
    except OSError as exc:
        await embedded.aclose()
        raise StartupError(f"the mock cannot listen on {options.mock_listen}: {exc}") from exc
    return embedded


LOCAL_SOCKET_ENV = "SCENARIO_RUN_LOCAL_SOCKET"


def _local_socket_allowed() -> bool:
    """The runner's own calls to the embedded mock go through a Unix socket (Linux) unless
    ``SCENARIO_RUN_LOCAL_SOCKET=0``; services under test always call its TCP address."""
    return os.environ.get(LOCAL_SOCKET_ENV, "").strip() != "0"


def _render(value: Any, templates: Templates, names: Mapping[str, Any], where: str) -> Any:
    try:
        return templates.render(value, names)
    except TemplateProblem as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _render_service(
    spec: ServiceSpec, templates: Templates, names: Mapping[str, Any]
) -> ServiceSpec:
    where = f"service {spec.name!r}"
    if spec.where is not None:
        where = f"{spec.where}: {where}"
    command = spec.command
    rendered_command: str | tuple[str, ...] = (
        str(_render(command, templates, names, where))
        if isinstance(command, str)
        else tuple(str(_render(part, templates, names, where)) for part in command)
    )
    address = spec.address
    if address is not None:
        address = str(_render(address, templates, names, where))
        Target.parse(spec.name, address, spec.tls, spec.where)  # a HOST:PORT once rendered
    return replace(
        spec,
        command=rendered_command,
        cwd=Path(str(_render(str(spec.cwd), templates, names, where))),
        env={k: str(_render(v, templates, names, where)) for k, v in spec.env.items()},
        address=address,
    )


def _render_target(target: Target, templates: Templates, names: Mapping[str, Any]) -> Target:
    if not Templates.is_template(target.address):
        return target
    url = str(_render(target.url, templates, names, f"target {target.name!r}"))
    return Target.parse(target.name, url, target.tls, target.where)


def _render_vars(
    values: Mapping[str, Any], templates: Templates, names: Mapping[str, Any]
) -> dict[str, Any]:
    return {k: _render(v, templates, names, f"var {k!r}") for k, v in values.items()}


# -- the run -------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a run produced; ``exit_code`` as SPEC §2 defines it."""

    results: list[ScenarioResult]
    elapsed: float
    interrupted: bool = False
    startup_problem: str | None = None  # set when the run could not start (exit 2)
    report_problem: str | None = None  # the JUnit file could not be written

    @property
    def exit_code(self) -> int:
        if self.startup_problem is not None:
            return EXIT_CANNOT_START
        if self.interrupted:
            return EXIT_INTERRUPTED
        if any(r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in self.results):
            return EXIT_FAILED
        return EXIT_OK


class Run:
    """One ``scenario-run`` run, from options to the JUnit file."""

    def __init__(self, options: Options, observer: Observer) -> None:
        self.options = options
        self.observer = observer
        self.results: list[ScenarioResult] = []
        self._services: list[Services] = []

    def execute(self) -> RunReport:
        started_at = time.perf_counter()
        with collector.run_settings(), _terminate_as_interrupt():
            try:
                interrupted = self._execute()
            except StartupError as exc:
                return self._cannot_start(str(exc), started_at)
            finally:
                for services in self._services:  # after Ctrl-C: nothing may outlive the run
                    services.kill()
        ordered = sorted(self.results, key=lambda r: r.order)
        report = RunReport(ordered, time.perf_counter() - started_at, interrupted)
        report.report_problem = self._write(ordered)
        return report

    def _execute(self) -> bool:
        """Run everything; whether the run was interrupted. ``StartupError`` if it cannot
        start."""
        options = self.options
        try:
            suite = Suite(options)
            files = suite.files()
            skipped: list[ScenarioFileError] = []
            global_stubs = build_global_stubs(suite.global_stubs(skipped), suite.registry, skipped)
            for problem in skipped:  # the other stubs load and answer, as GripMock's do
                self.observer.notice(f"--stubs: a stub left out: {problem}")
            if options.shard:
                Shard.parse(options.shard)
        except ProtoCompileError as exc:
            raise StartupError(f"protos do not compile: {exc}") from exc
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc
        except ScenarioError as exc:
            raise StartupError(f"--stubs: {exc}") from exc
        if options.sessions_db is not None:
            open_sessions_db(options.sessions_db).close()  # a store that cannot open: exit 2
        indexed = list(enumerate(files))
        shares: list[Share] = []
        if not _needs_one_process(options):
            sizes = [file_size(path) for path in files]
            shares = split_shares(indexed, process_count(sum(sizes)), sizes)
        pool: WorkerPool | None = None
        chosen: list[Entry] = []
        try:
            here: set[int] = set()  # files whose scenarios run in this process
            if len(shares) > 1:
                pool = WorkerPool(
                    shares,
                    suite.load_share,
                    partial(self._run_slice, suite, global_stubs, len(shares)),
                    entry,
                )
                entries, troubled = pool.start()
                here = needs_whole_load(
                    (part for share in shares for part in share.parts),
                    (Named(e.order[0], e.order[1], e.name) for e in entries),
                    troubled,
                )
                loaded: dict[tuple[int, int], Scenario] = {}
                if here:
                    items = suite.load_slice([(index, files[index]) for index in sorted(here)])
                    entries = [e for e in entries if e.order[0] not in here]
                    entries += [entry(item) for item in items]
                    entries.sort(key=lambda e: e.order)
                    loaded = {i.order: i for i in items if isinstance(i, Scenario)}
            else:
                items = suite.load_slice(indexed)
                entries = [entry(item) for item in items]
                loaded = {item.order: item for item in items if isinstance(item, Scenario)}
            chosen = suite.choose(entries)
            if not chosen:
                raise StartupError("no scenario selected")
            self.observer.run_started(len(chosen))
            for item in chosen:
                if item.broken is not None:
                    self._finished(item.broken)
            runnable = [e for e in chosen if e.broken is None]
            if pool is not None:
                # Workers run the parallel scenarios; the `parallel: false` ones run here, alone
                # (and those of a file loaded here whole).
                there = [e for e in runnable if e.parallel and e.order[0] not in here]
                pool.run({e.order for e in there}, self._finished, fail_fast=options.fail_fast)
                serial = [e for e in runnable if not e.parallel and e.order[0] not in here]
                loaded.update(_reload(suite.loader, serial))
            scenarios = [loaded[e.order] for e in runnable if e.order in loaded]
            if scenarios:
                collector.freeze_loaded()
                asyncio.run(
                    self._run_here(
                        options, suite.registry, scenarios, global_stubs, self._failed_already
                    )
                )
        except KeyboardInterrupt:
            # What was running says "interrupted"; what had not started yet says so too.
            reported = {r.order for r in self.results}
            for item in chosen:
                if item.order not in reported:
                    self._finished(item.skipped(NOT_RUN_INTERRUPTED))
            return True
        except StartupError:
            raise
        except ScenarioError as exc:  # a config value that does not render, a dead worker
            raise StartupError(str(exc)) from exc
        finally:
            if pool is not None:
                pool.close()
        return False

    def _finished(self, result: ScenarioResult) -> None:
        self.results.append(result)
        self.observer.scenario_finished(result)

    def _failed_already(self) -> bool:
        return self.options.fail_fast and any(
            r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in self.results
        )

    def _run_slice(
        self,
        suite: Suite,
        global_stubs: Sequence[Stub],
        processes: int,
        part: Iterable[Scenario],
        send: OnResult,
        stop: Callable[[], bool],
    ) -> None:
        """A worker process's share (called in the child, after the fork)."""
        collector.freeze_loaded()
        share = replace(self.options, workers=max(1, math.ceil(self.options.workers / processes)))
        asyncio.run(self._run_here(share, suite.registry, part, global_stubs, stop, send))

    async def _run_here(
        self,
        options: Options,
        registry: ProtoRegistry,
        scenarios: Iterable[Scenario],
        global_stubs: Sequence[Stub],
        should_stop: Callable[[], bool],
        on_result: OnResult | None = None,
    ) -> None:
        parts = StartParts(registry, global_stubs, self.observer.notice, self._services)
        async with started(options, parts) as ctx:
            await run_all(scenarios, ctx, on_result or self._finished, should_stop)

    def _cannot_start(self, message: str, started_at: float) -> RunReport:
        result = cannot_start_result(message)
        report = RunReport([result], time.perf_counter() - started_at, startup_problem=message)
        report.report_problem = write_report(self.options.junit_xml, [result])
        return report

    def _write(self, results: Sequence[ScenarioResult]) -> str | None:
        return write_report(self.options.junit_xml, results)


def cannot_start_result(message: str, kind: str = "StartupError") -> ScenarioResult:
    """The one errored test case of a run that could not start, saying why."""
    return ScenarioResult(
        file="scenario-run",
        name="run could not start",
        outcome=Outcome.ERRORED,
        problem=Problem(message.splitlines()[0], message, kind),
        timestamp=time.time(),
    )


def write_report(path: Path, results: Sequence[ScenarioResult]) -> str | None:
    """Write the JUnit file; what went wrong, when it could not be written."""
    try:
        write_junit(path, results)
    except OSError as exc:
        return f"cannot write {path}: {exc}"
    return None


def _needs_one_process(options: Options) -> bool:
    """Services and a fixed mock port call for one mock, so for one process."""
    port = options.mock_listen.rpartition(":")[2]
    return bool(options.services) or port not in ("", "0")


def _reload(loader: Loader, entries: Sequence[Entry]) -> dict[tuple[int, int], Scenario]:
    """The scenarios of these entries, loaded here (workers only report what they hold)."""
    wanted = {e.order for e in entries}
    found: dict[tuple[int, int], Scenario] = {}
    for file_index in sorted({e.order[0] for e in entries}):
        path = Path(next(e.file for e in entries if e.order[0] == file_index))
        scenarios, _ = loader.load_file(path, file_index)
        found.update({s.order: s for s in scenarios if s.order in wanted})
    return found


@contextlib.contextmanager
def _terminate_as_interrupt() -> Any:
    """SIGTERM (a CI job cancelled) ends the run as Ctrl-C does: what finished is reported
    and every service is stopped. Only in the main thread, where signals can be handled."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    signal.raise_signal(signal.SIGINT)
