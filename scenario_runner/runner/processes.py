"""Spread a suite over the machine's cores.

Forked worker processes each load a share of the suite's bytes (whole files and pieces of
large ones, ``split``), report what they hold (``Entry``), run the scenarios the parent
selected from all of them, each with its own embedded mock, and stream the results back.
Scenarios are independent sessions, so a share needs nothing from another. The parent never
touches gRPC before forking (a forked child may only use gRPC if its parent has not).

Processes do not finish together (the machine is shared, calls take what they take), so the
last part of each share is lent (``Share.tail``): its scenarios are claimed one at a time,
by their owner from the front and, once it has run out of work, by another process from the
back, which loads that part only then (``_Claims``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mmap
import multiprocessing
import os
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import HarnessError
from ..results import Outcome, Problem, ScenarioResult
from ..scenario.loader import BrokenScenario
from ..scenario.model import Scenario
from .split import Part, Share, process_share

PROCESSES_ENV = "SCENARIO_RUN_PROCESSES"
BATCH_SECONDS = 0.05  # results wait at most this long in a worker before going to the parent
# After a Ctrl-C: how long until the workers still running are interrupted by the parent,
# and how long their last results are waited for (seconds).
_INTERRUPT_NUDGE = 0.5
_INTERRUPT_DRAIN = 3.0

Order = tuple[int, int]
LoadShare = Callable[[Sequence[Part]], tuple[list[Scenario | BrokenScenario], set[int]]]
RunSlice = Callable[
    [Iterable[Scenario], Callable[[ScenarioResult], None], Callable[[], bool]], None
]


@dataclass(frozen=True)
class Entry:
    """What selection needs to know of a scenario (or a broken document), and no more."""

    order: Order
    name: str
    file: str  # the path as shown (relative to the working directory when below it)
    line: int
    tags: tuple[str, ...] = ()
    parallel: bool = True
    broken: ScenarioResult | None = None  # set for a file or document that cannot run

    def to_json(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "tags": list(self.tags),
            "parallel": self.parallel,
            "broken": self.broken.to_json() if self.broken is not None else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        broken = raw["broken"]
        return cls(
            (raw["order"][0], raw["order"][1]),
            raw["name"],
            raw["file"],
            raw["line"],
            tuple(raw["tags"]),
            raw["parallel"],
            ScenarioResult.from_json(broken) if broken is not None else None,
        )

    def skipped(self, reason: str) -> ScenarioResult:
        return ScenarioResult(
            file=self.file,
            name=self.name,
            outcome=Outcome.SKIPPED,
            line=self.line,
            order=self.order,
            tags=self.tags,
            skip_reason=reason,
        )

    def not_run(self, message: str, kind: str) -> ScenarioResult:
        return ScenarioResult(
            file=self.file,
            name=self.name,
            outcome=Outcome.ERRORED,
            line=self.line,
            order=self.order,
            tags=self.tags,
            problem=Problem(message, message, kind),
        )


def entry_of(item: Scenario | BrokenScenario, broken: ScenarioResult | None = None) -> Entry:
    if isinstance(item, Scenario):
        return Entry(item.order, item.name, item.file, item.line, item.tags, item.parallel)
    return Entry(item.order, item.name, item.file, item.line, broken=broken)


_program = False  # set by the ``scenario-run`` program itself (``as_program``)


def as_program() -> None:
    """This process is the ``scenario-run`` program: nothing in it has used gRPC before the
    run, so the run may fork. A run made inside another program (a test, a caller of
    ``cli.main``) stays in one process unless told otherwise: that program may have used
    gRPC already, and a forked child of such a process cannot."""
    global _program
    _program = True


def process_count(total_bytes: int) -> int:
    """One process per core for big suites, one for small ones (by the bytes of scenario
    files, ``split.BYTES_PER_PROCESS`` a process at least), in the ``scenario-run``
    program; one elsewhere.

    ``SCENARIO_RUN_PROCESSES=N`` overrides (1 never forks)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    forced = os.environ.get(PROCESSES_ENV, "").strip()
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    if not _program:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return process_share(total_bytes, cores or 1)


