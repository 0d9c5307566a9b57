"""Spread a large suite over the machine's cores: forked worker processes, each with its own
embedded mock, each running a slice of the scenarios; results stream back to the parent.

Scenarios are independent sessions, so a slice needs nothing from another. The parent never
touches gRPC before forking (a forked child may only use gRPC if its parent did not), and
children inherit the loaded scenarios (no re-parsing, no pickling of scenarios).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.synchronize import Event as EventType

from ..results import Outcome, Problem, ScenarioResult
from ..scenario.model import Scenario

PROCESSES_ENV = "SCENARIO_RUN_PROCESSES"
SCENARIOS_PER_PROCESS = 200  # below this, a second process costs more than it saves

ChildMain = Callable[
    [Sequence[Scenario], Callable[[ScenarioResult], None], Callable[[], bool]], None
]


def process_count(parallel_scenarios: int) -> int:
    """How many processes to use: one per core for big suites, one for small ones.

    ``SCENARIO_RUN_PROCESSES=N`` overrides (1 disables forking)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    forced = os.environ.get(PROCESSES_ENV, "").strip()
    if forced.isdigit() and int(forced) > 0:
        return min(int(forced), max(1, parallel_scenarios))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = 1 + parallel_scenarios // SCENARIOS_PER_PROCESS
    return max(1, min(cores or 1, wanted))


def run_in_processes(
    scenarios: Sequence[Scenario],
    processes: int,
    child_main: ChildMain,
    on_result: Callable[[ScenarioResult], None],
    *,
    fail_fast: bool = False,
) -> list[ScenarioResult]:
    """Run ``scenarios`` split round-robin over ``processes`` forked children."""
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    slices = [list(scenarios[i::processes]) for i in range(processes)]
    children: dict[Connection, tuple[multiprocessing.process.BaseProcess, list[Scenario]]] = {}
    for part in slices:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(child_main, part, sender, stop), daemon=True)
        process.start()
        sender.close()
        children[receiver] = (process, part)
    results: list[ScenarioResult] = []
    finished: dict[Connection, set[tuple[int, int]]] = {conn: set() for conn in children}
    try:
        while children:
            for conn in wait(list(children)):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except EOFError:
                    message = None
                if isinstance(message, ScenarioResult):
                    results.append(message)
                    finished[conn].add(message.order)
                    on_result(message)
                    if fail_fast and message.outcome in (Outcome.FAILED, Outcome.ERRORED):
                        stop.set()
                    continue
                child, part = children.pop(conn)
                child.join()
                for lost in _lost(part, finished[conn], child.exitcode):
                    results.append(lost)
                    on_result(lost)
    except KeyboardInterrupt:
        for child, _ in children.values():
            child.terminate()
        raise
    return results


def _lost(
    part: Sequence[Scenario], done: set[tuple[int, int]], exitcode: int | None
) -> list[ScenarioResult]:
    """Errored results for the scenarios a worker that died never reported."""
    message = f"worker process ended (exit code {exitcode}) before this scenario finished"
    return [
        ScenarioResult(
            file=s.file,
            name=s.name,
            outcome=Outcome.ERRORED,
            line=s.line,
            order=s.order,
            tags=s.tags,
            problem=Problem(message, message, "WorkerDied"),
        )
        for s in part
        if s.order not in done
    ]


def _child(
    child_main: ChildMain, part: Sequence[Scenario], sender: Connection, stop: EventType
) -> None:
    code = 0
    try:
        child_main(part, sender.send, stop.is_set)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:
        print(f"scenario-run: worker process failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        sender.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # skip the parent's atexit handlers, inherited through fork
