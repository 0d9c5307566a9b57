"""Run one scenario in its own session: stubs, steps, verifications, clean-up."""

from __future__ import annotations

import asyncio
import re
import sys
import time
import traceback
from collections import ChainMap, Counter
from collections.abc import Coroutine, Mapping
from typing import Any

import grpc

from ..durations import parse_duration
from ..errors import ConfigError, HarnessError, ScenarioError, ScenarioFileError, TemplateError
from ..ids import random_hex
from ..matchers import metadata_text
from ..mock.backend import register_stubs
from ..mock.stubs import Stub
from ..protos import MethodInfo, descriptor_of
from ..report.eventlog import format_events
from ..report.kept import RESULT_KIND
from ..results import Outcome, Problem, ScenarioResult
from ..scenario.model import Scenario, Step, Verification
from ..scenario.yamlsource import PathKey
from ..templating import TemplateProblem, Templates
from .calls import CallResult, invoke
from .context import RunContext
from .expectations import PathNotFound, Verdict, check, describe_mismatches, lookup
from .stub_setup import ScenarioStubs, template_paths
from .targets import Target
from .verify import VerifyOutcome, verify_all_used, verify_calls, verify_unmatched


class StepFailed(Exception):
    """An expectation or verification did not hold."""

    def __init__(self, message: str, detail: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.kind = kind


class ScenarioRun:
    """The state of one scenario while it runs."""

    def __init__(self, scenario: Scenario, ctx: RunContext) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.state: dict[str, Any] = {}
        self.base: dict[str, Any] = {
            "env": ctx.env,
            "scenario": {"name": scenario.name, "slug": scenario.slug},
            "mock": {"address": ctx.mock.address},
        }
        self.session_id = ""
        self.stubs: list[Stub] = []
        saved = {str(k) for step in scenario.steps for k in (step.raw.get("save") or {})}
        self.stub_builder = ScenarioStubs(ctx.registry, ctx.templates, lambda: self.names, saved)
        self.current: str | Step = "setting up the session"  # what an interruption names

    @property
    def names(self) -> Mapping[str, Any]:
        """What templates see: session state, then env / scenario / session."""
        return ChainMap(self.base, self.state)

    def running(self) -> str:
        """What the scenario is doing, as an interruption or a time limit says it."""
        step = self.current
        if isinstance(step, str):
            return step
        return f"{step.label} ({self.scenario.document.locate(step.path)})"

    # -- errors that point into the scenario file ---------------------------------------

    def file_error(
        self, message: str, path: PathKey, cls: type[ScenarioFileError] = ScenarioFileError
    ) -> ScenarioFileError:
        return self.scenario.document.error(message, path, cls)

    def render(self, value: Any, path: PathKey, extra: Mapping[str, Any] | None = None) -> Any:
        names = ChainMap(dict(extra), self.base, self.state) if extra else self.names
        try:
            return self.ctx.templates.render(value, names)
        except TemplateProblem as exc:
            raise self.file_error(str(exc), (*path, *exc.key_path), TemplateError) from exc

    # -- phases --------------------------------------------------------------------------

    async def setup(self) -> None:
        sc = self.scenario
        # --var / --vars-file win over the scenario's vars, and vars may use them; a var that
        # uses session.id is rendered once the session id is known.
        self.state.update(self.ctx.options.vars)
        after_session: list[str] = []
        for key, value in sc.vars.items():
            if key in self.ctx.options.vars:
                continue
            if "session" in self._names_used(value, ("vars", key)):
                after_session.append(key)
                continue
            self.state[key] = self.render(value, ("vars", key))
        if sc.session_id is not None:
            self.session_id = str(self.render(sc.session_id, ("session", "id")))
            problem = _metadata_value_problem(self.session_id)
            if not self.session_id or problem:
                raise self.file_error(
                    f"session id {self.session_id!r} cannot be sent as metadata: "
                    f"{problem or 'it is empty'}",
                    ("session", "id"),
                )
        else:
            self.session_id = f"{sc.slug}-{random_hex(12)}"
        self.base["session"] = {"id": self.session_id}
        for key in after_session:
            self.state[key] = self.render(sc.vars[key], ("vars", key))
        await self.ctx.mock.open_session(self.session_id, dict(self.state), sc.session_ttl)
        await self._register(self.stub_builder.ready(sc.stubs))

    def _names_used(self, value: Any, path: PathKey) -> set[str]:
        """The names the templates inside ``value`` read."""
        names: set[str] = set()
        for where, text in template_paths(value, path):
            try:
                names |= self.ctx.templates.undeclared_names(text)
            except TemplateProblem as exc:
                raise self.file_error(str(exc), where, TemplateError) from exc
        return names

    async def _register_saved_stubs(self) -> None:
        """Register the deferred stubs whose saved values now exist, in declaration order."""
        await self._register(self.stub_builder.after_save())

    async def _register(self, stubs: list[Stub]) -> None:
        self.stubs.extend(stubs)
        await register_stubs(self.ctx.mock, self.session_id, stubs)

    async def run_steps(self) -> None:
        for step in self.scenario.steps:
            self.current = step
            await self.run_step(step)

    async def run_step(self, step: Step) -> None:
        values = self.render(step.call_values, step.path) if step.templated else step.call_values
        method = step.method or self._method(values["call"], (*step.path, "call"))
        target_name = str(values.get("target", "mock"))
        target = self._target(target_name, (*step.path, "target"))
        service = self.ctx.service(target_name)
        if service is not None and service.exit_code is not None:
            raise HarnessError(
                f"{step.label}: {service.death_report()}",
                location=self.scenario.document.locate(step.path),
            )
        requests = self._requests(values, method, step.path)
        metadata = self._metadata(values.get("metadata"), (*step.path, "metadata"))
        metadata.append(("x-mock-session", self.session_id))
        timeout = self._duration(values.get("timeout"), (*step.path, "timeout"))
        expect = values.get("expect") or {}
        attempts = step.retry.attempts if step.retry else 1
        result: CallResult | None = None
        verdict: Verdict | None = None
        for attempt in range(1, attempts + 1):
            result = await invoke(
                self.ctx.channel(target), self.ctx.registry, method, requests, metadata, timeout
            )
            if (
                service is not None
                and result.status in _CONNECTION_LOST
                and await service.exited_soon()
            ):
                raise HarnessError(
                    f"{step.label}: call to {method.full_name} failed: {service.death_report()}",
                    location=self.scenario.document.locate(step.path),
                )
            try:
                verdict = check(
                    expect, result, descriptor_of(method.output_type), self.ctx.registry
                )
            except ValueError as exc:  # a templated status that is no status
                raise self.file_error(str(exc), (*step.path, "expect", "status")) from exc
            await self._record_call(step, method, target_name, values, result, attempt)
            await self._raise_mock_problems(step)
            if verdict.ok:
                break
            if attempt < attempts and step.retry:
                await asyncio.sleep(step.retry.interval)
        assert result is not None and verdict is not None
        if not verdict.ok:
            where = self.scenario.document.locate(step.path)
            if verdict.harness_problem:
                raise HarnessError(
                    f"{step.label}: call to {method.full_name} at {target.url} failed: "
                    f"{result.status.name}: {result.message or result.debug}",
                    location=where,
                )
            first = verdict.mismatches[0]
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            raise StepFailed(
                f"{step.label}{tries}: {first.path}: {first.reason}",
                f"{step.label} ({where}) failed{tries}:\n"
                + describe_mismatches(verdict, expect, result),
                "ExpectationFailed",
            )
        await self._save(step, result)

    def _target(self, name: str, path: PathKey) -> Target:
        try:
            target = self.ctx.target(name)
        except ConfigError as exc:
            raise self.file_error(exc.message, path) from exc
        if target is None:
            known = ", ".join(["mock", *sorted(self.ctx.options.targets)])
            raise self.file_error(
                f"unknown target {name!r}: give --target {name}=HOST:PORT, declare it in "
                f"scenario-run.yaml, or write host:port (targets: {known})",
                path,
            )
        return target

    def _method(self, call: Any, path: PathKey) -> MethodInfo:
        method = self.ctx.registry.find_call(str(call))
        if method is None:
            raise self.file_error(f"unknown method {call!r}", path)
        return method

    def _requests(
        self, values: Mapping[str, Any], method: MethodInfo, path: PathKey
    ) -> list[bytes]:
        if "requests" in values:
            items = values["requests"]
            if not isinstance(items, list):
                raise self.file_error("`requests` must render to a list", (*path, "requests"))
            where: list[PathKey] = [(*path, "requests", i) for i in range(len(items))]
        else:
            items = [values.get("request") or {}]
            where = [(*path, "request")]
        blobs = []
        for item, item_path in zip(items, where, strict=True):
            try:
                blobs.append(
                    self.ctx.registry.from_json(method.input_type, item).SerializeToString()
                )
            except ValueError as exc:
                name = method.input_type.DESCRIPTOR.full_name
                raise self.file_error(f"not a valid {name}: {exc}", item_path) from exc
        if not blobs and not method.client_streaming:
            blobs.append(b"")
        return blobs

    def _metadata(self, values: Any, path: PathKey) -> list[tuple[str, str]]:
        """The step's metadata as gRPC sends it; keys and values gRPC would refuse are errors."""
        if values is None:
            return []
        if not isinstance(values, Mapping):
            raise self.file_error("`metadata` must be a mapping of key: value", path)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            name = str(key).lower()
            if not _METADATA_KEY.fullmatch(name):
                raise self.file_error(
                    f"invalid metadata key {key!r}: use letters, digits, '-', '_' and '.'",
                    (*path, key),
                )
            text = metadata_text(value)
            problem = None if name.endswith("-bin") else _metadata_value_problem(text)
            if problem:
                raise self.file_error(f"invalid metadata value {text!r}: {problem}", (*path, key))
            pairs.append((name, text))
        return pairs

    def _duration(self, value: Any, path: PathKey) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.file_error(str(exc), path) from exc

    async def _record_call(
        self,
        step: Step,
        method: MethodInfo,
        target: str,
        values: Mapping[str, Any],
        result: CallResult,
        attempt: int,
    ) -> None:
        data: dict[str, Any] = {
            "step": step.name or f"steps[{step.index}]",
            "method": method.full_name,
            "target": target,
            "status": result.status.name,
            "message": result.message,
            "attempt": attempt,
            "elapsed": round(result.elapsed, 6),
            "headers": result.headers,
            "trailers": result.trailers,
        }
        if "requests" in values:
            data["requests"] = values["requests"]
        else:
            data["request"] = values.get("request") or {}
        if method.server_streaming:
            data["responses"] = result.responses
        else:
            data["response"] = result.response
        await self.ctx.mock.record(self.session_id, "client_call", data)

    async def _raise_mock_problems(self, step: Step) -> None:
        problems = await self.ctx.mock.problems(self.session_id)
        if problems:
            raise HarnessError(
                f"{step.label}: the mock could not answer: " + "; ".join(problems),
                location=self.scenario.document.locate(step.path),
            )

    async def _save(self, step: Step, result: CallResult) -> None:
        save = step.raw.get("save") or {}
        if not save:
            return
        view = result.view()
        delta: dict[str, Any] = {}
        for key, source in save.items():
            source = self.render(source, (*step.path, "save", key))
            try:
                delta[key] = lookup(view, str(source))
            except PathNotFound as exc:
                raise self.file_error(
                    f"cannot save {key!r}: {exc}", (*step.path, "save", key)
                ) from exc
        self.state.update(delta)
        await self.ctx.mock.record(
            self.session_id, "state_saved", {"step": step.name}, state_delta=delta
        )
        await self._register_saved_stubs()

    async def verify(self) -> None:
        if not self.scenario.verify:
            return
        self.current = "verify"
        calls = await self.ctx.mock.calls(self.session_id)
        failures: list[str] = []
        for rule in self.scenario.verify:
            try:
                outcome = self._verify_one(rule, calls)
            except (TypeError, ValueError) as exc:  # e.g. `times` rendered to a non-number
                raise self.file_error(f"invalid verification: {exc}", rule.path) from exc
            await self.ctx.mock.record(
                self.session_id,
                "verification",
                {"index": rule.index, "ok": outcome.ok, "summary": outcome.summary},
            )
            if not outcome.ok:
                where = self.scenario.document.locate(rule.path)
                failures.append(f"verify[{rule.index}] ({where}): {outcome.summary}")
        if failures:
            raise StepFailed(
                failures[0],
                "verification failed:\n" + "\n".join(f"  - {f}" for f in failures),
                "VerificationFailed",
            )

    def _verify_one(self, rule: Verification, calls: list[dict[str, Any]]) -> VerifyOutcome:
        values = self.render(rule.raw, rule.path)
        if "unmatched" in values:
            return verify_unmatched(int(values["unmatched"]), calls)
        if "stubs" in values:
            uses = Counter(c["stub_id"] for c in calls if c.get("stub_id"))
            return verify_all_used(self.stubs, uses)
        method = rule.method or self._method(values["call"], (*rule.path, "call"))
        return verify_calls(values, method, calls)

    async def teardown(self, result: ScenarioResult) -> str:
        """Remove the session's stubs and history; return its event log. A kept session
        (``--sessions-db``) ends with a ``scenario_result`` event: which scenario it was,
        how it ended and why."""
        if not self.session_id:
            return ""
        mock = self.ctx.mock
        keep = self.ctx.options.keep_sessions
        if keep:
            await mock.record(self.session_id, RESULT_KIND, result_data(result))
        events = await mock.finish(self.session_id, keep=keep)
        if keep:
            events = [event for event in events if event.kind != RESULT_KIND]
        return format_events(events)


def result_data(result: ScenarioResult) -> dict[str, Any]:
    """A ``scenario_result`` event's data."""
    problem = result.problem
    return {
        "file": result.file,
        "line": result.line,
        "name": result.name,
        "outcome": result.outcome.value,
        "message": problem.message if problem else (result.skip_reason or ""),
        "detail": problem.detail if problem else "",
    }


# A call to a started service that ends so may mean the service died.
_CONNECTION_LOST = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
)
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")


