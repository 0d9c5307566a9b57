"""Run many scenarios: concurrently (bounded by ``workers``), then the ``parallel: false``
ones alone, reporting each result as it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from ..results import Outcome, Problem, ScenarioResult
from ..scenario.loader import BrokenScenario
from ..scenario.model import Scenario
from .context import RunContext
from .execute import run_scenario, was_interrupted

OnResult = Callable[[ScenarioResult], None]


def broken_result(broken: BrokenScenario) -> ScenarioResult:
    first = broken.errors[0]
    detail = "\n".join(str(e) for e in broken.errors)
    return ScenarioResult(
        file=broken.file,
        name=broken.name,
        outcome=Outcome.ERRORED,
        problem=Problem(first.headline(), detail, type(first).__name__),
        line=broken.line,
        order=broken.order,
    )


NOT_RUN_INTERRUPTED = "not run: the run was interrupted"


def _not_run(scenario: Scenario, reason: str) -> ScenarioResult:
    return ScenarioResult(
        file=scenario.file,
        name=scenario.name,
        outcome=Outcome.SKIPPED,
        skip_reason=reason,
        line=scenario.line,
        order=scenario.order,
        tags=scenario.tags,
    )


async def run_all(
    scenarios: Iterable[Scenario],
    ctx: RunContext,
    on_result: OnResult,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run every scenario, handing each result to ``on_result`` as it finishes (so an
    interrupted run can still report what finished). ``should_stop`` lets a caller outside
    this process end a --fail-fast run."""
    failed = False

    def done(result: ScenarioResult) -> None:
        nonlocal failed
        failed = failed or result.outcome in (Outcome.FAILED, Outcome.ERRORED)
        on_result(result)

    def stopping() -> bool:
        return (ctx.options.fail_fast and failed) or should_stop()

    # Taken as they are needed: a worker process's scenarios are partly claimed as it goes.
    parallel = iter(scenarios)
    serial: list[Scenario] = []

    async def worker() -> None:
        # ``workers`` of these take the scenarios in turn, in order: one task each, not one
        # task (and a wait on a semaphore) per scenario.
        for scenario in parallel:
            if not scenario.parallel:
                serial.append(scenario)  # run alone, once every parallel one is done
                continue
            if stopping():
                done(_not_run(scenario, "not run: --fail-fast after a failure"))
                continue
            await run_one(scenario)

    async def run_one(scenario: Scenario) -> None:
        result = await run_scenario(scenario, ctx)
        done(result)
        if was_interrupted(result):  # reported; now the interruption goes on its way
            raise asyncio.CancelledError

    await asyncio.gather(*(worker() for _ in range(max(1, ctx.options.workers))))
    for scenario in serial:
        if stopping():
            done(_not_run(scenario, "not run: --fail-fast after a failure"))
        else:
            await run_one(scenario)
