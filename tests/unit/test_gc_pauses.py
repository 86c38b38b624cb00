"""Collection pauses reach the histogram by generation; start-up settles the heap."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from masterdata.server.observability.gc_pauses import (
    FULL_PASS_EVERY,
    YOUNG_PASS_EVERY,
    GcPauses,
    settle_heap,
)


def pauses(registry: CollectorRegistry, generation: int) -> tuple[float, float]:
    labels = {"generation": str(generation)}
    count = registry.get_sample_value("masterdata_gc_pause_seconds_count", labels)
    total = registry.get_sample_value("masterdata_gc_pause_seconds_sum", labels)
    assert count is not None and total is not None
    return count, total


def test_each_collection_is_one_pause_of_its_generation() -> None:
    registry = CollectorRegistry()
    watcher = GcPauses(registry)
    watcher.watch()
    watcher.watch()  # watching twice still counts each pause once
    gc.disable()  # no automatic collection between the reads: only the one asked for
    try:
        before = pauses(registry, 1)[0]
        gc.collect(1)
        count, total = pauses(registry, 1)
        assert count == before + 1
        assert total > 0
    finally:
        gc.enable()
        watcher.stop()
    gc.collect(1)
    assert pauses(registry, 1)[0] == count


def test_settling_freezes_start_up_objects_and_spaces_passes() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_PASS_EVERY, thresholds[1], FULL_PASS_EVERY)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
