"""Console output of a run (SPEC §2 "Output").

Two modes:

* live (a terminal, ``CI`` not set): one progress line rewritten in place with ``\\r`` and
  clear-to-end-of-line, ``[done/total] N failed · elapsed 3.2s · last: <name>``; ``-v`` also
  prints a line per finished scenario above it;
* plain (not a terminal, or ``CI=true``): one line per finished scenario,
  ``PASSED  scenarios/greeter.yaml::greeter answers a known user (0.012s)``; ``-q`` prints none.

Then, in both modes: a block per failed or errored scenario in stable order (header
``FAILED file:line name``, the problem detail indented by four spaces, a blank line) and the
summary line ``N passed, N failed, N errored, N skipped in T s`` last.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TextIO

from scenario_runner.results import Outcome, ScenarioResult

__all__ = ["ConsoleReporter", "failure_block", "result_line", "summary_line"]

_LABEL_WIDTH = max(len(outcome.name) for outcome in Outcome)  # "ERRORED", "SKIPPED": 7
_ANSI = {
    Outcome.PASSED: "\x1b[32m",  # green
    Outcome.FAILED: "\x1b[31m",  # red
    Outcome.ERRORED: "\x1b[31m",
    Outcome.SKIPPED: "\x1b[33m",  # yellow
}
_RESET = "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_PROBLEMS = (Outcome.FAILED, Outcome.ERRORED)


def summary_line(results: Sequence[ScenarioResult], elapsed: float) -> str:
    """``N passed, N failed, N errored, N skipped in T s`` (T with two decimals)."""
    counts = Counter(result.outcome for result in results)
    return (
        f"{counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, "
        f"{counts[Outcome.ERRORED]} errored, {counts[Outcome.SKIPPED]} skipped "
        f"in {elapsed:.2f} s"
    )


def result_line(result: ScenarioResult, *, color: bool = False) -> str:
    """``PASSED  file::name (0.012s)``; a skip adds ``: reason``."""
    label = _paint(result.outcome.name.ljust(_LABEL_WIDTH), result.outcome, color)
    line = f"{label} {_one_line(result.file)}::{_one_line(result.name)} ({result.time:.3f}s)"
    if result.outcome is Outcome.SKIPPED and result.skip_reason:
        line += f": {_one_line(result.skip_reason)}"
    return line


def failure_block(result: ScenarioResult, *, color: bool = False, with_log: bool = False) -> str:
    """``FAILED file:line name``, the problem detail indented by 4 spaces, a blank line;
    ``with_log`` (``-v``): the session's event log too."""
    location = _one_line(result.file) + (f":{result.line}" if result.line > 0 else "")
    header = f"{_paint(result.outcome.name, result.outcome, color)} {location} "
    header += _one_line(result.name)
    problem = result.problem
    detail = (problem.detail or problem.message) if problem else ""
    if with_log and result.log:
        detail = f"{detail.rstrip()}\nsession log:\n{textwrap.indent(result.log, '  ')}"
    body = textwrap.indent(detail.rstrip("\n"), "    ")
    return f"{header}\n{body}\n\n" if body else f"{header}\n\n"


