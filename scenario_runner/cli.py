"""``scenario-run``: the command line. Turns our errors into messages and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .config import CONFIG_FILE, Options, build_options, read_config_file
from .engine import (
    EXIT_CANNOT_START,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Run,
    Suite,
    build_global_stubs,
)
from .errors import ConfigError, ProtoCompileError, ScenarioError, ScenarioFileError
from .mock.hub import APP_NAME, USER_ID
from .report.console import ConsoleReporter
from .report.eventlog import format_events
from .report.junit import write_junit
from .results import Outcome, Problem, ScenarioResult
from .scenario.loader import BrokenScenario
from .scenario.schema import schema_text
from .sessions import SessionNotFoundError, SqliteSessionService

COMMANDS = ("run", "validate", "list", "schema", "sessions", "serve")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    junit: list[Path] = []  # where a run that cannot start says why, once known
    try:
        if command == "schema":
            sys.stdout.write(schema_text())
            return EXIT_OK
        if command == "sessions":
            return _sessions_command(args)
        if command == "serve":  # imported here: a run never loads the admin API's libraries
            from .serve.command import main as serve

            return serve(args)
        parser = _parser(command)
        namespace = parser.parse_args(args)
        junit.append(Path(getattr(namespace, "junit_xml", None) or Options().junit_xml))
        config = read_config_file(Path(CONFIG_FILE))
        if not getattr(namespace, "junit_xml", None) and config.get("junit_xml"):
            junit.insert(0, Path(str(config.get("junit_xml"))))
        options = build_options(vars(namespace), config)
        if command == "validate":
            return _validate(options)
        if command == "list":
            return _list(options)
        return _run(options)
    except ConfigError as exc:
        _error(str(exc))
        if command == "run":  # the JUnit file still says why, as for any run that cannot start
            _report_cannot_start(junit[0] if junit else Options().junit_xml, exc)
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
        epilog="commands: validate, list, schema, sessions show ID, serve (see README)",
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
        parser.add_argument(
            "--mock-listen", metavar="HOST:PORT", help="where the mock listens (default: any port)"
        )
        parser.add_argument(
            "--remote", metavar="HOST:PORT", help="use a running `scenario-run serve` (gRPC)"
        )
        parser.add_argument(
            "--admin", metavar="URL", help="its admin API (default: http://HOST:4771)"
        )
    parser.add_argument("--version", action="version", version=f"scenario-run {__version__}")
    return parser


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # bad options: exit 2, as the spec says
        self.print_usage(sys.stderr)
        raise ConfigError(message)


def _report_cannot_start(path: Path, problem: ConfigError) -> None:
    result = ScenarioResult(
        file="scenario-run",
        name="run could not start",
        outcome=Outcome.ERRORED,
        problem=Problem(problem.headline(), str(problem), "ConfigError"),
        timestamp=time.time(),
    )
    try:
        write_junit(path, [result])
    except OSError as exc:
        _error(f"cannot write {path}: {exc}")


def _error(message: str, stream: TextIO | None = None) -> None:
    print(f"scenario-run: error: {message}", file=stream or sys.stderr)


# -- commands ----------------------------------------------------------------------------


def _validate(options: Options) -> int:
    try:
        suite = Suite(options, parse_outputs=True)
        loaded = suite.load()
        left_out: list[ScenarioFileError] = []  # --stubs stubs a run leaves out (GripMock too)
        build_global_stubs(suite.global_stubs(left_out), suite.registry, left_out)
    except ProtoCompileError as exc:
        _error(f"protos do not compile:\n{exc}")
        return EXIT_CANNOT_START
    except ScenarioError as exc:
        _error(str(exc))
        return EXIT_CANNOT_START
    for broken in loaded.broken:
        for error in broken.errors:
            print(error, file=sys.stderr)
    for problem in left_out:
        print(f"--stubs: {problem}", file=sys.stderr)
    files = len({s.file for s in loaded.scenarios} | {b.file for b in loaded.broken})
    valid = len(loaded.scenarios)
    stubs = f", {len(left_out)} invalid --stubs stub(s)" if left_out else ""
    print(f"{valid} valid, {len(loaded.broken)} invalid scenario(s) in {files} file(s){stubs}")
    return EXIT_FAILED if loaded.broken or left_out else EXIT_OK


def _list(options: Options) -> int:
    try:
        suite = Suite(options)
        loaded = suite.load()
    except ProtoCompileError as exc:
        _error(f"protos do not compile:\n{exc}")
        return EXIT_CANNOT_START
    for item in suite.selected(loaded):
        if isinstance(item, BrokenScenario):
            print(f"{item.file}::{item.name}  (invalid)")
        else:
            tags = f"  [{', '.join(item.tags)}]" if item.tags else ""
            skip = "  (skip)" if item.skip else ""
            print(f"{item.id}{tags}{skip}")
    return EXIT_OK


class _ConsoleObserver:
    """What the console shows while a run goes on."""

    def __init__(self, reporter: ConsoleReporter) -> None:
        self.reporter = reporter

    def run_started(self, total: int) -> None:
        self.reporter.start(total)

    def scenario_finished(self, result: ScenarioResult) -> None:
        self.reporter.scenario_finished(result)

    def notice(self, text: str) -> None:
        self.reporter.notice(f"scenario-run: {text}")


def _run(options: Options) -> int:
    reporter = ConsoleReporter(sys.stdout, verbosity=options.verbosity)
    report = Run(options, _ConsoleObserver(reporter)).execute()
    if report.startup_problem is not None:
        _error(report.startup_problem)
    if report.report_problem is not None:
        _error(report.report_problem)
    if report.startup_problem is None:
        reporter.finish(report.results, report.elapsed)
    return report.exit_code


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
