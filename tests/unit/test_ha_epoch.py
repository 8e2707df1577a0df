"""The controller-mode epoch list (``EpochFileCache``) and the consistent point a slave
truncates to (``findConsistentPoint``): pure, no files unless a test gives a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.store.ha.epoch import EpochEntry, EpochFileCache, find_consistent_point


def entries(*pairs: tuple[int, int]) -> list[EpochEntry]:
    """(epoch, start) pairs as a cache lists them (each ends where the next starts)."""
    cache = EpochFileCache()
    for epoch, start in pairs:
        assert cache.append(epoch, start)
    return cache.entries()


@pytest.mark.parametrize(
    ("local", "local_end", "master", "master_end", "point"),
    [
        # same history, the slave behind: its own end
        (((1, 0),), 100, ((1, 0),), 300, 100),
        # the old master wrote 200..260 in epoch 1 alone; the new one opened epoch 2 at 200
        (((1, 0),), 260, ((1, 0), (2, 200)), 500, 200),
        # a newest local epoch the master never had is skipped for an older shared one
        (((1, 0), (3, 200)), 400, ((1, 0), (2, 150)), 500, 150),
        # an epoch in which its master wrote nothing (same start as the next) still counts
        (((1, 0), (2, 100)), 180, ((1, 0), (2, 100), (3, 100)), 300, 100),
        # nothing in common: no point
        (((1, 0), (2, 0)), 0, ((3, 0),), 0, -1),
        # same epoch, different starts: not the same epoch history
        (((1, 0), (2, 50)), 90, ((1, 0), (2, 60)), 90, 50),
    ],
)
def test_consistent_point(
    local: tuple[tuple[int, int], ...],
    local_end: int,
    master: tuple[tuple[int, int], ...],
    master_end: int,
    point: int,
) -> None:
    assert find_consistent_point(entries(*local), local_end, entries(*master), master_end) == point


def test_append_needs_a_newer_epoch_and_no_lower_start() -> None:
    cache = EpochFileCache()
    assert cache.append(1, 0)
    assert cache.append(1, 0)  # the same entry again: already there
    assert not cache.append(1, 10) and not cache.append(0, 10)
    assert cache.append(2, 0)  # nothing written in epoch 1: kept (Java refuses this one)
    assert not cache.append(3, -1)
    assert [(e.epoch, e.start_offset, e.end_offset) for e in cache.entries()] == [
        (1, 0, 0),
        (2, 0, None),
    ]


def test_truncation_drops_entries_at_or_after_the_point() -> None:
    cache = EpochFileCache()
    for epoch, start in ((1, 0), (2, 100), (3, 250)):
        cache.append(epoch, start)
    cache.truncate_suffix_by_offset(250)
    assert cache.last_epoch() == 2
    cache.truncate_suffix_by_epoch(2)
    assert [(e.epoch, e.start_offset) for e in cache.entries()] == [(1, 0)]
    cache.truncate_suffix_by_offset(0)  # a slave truncated to 0 keeps no epoch at all
    assert len(cache) == 0 and cache.last_epoch() == -1


def test_prefix_truncation_after_commit_log_files_are_deleted(tmp_path: Path) -> None:
    cache = EpochFileCache(tmp_path / "epochFileCheckpoint")
    for epoch, start in ((1, 0), (2, 100), (3, 250)):
        cache.append(epoch, start)
    cache.truncate_prefix_by_offset(120)
    again = EpochFileCache(tmp_path / "epochFileCheckpoint")
    again.load()
    assert [(e.epoch, e.start_offset) for e in again.entries()] == [(2, 100), (3, 250)]
    cache.truncate_prefix_by_offset(250)  # epoch 2 ends at 250: gone
    assert [(e.epoch, e.start_offset) for e in cache.entries()] == [(3, 250)]
