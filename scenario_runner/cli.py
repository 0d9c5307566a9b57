"""``scenario-run``: the command line. Turns our errors into messages and exit codes."""

from __future__ import annotations

import os

# Before gRPC is imported: its core's own log lines (a goaway, a failed handshake) are noise
# next to our messages, which say what went wrong. GRPC_VERBOSITY=INFO brings them back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import gc

# The program's start-up imports a few hundred modules, whose objects live as long as the
# process: collecting young objects every 700 allocations meanwhile (CPython's default) finds
# nothing and costs about a tenth of the start-up. The collector is back once they are in.
_collecting = gc.isenabled()
gc.disable()
try:
    import argparse
    import asyncio
    import contextlib
    import sys
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
        cannot_start_result,
        write_report,
    )
    from .errors import ConfigError, ProtoCompileError, ScenarioError, ScenarioFileError
    from .mock.hub import APP_NAME, USER_ID
    from .report.console import ConsoleReporter
    from .report.kept import session_line, session_text
    from .results import ScenarioResult
    from .runner.processes import as_program
    from .scenario.loader import BrokenScenario
    from .scenario.schema import schema_text
    from .sessions import SessionNotFoundError
finally:
    if _collecting:
        gc.enable()

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
        epilog=(
            "commands: validate, list, schema, serve, sessions list, sessions show ID "
            "(scenario-run COMMAND --help; see README)"
        ),
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
    trouble = write_report(path, [cannot_start_result(str(problem), "ConfigError")])
    if trouble is not None:
        _error(trouble)


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
        reporter.finish(report.results, report.elapsed, interrupted=report.interrupted)
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
    from .sessions.sqlite import SqliteSessionService

    service = SqliteSessionService(path)
    try:
        if action == "list" or not session_id:
            for session in await service.list(APP_NAME):
                last = await service.get(APP_NAME, session.user_id, session.id, num_recent_events=1)
                print(session_line(session, last.events))
            return EXIT_OK
        try:
            session = await service.get(APP_NAME, USER_ID, session_id)
        except SessionNotFoundError:
            _error(f"no session {session_id!r} in {path}")
            return EXIT_FAILED
        sys.stdout.write(session_text(session))
        return EXIT_OK
    finally:
        service.close()


def entry() -> None:
    """The ``scenario-run`` program: ``main``, then out at once.

    Everything the run writes is written and flushed by then (the report, the sessions
    database, the console), and every process it started has ended; what the interpreter
    would still do on its way out (unload every module, stop gRPC's threads one by one:
    about 50 ms) only returns memory the system takes back anyway. As the program, a run
    may spread over processes (``runner.processes.as_program``)."""
    as_program()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
