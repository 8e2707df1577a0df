"""MappedFile and MappedFileQueue on tiny files under tmp_path."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rocketq.store import mapped_file
from rocketq.store.format import StoreError
from rocketq.store.mapped_file import MappedFile, MappedFileQueue, file_name_of

SIZE = 64


def test_file_name_is_twenty_digits() -> None:
    assert file_name_of(0) == "00000000000000000000"
    assert file_name_of(1073741824) == "00000000001073741824"
    assert file_name_of(6_000_000) == "00000000000006000000"


def test_new_file_is_preallocated_and_appends(tmp_path: Path) -> None:
    path = tmp_path / file_name_of(128)
    mf = MappedFile(path, SIZE)
    assert path.stat().st_size == SIZE
    assert (mf.file_from_offset, mf.wrote_position, mf.remaining) == (128, 0, SIZE)
    assert mf.append(b"abc") == 0
    assert mf.append(bytearray(b"de")) == 3
    assert mf.max_offset == 128 + 5
    assert mf.read_bytes(1, 3) == b"bcd"
    with mf.read(0, 5) as view:
        assert bytes(view) == b"abcde"
    with pytest.raises(StoreError):
        mf.read(3, 3)  # beyond write position
    with pytest.raises(StoreError):
        mf.append(bytes(SIZE))
    mf.append(bytes(SIZE - 5))
    assert mf.is_full and mf.remaining == 0
    mf.close()
    assert path.read_bytes()[:5] == b"abcde"


def _read_ahead_off(path: Path) -> bool:
    """Whether this process maps ``path`` with MADV_RANDOM ("rr" in its smaps VmFlags)."""
    found = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if not line[:1].isupper() and "-" in line.split(" ", 1)[0]:
            found = line.endswith(str(path))
        elif found and line.startswith("VmFlags:"):
            return "rr" in line.split()[1:]
    raise AssertionError(f"{path} is not mapped")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc smaps")
def test_synced_appends_turn_read_ahead_off_until_full(tmp_path: Path) -> None:
    size = 4 * 4096
    plain = MappedFile(tmp_path / file_name_of(size * 8), size)  # appends not synced one by one
    plain.append(b"x" * 100)
    assert not _read_ahead_off(plain.path)
    plain.close()

    fresh = MappedFile(tmp_path / file_name_of(0), size, synced_appends=True)
    assert _read_ahead_off(fresh.path)  # a new file: written from its first byte
    fresh.append(bytes(size // 2))
    assert _read_ahead_off(fresh.path)
    fresh.wrote_in_place(size)  # full: consumers reading it cold get read-ahead back
    assert not _read_ahead_off(fresh.path)
    fresh.close()

    loaded = MappedFile(tmp_path / file_name_of(0), size, synced_appends=True)  # as load() does
    assert not _read_ahead_off(loaded.path)
    loaded.set_positions(4096)
    assert loaded.append_at(4096, b"x" * 100)
    assert _read_ahead_off(loaded.path)
    loaded.append_blank(b"end")
    assert loaded.is_full and not _read_ahead_off(loaded.path)
    loaded.close()

    queue = MappedFileQueue(tmp_path / "q", size, synced_appends=True)
    created = queue.get_last_file()
    assert created is not None and _read_ahead_off(created.path)  # what the queue creates
    queue.close()


def test_reopen_keeps_bytes_and_rejects_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / file_name_of(0)
    mf = MappedFile(path, SIZE)
    mf.append(b"xyz")
    mf.flush()
    mf.close()
    mf.close()  # idempotent
    again = MappedFile(path, SIZE)
    assert again.buffer()[:3] == b"xyz"
    again.close()
    with pytest.raises(StoreError, match="expected"):
        MappedFile(path, SIZE * 2)
    with pytest.raises(StoreError, match="offset"):
        MappedFile(tmp_path / "notanumber", SIZE)


def test_flush_least_pages(tmp_path: Path) -> None:
    mf = MappedFile(tmp_path / file_name_of(0), 4096 * 4)
    mf.append(b"x" * 100)
    assert mf.flush(least_pages=1) == 0  # less than a page dirty
    assert mf.flush() == 100
    mf.append(b"y" * 4096)
    assert mf.flush(least_pages=1) == 4196
    assert mf.flush() == 4196  # nothing new
    mf.destroy()


def test_flush_from_worker_thread(tmp_path: Path) -> None:
    mf = MappedFile(tmp_path / file_name_of(0), SIZE)
    mf.append(b"q" * 10)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(mf.flush()))
    worker.start()
    worker.join()
    assert result == [10] and mf.flushed_position == 10
    mf.destroy()


def test_truncate_zeroes_stale_tail(tmp_path: Path) -> None:
    mf = MappedFile(tmp_path / file_name_of(0), SIZE)
    mf.append(b"A" * 40)
    mf.truncate(10)
    assert (mf.wrote_position, mf.flushed_position) == (10, 10)
    assert mf.buffer()[:SIZE] == b"A" * 10 + bytes(SIZE - 10)
    with pytest.raises(ValueError):
        mf.truncate(SIZE + 1)
    mf.destroy()


def test_destroy_with_live_view_unlinks(tmp_path: Path) -> None:
    mf = MappedFile(tmp_path / file_name_of(0), SIZE)
    mf.append(b"hello")
    view = mf.read(0, 5)
    mf.destroy()
    assert not mf.path.exists() and mf.closed
    assert bytes(view) == b"hello"  # still mapped, safe to read
    view.release()


def _queue_with_data(path: Path, nbytes: int) -> MappedFileQueue:
    q = MappedFileQueue(path, SIZE)
    left = nbytes
    while left:
        mf = q.get_last_file()
        assert mf is not None
        n = min(left, mf.remaining)
        mf.append(b"d" * n)
        left -= n
    return q


def test_queue_rolls_and_finds_files(tmp_path: Path) -> None:
    q = _queue_with_data(tmp_path / "cl", SIZE * 2 + 10)
    assert [m.file_name for m in q.files] == [file_name_of(i * SIZE) for i in range(3)]
    assert (q.min_offset(), q.max_offset()) == (0, SIZE * 2 + 10)
    found = q.find_file(SIZE + 3)
    assert found is not None and found.file_from_offset == SIZE
    assert q.find_file(SIZE * 3) is None
    assert q.find_file(-1, return_first_on_not_found=True) is q.first
    assert q.roll_next_file(SIZE + 3) == SIZE * 2
    assert q.get_last_file(create=False) is q.last
    q.close()


def test_empty_queue(tmp_path: Path) -> None:
    q = MappedFileQueue(tmp_path / "none", SIZE)
    q.load()
    assert (q.min_offset(), q.max_offset(), q.first, q.find_file(0)) == (-1, 0, None, None)
    assert q.get_last_file(create=False) is None
    assert q.flush() is True
    mf = q.get_last_file(start_offset=SIZE * 5 + 7)
    assert mf is not None and mf.file_from_offset == SIZE * 5
    q.destroy()
    assert not (tmp_path / "none").exists()


def test_load_marks_full_and_deletes_empty_last(tmp_path: Path) -> None:
    q = _queue_with_data(tmp_path / "cl", SIZE + 5)
    q.close()
    (tmp_path / "cl" / file_name_of(SIZE * 2)).touch()  # crash during pre-allocation
    (tmp_path / "cl" / "README").write_text("not a store file")
    loaded = MappedFileQueue(tmp_path / "cl", SIZE)
    loaded.load()
    assert len(loaded.files) == 2
    assert all(m.is_full for m in loaded.files)
    assert not (tmp_path / "cl" / file_name_of(SIZE * 2)).exists()
    assert loaded.max_offset() == SIZE * 2
    loaded.truncate_dirty_files(SIZE + 5)
    assert loaded.max_offset() == SIZE + 5
    loaded.close()


def test_load_rejects_wrong_size_and_gaps(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / file_name_of(0)).write_bytes(bytes(SIZE - 1))
    (d / file_name_of(SIZE)).write_bytes(bytes(SIZE))
    with pytest.raises(StoreError, match="bytes"):
        MappedFileQueue(d, SIZE).load()
    (d / file_name_of(0)).write_bytes(bytes(SIZE))
    (d / file_name_of(SIZE * 3)).write_bytes(bytes(SIZE))
    q = MappedFileQueue(d, SIZE)
    with pytest.raises(StoreError, match="gap"):
        q.load()
    q.close()


def test_truncate_dirty_files(tmp_path: Path) -> None:
    q = _queue_with_data(tmp_path / "cl", SIZE * 3)
    q.flushed_where = SIZE * 3
    q.truncate_dirty_files(SIZE + 7)
    assert len(q.files) == 2
    assert not (tmp_path / "cl" / file_name_of(SIZE * 2)).exists()
    assert q.max_offset() == SIZE + 7 and q.flushed_where == SIZE + 7
    q.truncate_dirty_files(SIZE)  # exactly a file start: keep it empty
    assert len(q.files) == 2 and q.max_offset() == SIZE
    q.delete_last_file()
    assert len(q.files) == 1
    q.close()


def test_queue_flush_walks_files(tmp_path: Path) -> None:
    q = _queue_with_data(tmp_path / "cl", SIZE + 9)
    assert q.flush() is False and q.flushed_where == SIZE
    assert q.flush() is False and q.flushed_where == SIZE + 9
    assert q.flush() is True
    q.close()


def test_delete_expired_by_time(tmp_path: Path) -> None:
    q = _queue_with_data(tmp_path / "cl", SIZE * 4)
    old = 1_000_000
    for mf in q.files[:2]:
        os.utime(mf.path, (old, old))
    now = int(q.files[3].last_modified_ms())
    assert q.delete_expired_by_time(expired_ms=60_000, now_ms=now) == 2
    assert q.min_offset() == SIZE * 2
    assert q.delete_expired_by_time(expired_ms=60_000, now_ms=now) == 0
    assert q.delete_expired_by_time(expired_ms=60_000, clean_immediately=True) == 1
    assert len(q.files) == 1  # the last file is never deleted
    q.close()


def test_delete_expired_by_offset(tmp_path: Path) -> None:
    unit = 16
    q = MappedFileQueue(tmp_path / "cq", unit * 2)
    for phys in (100, 200, 300, 400, 500, 600):
        mf = q.get_last_file()
        assert mf is not None
        mf.append(phys.to_bytes(8, "big") + bytes(unit - 8))
    assert q.delete_expired_by_offset(250, unit) == 1  # file 1 ends with 200 < 250
    assert q.delete_expired_by_offset(10_000, unit) == 1  # last file is kept
    assert [m.file_from_offset for m in q.files] == [unit * 4]
    q.close()


def test_a_truncation_waits_for_a_running_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slave promoted in controller mode truncates its log while its flush thread syncs:
    # the flush must not then mark the dropped bytes, and so the ones written again over
    # them, as on disk.
    queue = MappedFileQueue(tmp_path, 4096)
    mapped = queue.get_last_file()
    assert mapped is not None
    mapped.append(b"x" * 1000)
    real_sync = mapped_file._datasync
    truncations: list[threading.Thread] = []

    def sync_while_truncating(fd: int) -> None:
        if not truncations:  # the first sync: a truncation comes in from the loop meanwhile
            truncation = threading.Thread(target=queue.truncate_dirty_files, args=(400,))
            truncations.append(truncation)
            truncation.start()
            truncation.join(0.2)  # with the lock it waits for this flush to end
        real_sync(fd)

    monkeypatch.setattr(mapped_file, "_datasync", sync_while_truncating)
    queue.flush()
    truncations[0].join(10)
    assert not truncations[0].is_alive()
    assert (mapped.wrote_position, queue.flushed_where) == (400, 400)
    mapped.append(b"y" * 300)
    queue.flush()
    assert queue.flushed_where == 700 == mapped.flushed_position
    queue.close()
