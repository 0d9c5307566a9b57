"""Garbage-collector settings for a run.

Every gRPC call allocates a few dozen short-lived container objects (gRPC's own, the mock's,
the runner's), and some of gRPC's form reference cycles, so the collector has to run. With
CPython's default first-generation threshold (700 allocations) it runs every few calls and
walks every young object each time, including the records a long-lived mock keeps; a higher
threshold lets most of those objects die by reference counting before a collection sees
them. What a run loads once (protos, scenarios) is frozen out of the collector's sight.
Measured with ``bench/bench_runner.py`` and ``bench/bench_mock_unary.py`` (README).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

FIRST_GENERATION = 10_000  # allocations between young collections (CPython's default: 700)


def tune() -> None:
    """Set the thresholds for a process that runs scenarios or serves the mock."""
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION, second, third)


@contextlib.contextmanager
def run_settings() -> Iterator[None]:
    """``tune()`` for the length of a run; afterwards the thresholds are back and what was
    frozen is thawed, so a run made in-process (tests, a caller of ``cli.main``) leaves the
    collector as it found it."""
    thresholds = gc.get_threshold()
    tune()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def freeze_loaded() -> None:
    """Everything allocated so far lives for the whole run: never walk it again."""
    gc.freeze()


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """No collection while a suite loads, and what it loaded frozen at the end: it lives for
    the run (``run_settings`` thaws it afterwards), so walking it again and again as it
    grows was all cost (more than half the time of loading 1,000 documents from the
    document cache), and so would be walking it once more when the collector is back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