def _metadata_value_problem(text: str) -> str | None:
    if _METADATA_VALUE.fullmatch(text):
        return None
    return "gRPC metadata values are printable ASCII (no control characters, no accents)"


async def run_scenario(scenario: Scenario, ctx: RunContext) -> ScenarioResult:
    """Run one scenario; every outcome, harness trouble included, becomes a result."""
    started_wall = time.time()
    started = time.perf_counter()
    result = ScenarioResult(
        file=scenario.file,
        name=scenario.name,
        outcome=Outcome.PASSED,
        line=scenario.line,
        order=scenario.order,
        timestamp=started_wall,
        tags=scenario.tags,
    )
    if scenario.skip:
        result.outcome, result.skip_reason = Outcome.SKIPPED, scenario.skip
        return result
    run = ScenarioRun(scenario, ctx)
    timeout = ctx.options.default_timeout
    try:
        timeout = _scenario_timeout(run) or timeout
        await _within(_phases(run), timeout)
    except asyncio.TimeoutError:
        result.outcome = Outcome.ERRORED
        message = f"timed out after {timeout:g}s in {run.running()}"
        result.problem = Problem(message, message, "Timeout")
    except asyncio.CancelledError:  # Ctrl-C (or SIGTERM): said, cleaned up, then passed on
        result.outcome = Outcome.ERRORED
        result.problem = Problem("interrupted", f"interrupted in {run.running()}", INTERRUPTED)
    except StepFailed as exc:
        result.outcome = Outcome.FAILED
        result.problem = Problem(exc.message, exc.detail, exc.kind)
    except ScenarioError as exc:
        result.outcome = Outcome.ERRORED
        result.problem = Problem(exc.headline(), str(exc), type(exc).__name__)
    except Exception as exc:  # our bug: keep the run going and say so
        result.outcome = Outcome.ERRORED
        result.problem = Problem(
            f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc(), "InternalError"
        )
    finally:
        try:
            result.log = await run.teardown(result)
        except Exception as exc:  # clean-up must never hide the outcome
            result.log = f"(session clean-up failed: {exc})\n"
        result.time = time.perf_counter() - started
    return result