class ConsoleReporter:
    """Reports a run on ``stream``; the runner calls ``start``, ``scenario_finished``, ``finish``.

    ``verbosity``: -1 (``-q``), 0, 1 (``-v``). ``live`` and ``color`` default to what the
    stream and the environment allow (a terminal; ``CI`` unset for live, ``NO_COLOR`` unset for
    colour; never with ``TERM=dumb``). Safe to call from several threads.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        verbosity: int = 0,
        live: bool | None = None,
        color: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 0.5,
    ) -> None:
        self._stream = stream
        self._verbosity = verbosity
        self._live = _auto_live(stream) if live is None else live
        self._color = _auto_color(stream) if color is None else color
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._total = 0
        self._outcomes: Counter[Outcome] = Counter()
        self._progress_shown = False
        self._last: str | None = None
        self._tick = tick  # seconds between redraws of the live line (0: only on results)
        self._stopped = threading.Event()

    @property
    def live(self) -> bool:
        return self._live

    @property
    def color(self) -> bool:
        return self._color

    def start(self, total: int) -> None:
        with self._lock:
            self._started = self._clock()
            self._total = total
            self._outcomes.clear()
            if self._live:
                self._draw_progress(last=None)
        if self._live and self._tick > 0:
            # Keeps "elapsed" moving while a long scenario runs.
            threading.Thread(target=self._redraw_until_finished, daemon=True).start()

    def _redraw_until_finished(self) -> None:
        while not self._stopped.wait(self._tick):
            with self._lock:
                if self._progress_shown:
                    self._draw_progress(last=self._last)

    def scenario_finished(self, result: ScenarioResult) -> None:
        with self._lock:
            self._outcomes[result.outcome] += 1
            if self._live:
                if self._verbosity >= 1:
                    self._clear_progress()
                    self._write(result_line(result, color=self._color) + "\n")
                self._last = result.name
                self._draw_progress(last=result.name)
            elif self._verbosity >= 0:
                self._write(result_line(result, color=self._color) + "\n")

    def notice(self, text: str) -> None:
        """A message the user must see at once (a service died), above the live line."""
        with self._lock:
            self._clear_progress()
            self._write(text.rstrip("\n") + "\n")
            if self._live and self._total:
                self._draw_progress(last=self._last)

    def finish(self, results: Sequence[ScenarioResult], elapsed: float) -> None:
        self._stopped.set()
        with self._lock:
            self._clear_progress()
            problems = sorted(
                (r for r in results if r.outcome in _PROBLEMS), key=lambda r: (r.order, r.name)
            )
            for result in problems:
                self._write(failure_block(result, color=self._color, with_log=self._verbosity >= 1))
            self._write(self._paint_summary(results, summary_line(results, elapsed)) + "\n")

    # ------------------------------------------------------------------ live line

    def _progress_text(self, last: str | None) -> str:
        """The live line's text, before fitting it to the terminal."""
        done = sum(self._outcomes.values())
        text = f"[{done}/{self._total}] {self._outcomes[Outcome.FAILED]} failed"
        if self._outcomes[Outcome.ERRORED]:
            text += f", {self._outcomes[Outcome.ERRORED]} errored"
        text += f" · elapsed {self._clock() - self._started:.1f}s"
        if last is not None:
            text += f" · last: {_one_line(last)}"
        return text

    def _draw_progress(self, last: str | None) -> None:
        width = shutil.get_terminal_size().columns - 1  # the last column may wrap
        self._write(_CLEAR_LINE + _fit(self._progress_text(last), width))
        self._progress_shown = True

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self._write(_CLEAR_LINE)
            self._progress_shown = False

    # ------------------------------------------------------------------ output

    def _paint_summary(self, results: Sequence[ScenarioResult], line: str) -> str:
        bad = any(r.outcome in _PROBLEMS for r in results)
        return _paint(line, Outcome.FAILED if bad else Outcome.PASSED, self._color)

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


# ---------------------------------------------------------------------- helpers


def _paint(text: str, outcome: Outcome, color: bool) -> str:
    return f"{_ANSI[outcome]}{text}{_RESET}" if color else text


def _one_line(text: str) -> str:
    """Control characters (newlines, escapes) become one space: keeps lines whole and safe."""
    return _CONTROL.sub(" ", text)


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` terminal cells, ending with ``…`` when cut."""
    if sum(map(_cells, text)) <= width:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        used += _cells(char)
        if used > width - 1:
            break
        kept.append(char)
    return ("".join(kept) + "…") if width > 0 else ""


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _env_set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _dumb_terminal() -> bool:
    return os.environ.get("TERM", "") == "dumb"


def _auto_live(stream: TextIO) -> bool:
    return _isatty(stream) and not _in_ci() and not _dumb_terminal()


def _auto_color(stream: TextIO) -> bool:
    return _isatty(stream) and not _env_set("NO_COLOR") and not _dumb_terminal()
