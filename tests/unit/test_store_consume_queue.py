"""ConsumeQueue: entries at logical indexes, idempotence, pre-blank, recovery, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.store.consume_queue import PLACEHOLDER_ENTRY, ConsumeQueue
from rocketq.store.format import ConsumeQueueEntry, StoreError
from rocketq.store.mapped_file import file_name_of

FILE_SIZE = 5 * 20  # five entries per file


def _cq(root: Path) -> ConsumeQueue:
    cq = ConsumeQueue(root, "TopicA", 3, FILE_SIZE)
    cq.load()
    cq.recover()
    return cq


def _fill(cq: ConsumeQueue, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assert cq.put(i * 100, 100, i, i) is True


def test_put_and_read_across_files(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    _fill(cq, 12)
    assert (tmp_path / "TopicA" / "3" / file_name_of(100)).exists()
    assert (cq.min_offset_in_queue(), cq.max_offset_in_queue()) == (0, 12)
    entries = cq.get_entries(3, 6)
    assert entries == [ConsumeQueueEntry(i * 100, 100, i) for i in range(3, 9)]
    assert len(cq.get_entries(10, 32)) == 2
    assert cq.get_entries(12, 5) == []
    cq.close()


def test_put_is_idempotent(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    _fill(cq, 3)
    assert cq.put(100, 100, 1, 1) is False  # commitlog bytes already indexed
    cq.max_physic_offset = 0  # pretend a re-dispatch from scratch
    assert cq.put(100, 100, 1, 1) is False  # logical slot already written
    assert cq.max_offset_in_queue() == 3
    with pytest.raises(StoreError, match="gap"):
        cq.put(900, 100, 0, 9)
    cq.close()


def test_first_file_for_nonzero_offset_gets_placeholders(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    assert cq.put(5000, 50, 7, 7) is True  # file starts at entry 5; slots 5, 6 are placeholders
    assert (cq.min_offset_in_queue(), cq.max_offset_in_queue()) == (7, 8)
    first = cq.queue.files[0]
    assert first.file_from_offset == 100
    assert first.read_bytes(0, 40) == PLACEHOLDER_ENTRY * 2
    assert cq.get_entries(5, 3) == []
    assert cq.get_entries(7, 3) == [ConsumeQueueEntry(5000, 50, 7)]
    cq.close()
    again = _cq(tmp_path)
    assert again.max_offset_in_queue() == 8 and again.max_physic_offset == 5050
    again.close()


def test_recover_stops_at_zero_tail(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    _fill(cq, 7)
    cq.close()
    again = _cq(tmp_path)
    assert again.max_offset_in_queue() == 7
    assert again.max_physic_offset == 700
    assert again.put(700, 100, 7, 7) is True
    again.close()


def test_truncate_dirty_logic_files(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    _fill(cq, 12)
    cq.truncate_dirty_logic_files(650)  # entries at 700.. point past the new log end
    assert cq.max_offset_in_queue() == 7 and cq.max_physic_offset == 700
    assert len(cq.queue.files) == 2
    cq.truncate_dirty_logic_files(0)
    assert cq.max_offset_in_queue() == 0 and cq.max_physic_offset == -1
    _fill(cq, 2)
    assert cq.get_entries(0, 5)[1] == ConsumeQueueEntry(100, 100, 1)
    cq.close()


def test_delete_expired_and_correct_min_offset(tmp_path: Path) -> None:
    cq = _cq(tmp_path)
    _fill(cq, 12)
    assert cq.delete_expired(620) == 1  # first file ends with 400 < 620
    assert cq.min_offset_in_queue() == 7  # entry 6 points at 600, entry 7 at 700
    assert cq.get_entries(0, 2) == []
    cq.destroy()
    assert cq.max_offset_in_queue() == 0


def test_bad_file_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ConsumeQueue(tmp_path, "T", 0, 30)
