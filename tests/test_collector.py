"""The collector settings a run applies to its process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from scenario_runner import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


@pytest.mark.usefixtures("restored")
def test_tune_raises_the_young_threshold_and_keeps_the_others() -> None:
    gc.set_threshold(700, 10, 10)
    collector.tune()
    assert gc.get_threshold() == (collector.FIRST_GENERATION, 10, 10)


@pytest.mark.usefixtures("restored")
def test_freeze_loaded_takes_what_exists_out_of_collections() -> None:
    before = gc.get_freeze_count()
    loaded = [[index] for index in range(1000)]
    collector.freeze_loaded()
    assert gc.get_freeze_count() >= before + len(loaded)


@pytest.mark.usefixtures("restored")
def test_run_settings_leave_the_collector_as_they_found_it() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    with collector.run_settings():
        assert gc.get_threshold() == (collector.FIRST_GENERATION, 10, 10)
        collector.freeze_loaded()
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("restored")
def test_loading_collects_nothing_and_freezes_what_it_loaded() -> None:
    assert gc.isenabled()
    gc.unfreeze()
    collections_before = gc.get_stats()[0]["collections"]
    with collector.loading():
        assert not gc.isenabled()
        loaded = [[index] for index in range(50_000)]  # far past the young threshold
        assert gc.get_stats()[0]["collections"] == collections_before
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded), "the collector will not walk them again"


@pytest.mark.usefixtures("restored")
def test_loading_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector.loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
