"""How a worker process hands its results to the parent (over a real pipe)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from multiprocessing.connection import Connection

import pytest

from scenario_runner.results import Outcome, Problem, ScenarioResult
from scenario_runner.runner import processes
from scenario_runner.runner.processes import _Batches
from scenario_runner.runner.split import BYTES_PER_PROCESS


def result(number: int, outcome: Outcome = Outcome.PASSED) -> ScenarioResult:
    problem = Problem("boom", "boom", "ExpectationFailed") if outcome is Outcome.FAILED else None
    return ScenarioResult(f"s{number}.yaml", f"scenario {number}", outcome, problem=problem)


def received(conn: Connection) -> list[ScenarioResult]:
    """A batch as the parent reads it: JSON on the pipe, never a pickle."""
    return [ScenarioResult.from_json(raw) for raw in json.loads(conn.recv_bytes())]


async def test_passing_results_leave_together_once_the_batch_is_old_enough() -> None:
    parent, child = multiprocessing.Pipe(duplex=False)
    batches = _Batches(child)
    for number in range(3):
        batches.add(result(number))
    assert not parent.poll(), "nothing is sent before the batch is due"
    await asyncio.sleep(processes.BATCH_SECONDS * 3)
    assert parent.poll(1)
    assert [r.name for r in received(parent)] == ["scenario 0", "scenario 1", "scenario 2"]
    assert not parent.poll()


async def test_a_failure_leaves_at_once_with_what_waited_before_it() -> None:
    parent, child = multiprocessing.Pipe(duplex=False)
    batches = _Batches(child)
    batches.add(result(1))
    batches.add(result(2, Outcome.FAILED))
    assert parent.poll(1)
    assert [(r.name, r.outcome) for r in received(parent)] == [
        ("scenario 1", Outcome.PASSED),
        ("scenario 2", Outcome.FAILED),
    ]
    await asyncio.sleep(processes.BATCH_SECONDS * 3)
    assert not parent.poll(), "the timer of the sent batch was cancelled"


def test_what_is_left_is_sent_at_the_end() -> None:
    parent, child = multiprocessing.Pipe(duplex=False)
    batches = _Batches(child)

    async def run() -> None:
        batches.add(result(7))

    asyncio.run(run())  # the loop is gone before the batch was due
    batches.send()
    assert parent.poll(1)
    assert [r.name for r in received(parent)] == ["scenario 7"]
    batches.send()
    assert not parent.poll(), "an empty batch is not sent"


def test_only_the_program_spreads_a_run_over_processes_by_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = 100 * BYTES_PER_PROCESS
    monkeypatch.delenv(processes.PROCESSES_ENV, raising=False)
    monkeypatch.setattr(processes, "_program", False)
    assert processes.process_count(big) == 1, "inside another program: one process"
    monkeypatch.setenv(processes.PROCESSES_ENV, "2")
    assert processes.process_count(big) == 2, "unless told otherwise"
    monkeypatch.delenv(processes.PROCESSES_ENV)
    processes.as_program()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert processes.process_count(big) == (cores or 1), "the program: one per core"
    assert processes.process_count(BYTES_PER_PROCESS - 1) == 1, "a small suite stays in one"


def test_results_and_entries_cross_the_pipe_as_json_unchanged() -> None:
    broken = ScenarioResult(
        "a.yaml",
        "a",
        Outcome.ERRORED,
        0.5,
        Problem("m", "d", "K"),
        None,
        "log",
        3,
        (1, 2),
        99.5,
        ("x",),
    )
    assert ScenarioResult.from_json(json.loads(json.dumps(broken.to_json()))) == broken
    entry = processes.Entry((1, 2), "a", "a.yaml", 3, ("x",), False, broken)
    assert processes.Entry.from_json(json.loads(json.dumps(entry.to_json()))) == entry


def test_claims_from_the_front_and_the_back_share_a_lent_part_once_each() -> None:
    context = multiprocessing.get_context("fork")
    claims = processes._Claims(context, 2)
    assert claims.take(1, from_back=False) is None, "nothing is claimed before the count is known"
    claims.publish(1, 500)
    parent, child = context.Pipe(duplex=False)
    helping = context.Event()

    def take_from_the_back() -> None:
        taken = []
        while (index := claims.take(1, from_back=True)) is not None:
            taken.append(index)
            helping.set()  # the owner goes on only once the helper holds one
        child.send(taken)

    front = [claims.take(1, from_back=False)]  # the owner's first, before any help
    helper = context.Process(target=take_from_the_back)
    helper.start()
    assert helping.wait(30), "the helper claimed nothing"
    while (index := claims.take(1, from_back=False)) is not None:
        front.append(index)
        time.sleep(0.001)  # the owner is busy running it: the helper takes the rest
    back = parent.recv()
    helper.join()
    assert sorted(front + back) == list(range(500)), "every scenario once, by one of them"
    assert front and back, "both took some"
    assert front == sorted(front) and back == sorted(back, reverse=True)
    assert claims.left(1) == 0 and claims.left(0) == 0