INTERRUPTED = "Interrupted"  # the problem kind of a scenario the run was interrupted in


def was_interrupted(result: ScenarioResult) -> bool:
    return result.problem is not None and result.problem.kind == INTERRUPTED


def _scenario_timeout(run: ScenarioRun) -> float | None:
    """The scenario's ``timeout``; a template sees env, scenario, vars and ``--var``."""
    scenario = run.scenario
    raw = scenario.document.value.get("timeout")
    if scenario.timeout is not None or not Templates.is_template(raw):
        return scenario.timeout
    names = ChainMap(run.base, dict(run.ctx.options.vars), scenario.vars)
    try:
        value = run.ctx.templates.render(raw, names)
    except TemplateProblem as exc:
        raise run.file_error(str(exc), ("timeout",), TemplateError) from exc
    return run._duration(value, ("timeout",))


if sys.version_info >= (3, 11):

    async def _within(work: Coroutine[Any, Any, None], seconds: float) -> None:
        """``work`` with a time limit, in this task (``wait_for`` runs it in a task of its
        own: one more task per scenario). ``asyncio.TimeoutError`` when it runs out."""
        async with asyncio.timeout(seconds):
            await work

else:  # pragma: no cover - Python 3.10

    async def _within(work: Coroutine[Any, Any, None], seconds: float) -> None:
        await asyncio.wait_for(work, seconds)


async def _phases(run: ScenarioRun) -> None:
    await run.setup()
    await run.run_steps()
    await run.verify()
