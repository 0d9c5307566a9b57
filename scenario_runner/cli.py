"""``scenario-run``: the command line. Turns our errors into messages and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from . import __version__, collector
from .config import CONFIG_FILE, Options, build_options, read_config_file
from .errors import ConfigError, HarnessError, ProtoCompileError, ScenarioError, ScenarioFileError
from .mock.hub import APP_NAME, USER_ID, SessionHub
from .mock.server import MockServer
from .mock.stubs import Stub, build_stub
from .protos import ProtoRegistry, compile_protos
from .report.console import ConsoleReporter
from .report.eventlog import format_events
from .report.junit import write_junit
from .results import Outcome, Problem, ScenarioResult
from .runner.context import RunContext, RunOptions
from .runner.engine import OnResult, broken_result, run_all
from .runner.processes import Entry, WorkerPool, entry_of, process_count
from .runner.select import Shard, select
from .scenario.loader import BrokenScenario, Loader, LoadResult, discover
from .scenario.model import Scenario, StubSource
from .scenario.schema import schema_text
from .sessions import InMemorySessionService, SessionNotFoundError, SqliteSessionService

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_START, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("run", "validate", "list", "schema", "sessions")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    try:
        if command == "schema":
            sys.stdout.write(schema_text())
            return EXIT_OK
        if command == "sessions":
            return _sessions_command(args)
        parser = _parser(command)
        namespace = parser.parse_args(args)
        options = build_options(vars(namespace), read_config_file(Path(CONFIG_FILE)))
        if command == "validate":
            return _validate(options)
        if command == "list":
            return _list(options)
        return _run(options)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_CANNOT_START
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `scenario-run … | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# -- arguments ---------------------------------------------------------------------------


def _parser(command: str) -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="scenario-run" if command == "run" else f"scenario-run {command}",
        description="Run declarative gRPC test scenarios against an embedded mock server.",
        epilog="commands: validate, list, schema, sessions show ID (see README)",
    )
    parser.add_argument("paths", nargs="*", help="scenario files or folders (default: scenarios/)")
    parser.add_argument("--protos", action="append", metavar="DIR|FILE", help="default: protos/")
    parser.add_argument("-I", "--import-path", dest="import_paths", action="append", metavar="DIR")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="'greeter and not slow'")
    parser.add_argument("--tag", dest="tags", action="append", metavar="T")
    parser.add_argument("--skip-tag", dest="skip_tags", action="append", metavar="T")
    parser.add_argument("--shard", metavar="K/N")
    parser.add_argument("--stubs", action="append", metavar="DIR", help="global GripMock stubs")
    parser.add_argument("--var", dest="vars", action="append", metavar="KEY=VALUE")
    parser.add_argument("--vars-file", metavar="FILE")
    parser.add_argument("--target", dest="targets", action="append", metavar="NAME=HOST:PORT")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    if command == "run":
        parser.add_argument("--junit-xml", metavar="FILE", help="default: reports/junit.xml")
        parser.add_argument("--workers", type=int, metavar="N", help="concurrent scenarios")
        parser.add_argument("--fail-fast", action="store_true")
        parser.add_argument("--sessions-db", metavar="FILE", help="keep sessions in SQLite")
    parser.add_argument("--version", action="version", version=f"scenario-run {__version__}")
    return parser


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # bad options: exit 2, as the spec says
        self.print_usage(sys.stderr)
        raise ConfigError(message)


def _error(message: str, stream: TextIO | None = None) -> None:
    print(f"scenario-run: error: {message}", file=stream or sys.stderr)


# -- shared steps ------------------------------------------------------------------------


def _compile(options: Options) -> ProtoRegistry:
    return compile_protos(
        list(options.protos), list(options.import_paths), cache_dir=options.cache_dir
    )


def _discover(options: Options) -> list[Path]:
    missing = [str(p) for p in options.paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}")
    files = discover(list(options.paths))
    if not files:
        shown = ", ".join(str(p) for p in options.paths)
        raise ConfigError(f"no scenario files (*.yaml, *.yml) in {shown}")
    return files


def _load(
    options: Options, registry: ProtoRegistry, *, parse_outputs: bool = False
) -> tuple[Loader, LoadResult]:
    files = _discover(options)
    loader = Loader(registry, parse_outputs=parse_outputs)
    return loader, loader.load(files)


def _choose(options: Options, entries: Sequence[Entry]) -> list[Entry]:
    """-k, --tag, --skip-tag, then --shard, over every scenario in the stable order.

    Broken files are always reported (like collection errors), whatever -k or --tag say."""
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


def _selected(options: Options, loaded: LoadResult) -> list[Scenario | BrokenScenario]:
    items: list[Scenario | BrokenScenario] = [*loaded.scenarios, *loaded.broken]
    items.sort(key=lambda item: item.order)
    chosen = {e.order for e in _choose(options, [_entry(item) for item in items])}
    return [item for item in items if item.order in chosen]


def _load_slice(
    loader: Loader, files: Sequence[tuple[int, Path]]
) -> list[Scenario | BrokenScenario]:
    items: list[Scenario | BrokenScenario] = []
    for index, path in files:
        scenarios, broken = loader.load_file(path, index)
        items.extend(scenarios)
        items.extend(broken)
    return sorted(items, key=lambda item: item.order)


def _entry(item: Scenario | BrokenScenario) -> Entry:
    return entry_of(item, broken_result(item) if isinstance(item, BrokenScenario) else None)


# -- commands ----------------------------------------------------------------------------


def _validate(options: Options) -> int:
    try:
        registry = _compile(options)
        loader, loaded = _load(options, registry, parse_outputs=True)
        for directory in options.stubs:
            loader.load_stub_dir(directory)
    except ProtoCompileError as exc:
        _error(f"protos do not compile:\n{exc}")
        return EXIT_CANNOT_START
    except ScenarioError as exc:
        _error(str(exc))
        return EXIT_CANNOT_START
    for broken in loaded.broken:
        for error in broken.errors:
            print(error, file=sys.stderr)
    files = len({s.file for s in loaded.scenarios} | {b.file for b in loaded.broken})
    valid = len(loaded.scenarios)
    print(f"{valid} valid, {len(loaded.broken)} invalid scenario(s) in {files} file(s)")
    return EXIT_FAILED if loaded.broken else EXIT_OK


def _list(options: Options) -> int:
    try:
        registry = _compile(options)
        _, loaded = _load(options, registry)
    except ProtoCompileError as exc:
        _error(f"protos do not compile:\n{exc}")
        return EXIT_CANNOT_START
    for item in _selected(options, loaded):
        if isinstance(item, BrokenScenario):
            print(f"{item.file}::{item.name}  (invalid)")
        else:
            tags = f"  [{', '.join(item.tags)}]" if item.tags else ""
            skip = "  (skip)" if item.skip else ""
            print(f"{item.id}{tags}{skip}")
    return EXIT_OK


def _startup_failure(options: Options, message: str) -> int:
    _error(message)
    result = ScenarioResult(
        file="scenario-run",
        name="run could not start",
        outcome=Outcome.ERRORED,
        problem=Problem(message.splitlines()[0], message, "StartupError"),
        timestamp=time.time(),
    )
    _write_report(options, [result])
    return EXIT_CANNOT_START


def _write_report(options: Options, results: Sequence[ScenarioResult]) -> None:
    try:
        write_junit(options.junit_xml, results)
    except OSError as exc:
        _error(f"cannot write {options.junit_xml}: {exc}")


def _run(options: Options) -> int:
    with collector.run_settings():
        return _run_scenarios(options)


def _run_scenarios(options: Options) -> int:
    started = time.perf_counter()
    try:
        registry = _compile(options)
        files = _discover(options)
        loader = Loader(registry)
        skipped: list[ScenarioFileError] = []
        global_stubs = [s for d in options.stubs for s in loader.load_stub_dir(d, skipped)]
        for problem in skipped:  # the other stubs load and answer, as GripMock's do
            _error(f"--stubs: a stub left out: {problem}")
        if options.shard:
            Shard.parse(options.shard)
    except ProtoCompileError as exc:
        return _startup_failure(options, f"protos do not compile:\n{exc}")
    except ConfigError as exc:
        return _startup_failure(options, str(exc))
    except ScenarioError as exc:
        return _startup_failure(options, f"--stubs: {exc}")
    indexed = list(enumerate(files))
    processes = process_count(len(files))
    reporter = ConsoleReporter(sys.stdout, verbosity=options.verbosity)
    results: list[ScenarioResult] = []

    def finished(result: ScenarioResult) -> None:
        results.append(result)
        reporter.scenario_finished(result)

    def failed_already() -> bool:
        return options.fail_fast and any(
            r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in results
        )

    def run_slice(part: Sequence[Scenario], send: OnResult, stop: Callable[[], bool]) -> None:
        collector.freeze_loaded()
        share = replace(options, workers=max(1, math.ceil(options.workers / processes)))
        asyncio.run(_run_async(share, registry, part, global_stubs, send, stop))

    pool: WorkerPool | None = None
    code = EXIT_OK
    try:
        if processes > 1:
            pool = WorkerPool(indexed, processes, partial(_load_slice, loader), run_slice, _entry)
            entries = pool.start()
            loaded: dict[tuple[int, int], Scenario] = {}
        else:
            items = _load_slice(loader, indexed)
            entries = [_entry(item) for item in items]
            loaded = {item.order: item for item in items if isinstance(item, Scenario)}
        chosen = _choose(options, entries)
        if not chosen:
            return _startup_failure(options, "no scenario selected")
        reporter.start(len(chosen))
        for entry in chosen:
            if entry.broken is not None:
                finished(entry.broken)
        runnable = [e for e in chosen if e.broken is None]
        if pool is not None:
            # Workers run the parallel scenarios; the `parallel: false` ones run here, alone.
            pool.run({e.order for e in runnable}, finished, fail_fast=options.fail_fast)
            loaded = _reload(loader, [e for e in runnable if not e.parallel])
        scenarios = [loaded[e.order] for e in runnable if e.order in loaded]
        if scenarios:
            collector.freeze_loaded()
            asyncio.run(
                _run_async(options, registry, scenarios, global_stubs, finished, failed_already)
            )
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except OSError as exc:
        return _startup_failure(options, f"cannot start the mock server: {exc}")
    except HarnessError as exc:
        return _startup_failure(options, str(exc))
    except ScenarioError as exc:
        return _startup_failure(options, f"--stubs: {exc}")
    finally:
        if pool is not None:
            pool.close()
    ordered = sorted(results, key=lambda r: r.order)
    _write_report(options, ordered)
    reporter.finish(ordered, time.perf_counter() - started)
    if code == EXIT_OK and any(r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in ordered):
        code = EXIT_FAILED
    return code


def _reload(loader: Loader, entries: Sequence[Entry]) -> dict[tuple[int, int], Scenario]:
    """The scenarios of these entries, loaded here (workers only report what they hold)."""
    wanted = {e.order for e in entries}
    found: dict[tuple[int, int], Scenario] = {}
    for file_index in sorted({e.order[0] for e in entries}):
        path = Path(next(e.file for e in entries if e.order[0] == file_index))
        scenarios, _ = loader.load_file(path, file_index)
        found.update({s.order: s for s in scenarios if s.order in wanted})
    return found


async def _run_async(
    options: Options,
    registry: ProtoRegistry,
    scenarios: Sequence[Scenario],
    global_stubs: Sequence[StubSource],
    on_result: OnResult,
    should_stop: Callable[[], bool],
) -> None:
    store = SqliteSessionService(options.sessions_db) if options.sessions_db else None
    hub = SessionHub(store or InMemorySessionService())
    mock = MockServer(registry, hub=hub)
    built = [_global_stub(source, registry) for source in global_stubs]
    mock.store.add(None, [stub for stub in built if stub is not None])
    await mock.start()
    ctx = RunContext(
        registry,
        mock,
        RunOptions(
            vars=options.vars,
            targets=options.targets,
            workers=options.workers,
            fail_fast=options.fail_fast,
            keep_sessions=options.sessions_db is not None,
        ),
    )
    try:
        await run_all(scenarios, ctx, on_result, should_stop)
    finally:
        await ctx.close()
        await mock.stop(grace=None)
        if store is not None:
            store.close()


def _global_stub(source: StubSource, registry: ProtoRegistry) -> Stub | None:
    """A ``--stubs`` stub; one that cannot be served is left out (said on stderr)."""
    try:
        return build_stub(source.raw, source.method, registry, source=str(source.location))
    except ValueError as exc:
        problem = source.document.error(f"invalid stub: {exc}", (*source.path, "output"))
        _error(f"--stubs: a stub left out: {problem}")
        return None


# -- sessions show -----------------------------------------------------------------------


def _sessions_command(args: list[str]) -> int:
    parser = _ArgumentParser(
        prog="scenario-run sessions", description="Inspect sessions kept with --sessions-db."
    )
    parser.add_argument("action", choices=["show", "list"])
    parser.add_argument("session_id", nargs="?")
    parser.add_argument("--sessions-db", required=True, metavar="FILE")
    namespace = parser.parse_args(args)
    path = Path(namespace.sessions_db)
    if not path.is_file():
        raise ConfigError(f"no such sessions database: {path}")
    return asyncio.run(_sessions_async(namespace.action, namespace.session_id, path))


async def _sessions_async(action: str, session_id: str | None, path: Path) -> int:
    service = SqliteSessionService(path)
    try:
        if action == "list" or not session_id:
            for session in await service.list(APP_NAME):
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(session.last_update_time))
                print(f"{session.id}  {stamp}")
            return EXIT_OK
        try:
            session = await service.get(APP_NAME, USER_ID, session_id)
        except SessionNotFoundError:
            _error(f"no session {session_id!r} in {path}")
            return EXIT_FAILED
        print(f"session {session.id}")
        print("state:")
        for key, value in session.state.items():
            print(f"  {key}: {value!r}")
        print(f"events ({len(session.events)}):")
        sys.stdout.write(format_events(session.events))
        return EXIT_OK
    finally:
        service.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