class _Claims:
    """Who runs each scenario of the lent parts: one slot per share in memory the forked
    processes share (an anonymous shared mapping), holding how many scenarios its lent
    part has (-1 until its owner says) and how many were claimed from its front and from
    its back. A claim is a lock and two integers: microseconds."""

    _SLOT = struct.Struct("=iii")

    def __init__(self, context: Any, shares: int) -> None:
        self._memory = mmap.mmap(-1, self._SLOT.size * max(1, shares))
        for share in range(shares):
            self._SLOT.pack_into(self._memory, self._SLOT.size * share, -1, 0, 0)
        self._lock = context.Lock()

    def _read(self, share: int) -> tuple[int, int, int]:
        count, front, back = self._SLOT.unpack_from(self._memory, self._SLOT.size * share)
        return count, front, back

    def _write(self, share: int, count: int, front: int, back: int) -> None:
        self._SLOT.pack_into(self._memory, self._SLOT.size * share, count, front, back)

    def publish(self, share: int, count: int) -> None:
        with self._lock:
            _, front, back = self._read(share)
            self._write(share, count, front, back)

    def left(self, share: int) -> int:
        with self._lock:
            count, front, back = self._read(share)
        return max(0, count - front - back)

    def count(self, share: int) -> int:
        with self._lock:
            return self._read(share)[0]

    def take(self, share: int, *, from_back: bool) -> int | None:
        """The index of the scenario claimed, or None when none is left."""
        with self._lock:
            count, front, back = self._read(share)
            if front + back >= count:
                return None
            if from_back:
                self._write(share, count, front, back + 1)
                return count - back - 1
            self._write(share, count, front + 1, back)
            return front


class WorkerPool:
    """Forked workers: ``start`` loads, ``run`` runs what the parent chose, ``close`` ends."""

    def __init__(
        self,
        shares: Sequence[Share],
        load: LoadShare,
        run: RunSlice,
        to_entry: Callable[[Scenario | BrokenScenario], Entry],
    ) -> None:
        self._context = multiprocessing.get_context("fork")
        self._stop = self._context.Event()
        self._nudged = False
        self._shares = list(shares)
        self._claims = _Claims(self._context, len(self._shares))
        self._load, self._run, self._to_entry = load, run, to_entry
        self._workers: dict[Connection, tuple[Any, list[Entry]]] = {}

    def start(self) -> tuple[list[Entry], set[int]]:
        """Fork the workers and collect what their shares hold, in the stable order, and the
        indexes of the files a piece of which could not be read alone."""
        for number in range(len(self._shares)):
            parent_end, child_end = self._context.Pipe(duplex=True)
            process = self._context.Process(
                target=self._child, args=(number, child_end), daemon=True
            )
            process.start()
            child_end.close()
            self._workers[parent_end] = (process, [])
        entries: list[Entry] = []
        troubled: set[int] = set()
        for conn, (process, _) in list(self._workers.items()):
            try:
                loaded = _receive(conn)
                own = [Entry.from_json(raw) for raw in loaded["entries"]]
                unread = set(loaded["troubled"])
            except EOFError:
                raise HarnessError(
                    f"a worker process ended while loading the scenarios (exit {process.exitcode})"
                ) from None
            self._workers[conn] = (process, own)
            entries.extend(own)
            troubled |= unread
        return sorted(entries, key=lambda e: e.order), troubled

    def run(
        self, chosen: set[Order], on_result: Callable[[ScenarioResult], None], *, fail_fast: bool
    ) -> None:
        """Each worker runs the scenarios of ``chosen`` it holds, and helps with the lent
        ones of others (the parent chose them: no broken or ``parallel: false`` one);
        results stream to ``on_result``."""
        every = sorted(chosen)
        for conn in self._workers:
            _send(conn, every)
        pending = dict(self._workers)
        reported: set[Order] = set()
        ended: list[tuple[Any, list[Entry]]] = []
        interrupted_at: float | None = None
        while pending:
            try:
                readable = wait(list(pending), timeout=None if interrupted_at is None else 0.1)
            except KeyboardInterrupt:
                # The workers were interrupted too (Ctrl-C reaches the process group) or are
                # told now; what they report in the next moments still makes the report.
                interrupted_at = time.monotonic()
                continue
            if interrupted_at is not None:
                waited = time.monotonic() - interrupted_at
                if waited > _INTERRUPT_NUDGE and not self._nudged:
                    self._nudge()
                if waited > _INTERRUPT_DRAIN:
                    break
            for ready in readable:
                assert isinstance(ready, Connection)
                conn = ready
                try:
                    message = _receive(conn)
                except EOFError:
                    message = None
                if isinstance(message, list):
                    for raw in message:
                        result = ScenarioResult.from_json(raw)
                        reported.add(result.order)
                        on_result(result)
                        if fail_fast and result.outcome in (Outcome.FAILED, Outcome.ERRORED):
                            self._stop.set()
                    continue
                process, own = pending.pop(conn)
                process.join()
                ended.append((process, own))
        if interrupted_at is not None:
            raise KeyboardInterrupt  # the unfinished scenarios were not run: the engine says so
        # Only now: another process may have been running a lent scenario of one that ended.
        died = next((p.exitcode for p, _ in ended if p.exitcode != 0), None)
        for process, own in ended:
            for entry in own:
                if entry.order in chosen and entry.order not in reported:
                    code = process.exitcode if died is None else died
                    message_text = (
                        f"worker process ended (exit code {code}) before this scenario finished"
                    )
                    on_result(entry.not_run(message_text, "WorkerDied"))
        self._workers.clear()

    def _nudge(self) -> None:
        """Interrupt the workers that did not hear the Ctrl-C themselves."""
        self._nudged = True
        for process, _ in self._workers.values():
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)

    def close(self) -> None:
        """End every worker still there (after an interrupt or a failed start)."""
        for connection, (process, _) in self._workers.items():
            process.terminate()
            connection.close()
        self._workers.clear()

    def _child(self, number: int, conn: Connection) -> None:
        code = 0
        try:
            share = self._shares[number]
            items, troubled = self._load(share.parts)
            entries = [self._to_entry(item).to_json() for item in items]
            _send(conn, {"entries": entries, "troubled": sorted(troubled)})
            chosen = {(order[0], order[1]) for order in _receive(conn)}
            scenarios = [i for i in items if isinstance(i, Scenario) and i.order in chosen]
            tail = _Parts(share.tail)
            lent = [s for s in scenarios if tail.hold(s.order)]
            self._claims.publish(number, len(lent))
            if scenarios or any(self._claims.count(n) > 0 for n in range(len(self._shares))):
                kept = [s for s in scenarios if not tail.hold(s.order)]
                source = itertools.chain(
                    kept, self._claimed(number, lent, False), self._borrowed(number, chosen)
                )
                batches = _Batches(conn)
                try:
                    self._run(source, batches.add, self._stop.is_set)
                finally:
                    batches.send()
        except (KeyboardInterrupt, EOFError, BrokenPipeError):
            code = 130
        except BaseException as exc:  # reported through the parent as unfinished scenarios
            print(
                f"scenario-run: worker process failed: {type(exc).__name__}: {exc}", file=sys.stderr
            )
            code = 1
        finally:
            conn.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # skip the parent's atexit handlers, inherited through fork

    def _claimed(self, share: int, lent: Sequence[Scenario], from_back: bool) -> Iterator[Scenario]:
        """The scenarios of a lent part this process claims, one at a time as it needs them."""
        while (index := self._claims.take(share, from_back=from_back)) is not None:
            yield lent[index]

    def _borrowed(self, number: int, chosen: set[Order]) -> Iterator[Scenario]:
        """Once this process has run out of work: what is left of the others' lent parts,
        the one with most left first, loaded only then."""
        others = [n for n in range(len(self._shares)) if n != number]
        for other in sorted(others, key=self._claims.left, reverse=True):
            if self._claims.left(other) == 0:
                continue
            items, _ = self._load(self._shares[other].tail)
            lent = [i for i in items if isinstance(i, Scenario) and i.order in chosen]
            if len(lent) != self._claims.count(other):
                continue  # it does not load here as it did there: leave it to its owner
            yield from self._claimed(other, lent, True)


