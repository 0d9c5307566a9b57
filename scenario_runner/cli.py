"""``scenario-run``: the command line. Turns our errors into messages and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .config import CONFIG_FILE, Options, build_options, read_config_file
from .errors import ConfigError, ProtoCompileError, ScenarioError
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
from .runner.processes import process_count, run_in_processes
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


def _load(
    options: Options, registry: ProtoRegistry, *, parse_outputs: bool = False
) -> tuple[Loader, LoadResult]:
    missing = [str(p) for p in options.paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}")
    files = discover(list(options.paths))
    if not files:
        shown = ", ".join(str(p) for p in options.paths)
        raise ConfigError(f"no scenario files (*.yaml, *.yml) in {shown}")
    loader = Loader(registry, parse_outputs=parse_outputs)
    return loader, loader.load(files)


def _selected(options: Options, loaded: LoadResult) -> list[Scenario | BrokenScenario]:
    items: list[Scenario | BrokenScenario] = sorted(
        [*loaded.scenarios, *loaded.broken], key=lambda item: item.order
    )
    shard = Shard.parse(options.shard) if options.shard else None

    def text(item: Scenario | BrokenScenario) -> str:
        return item.name  # SPEC §2: -k is an expression on scenario names

    def tags(item: Scenario | BrokenScenario) -> Sequence[str]:
        return item.tags if isinstance(item, Scenario) else ()

    # Broken files are always reported (like collection errors), whatever -k or --tag say.
    filtered = select(
        items,
        text=text,
        tags=tags,
        keyword=options.keyword,
        with_tags=options.tags,
        without_tags=options.skip_tags,
    )
    kept = {id(item) for item in filtered}
    chosen = [i for i in items if id(i) in kept or isinstance(i, BrokenScenario)]
    return shard.take(chosen) if shard else chosen


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
    started = time.perf_counter()
    try:
        registry = _compile(options)
        loader, loaded = _load(options, registry)
        global_stubs = [s for d in options.stubs for s in loader.load_stub_dir(d)]
        chosen = _selected(options, loaded)
    except ProtoCompileError as exc:
        return _startup_failure(options, f"protos do not compile:\n{exc}")
    except ConfigError as exc:
        return _startup_failure(options, str(exc))
    except ScenarioError as exc:
        return _startup_failure(options, f"--stubs: {exc}")
    if not chosen:
        return _startup_failure(options, "no scenario selected")
    reporter = ConsoleReporter(sys.stdout, verbosity=options.verbosity)
    reporter.start(len(chosen))
    results: list[ScenarioResult] = []
    for item in chosen:
        if isinstance(item, BrokenScenario):
            result = broken_result(item)
            results.append(result)
            reporter.scenario_finished(result)
    scenarios = [item for item in chosen if isinstance(item, Scenario)]
    code = EXIT_OK
    try:
        _execute(options, registry, scenarios, global_stubs, reporter, results)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except OSError as exc:
        return _startup_failure(options, f"cannot start the mock server: {exc}")
    except ScenarioError as exc:
        return _startup_failure(options, f"--stubs: {exc}")
    ordered = sorted(results, key=lambda r: r.order)
    _write_report(options, ordered)
    reporter.finish(ordered, time.perf_counter() - started)
    if code == EXIT_OK and any(r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in ordered):
        code = EXIT_FAILED
    return code


def _execute(
    options: Options,
    registry: ProtoRegistry,
    scenarios: Sequence[Scenario],
    global_stubs: Sequence[StubSource],
    reporter: ConsoleReporter,
    results: list[ScenarioResult],
) -> None:
    """Run the scenarios: big suites over one forked process per core, the rest here."""

    def finished(result: ScenarioResult) -> None:
        results.append(result)
        reporter.scenario_finished(result)

    def failed_already() -> bool:
        return options.fail_fast and any(
            r.outcome in (Outcome.FAILED, Outcome.ERRORED) for r in results
        )

    parallel = [s for s in scenarios if s.parallel]
    processes = process_count(len(parallel))
    if processes > 1:
        share = replace(options, workers=max(1, -(-options.workers // processes)))

        def child(
            part: Sequence[Scenario], send: OnResult, should_stop: Callable[[], bool]
        ) -> None:
            asyncio.run(_run_async(share, registry, part, global_stubs, send, should_stop))

        run_in_processes(parallel, processes, child, finished, fail_fast=options.fail_fast)
        scenarios = [s for s in scenarios if not s.parallel]
        if not scenarios:
            return
    asyncio.run(_run_async(options, registry, scenarios, global_stubs, finished, failed_already))


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
    mock.store.add(None, [_global_stub(source, registry) for source in global_stubs])
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


def _global_stub(source: StubSource, registry: ProtoRegistry) -> Stub:
    try:
        return build_stub(source.raw, source.method, registry, source=str(source.location))
    except ValueError as exc:
        raise source.document.error(f"invalid stub: {exc}", (*source.path, "output")) from exc


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