class _Parts:
    """Which of some parts a scenario comes from, by its order (parts by file index: a
    share's tail may hold hundreds of whole files)."""

    def __init__(self, parts: Iterable[Part]) -> None:
        self._by_file: dict[int, list[Part]] = {}
        for part in parts:
            self._by_file.setdefault(part.index, []).append(part)

    def hold(self, order: Order) -> bool:
        return any(
            part.whole or part.first <= order[1] < part.last
            for part in self._by_file.get(order[0], ())
        )


class _Batches:
    """A worker's results on their way to the parent, a list at a time: one pipe write and
    one wake-up of the parent per batch rather than per scenario. A batch leaves once it
    is ``BATCH_SECONDS`` old, at once when it holds a failure (for ``--fail-fast`` and the
    console), and at the end."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._batch: list[ScenarioResult] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, result: ScenarioResult) -> None:
        self._batch.append(result)
        if result.outcome in (Outcome.FAILED, Outcome.ERRORED):
            self.send()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.send)

    def send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._batch:
            batch, self._batch = self._batch, []
            _send(self._conn, [result.to_json() for result in batch])


# The pipes carry JSON, not pickles: plain data both ways.
def _send(conn: Connection, message: Any) -> None:
    conn.send_bytes(json.dumps(message, separators=(",", ":")).encode())


def _receive(conn: Connection) -> Any:
    return json.loads(conn.recv_bytes())
