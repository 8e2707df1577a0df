"""ConsumeQueue: the per topic/queue index of 20-byte entries into the CommitLog.

Mirrors ``ConsumeQueue`` (4.9). Entry *i* (the logical "queue offset") lives at byte
``i * 20`` of the queue's file sequence in ``consumequeue/{topic}/{queueId}/``.

* Writes are idempotent: an entry whose ``offset + size`` is not past the highest commitlog
  byte already indexed is skipped, and so is one whose logical position is behind the write
  position ("repeatedly built" after a re-dispatch).
* When the first file of a queue is created for a non-zero logical offset, its leading slots
  get placeholder entries ``(0, 0x7FFFFFFF, 0)`` and the min offset starts there
  (``fillPreBlank``).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

from rocketq.store.format import (
    CQ_STORE_UNIT_SIZE,
    ConsumeQueueEntry,
    StoreError,
    pack_cq_entry,
    unpack_cq_entry,
)
from rocketq.store.mapped_file import MappedFile, MappedFileQueue

__all__ = ["PLACEHOLDER_ENTRY", "ConsumeQueue"]

log = logging.getLogger(__name__)

# ConsumeQueue#fillPreBlank: slots before a queue's first real entry.
PLACEHOLDER_ENTRY = pack_cq_entry(0, 0x7FFFFFFF, 0)
_PLACEHOLDER = unpack_cq_entry(PLACEHOLDER_ENTRY)
# iter_entries reads 64 entries first (a pull asks for 32), more when a filter skips them.
_ITER_CHUNK = 64
_ITER_CHUNK_MAX = 4096
_CQ_ENTRY_STRUCT = struct.Struct(">qiq")
# ConsumeQueue#recover starts three files from the end, as the CommitLog does.
_RECOVER_FILES = 3


class ConsumeQueue:
    """The logical queue ``topic``/``queue_id`` over a directory of 20-byte entries."""

    # Slots: ``put_twins.put_runs`` (compiled) reads and sets them without an attribute lookup
    # (and a __dict__ still, for anything else set on an instance, as a test's patch).
    __slots__ = ("__dict__", "max_physic_offset", "min_logic_offset", "queue", "queue_id",
                 "topic")  # fmt: skip

    def __init__(self, root_dir: str | Path, topic: str, queue_id: int, file_size: int) -> None:
        if file_size <= 0 or file_size % CQ_STORE_UNIT_SIZE:
            raise ValueError("consume queue file size must be a positive multiple of 20")
        self.topic = topic
        self.queue_id = queue_id
        self.queue = MappedFileQueue(Path(root_dir) / topic / str(queue_id), file_size)
        # Highest commitlog byte (offset + size) indexed so far; -1 = nothing yet.
        self.max_physic_offset = -1
        self.min_logic_offset = 0  # bytes

    def load(self) -> None:
        """Map the existing files (call :meth:`recover` next)."""
        self.queue.load()

    def min_offset_in_queue(self) -> int:
        """Smallest logical offset still available."""
        return self.min_logic_offset // CQ_STORE_UNIT_SIZE

    def max_offset_in_queue(self) -> int:
        """Logical offset the next entry will get."""
        return self.queue.max_offset() // CQ_STORE_UNIT_SIZE

    def recover(self) -> int:
        """Set the write position after the last valid entry; return the logical max offset."""
        files = self.queue.files
        if not files:
            return 0
        end = files[max(0, len(files) - _RECOVER_FILES)].file_from_offset
        for mapped in files[max(0, len(files) - _RECOVER_FILES) :]:
            if end != mapped.file_from_offset:
                break
            end = mapped.file_from_offset + self._scan_file(mapped)
        self.queue.truncate_dirty_files(end)
        self.queue.flushed_where = end
        return self.max_offset_in_queue()

    def _scan_file(self, mapped: MappedFile) -> int:
        buf = mapped.buffer()
        pos = 0
        while pos < self.queue.file_size:
            entry = unpack_cq_entry(buf, pos)
            if not entry.is_valid:
                break
            if entry != _PLACEHOLDER:  # Java counts it and gets max offset 2^31-1; we do not
                self.max_physic_offset = entry.physical_offset + entry.size
            pos += CQ_STORE_UNIT_SIZE
        return pos

    def put(self, physical_offset: int, size: int, tags_code: int, queue_offset: int) -> bool:
        """Write the entry for logical ``queue_offset``; False if it was already there."""
        if physical_offset + size <= self.max_physic_offset:
            return False
        expect = queue_offset * CQ_STORE_UNIT_SIZE
        files = self.queue.files
        if files:  # the usual put: the next slot of the last file, which has entries
            tail = files[-1]
            position = expect - tail.file_from_offset
            entry = _CQ_ENTRY_STRUCT.pack(physical_offset, size, tags_code)
            if position > 0 and tail.append_at(position, entry):
                self.max_physic_offset = physical_offset + size
                return True
        mapped = self.queue.get_last_file(expect)
        if mapped is None:  # pragma: no cover - get_last_file creates one
            raise StoreError("could not create a consume queue file")
        current = mapped.max_offset
        if expect != current or current == mapped.file_from_offset:
            if len(self.queue.files) == 1 and mapped.wrote_position == 0 and expect:
                self._fill_pre_blank(mapped, expect)
            current = mapped.max_offset
            if expect < current:
                return False  # repeatedly built
            if expect != current:
                raise StoreError(
                    f"{self.topic}-{self.queue_id}: entry {queue_offset} would leave a gap "
                    f"after {current // CQ_STORE_UNIT_SIZE}"
                )
        mapped.append(_CQ_ENTRY_STRUCT.pack(physical_offset, size, tags_code))
        self.max_physic_offset = physical_offset + size
        return True

    def put_entries(self, queue_offset: int, entries: bytes) -> None:
        """:meth:`put` of each 20-byte entry of ``entries`` (consecutive logical offsets
        from ``queue_offset``, ascending commitlog offsets): one write when they all go
        after the last entry of the last file (:meth:`append_run`), else entry by entry."""
        if self.append_run(queue_offset, entries):
            return
        for i, (phys, size, code) in enumerate(_CQ_ENTRY_STRUCT.iter_unpack(entries)):
            self.put(phys, size, code, queue_offset + i)

    def append_run(self, queue_offset: int, entries: bytes | bytearray) -> bool:
        """The usual :meth:`put_entries`: the entries (as it takes them) written at once
        when they go right after the last entry of the last file, fit in it and are all
        new (past :attr:`max_physic_offset`); False, with nothing written, otherwise.
        ``put_twins.put_runs`` (compiled) does this without the Python calls."""
        phys, size, _ = _CQ_ENTRY_STRUCT.unpack_from(entries, 0)
        files = self.queue.files
        if not files or phys + size <= self.max_physic_offset:
            return False
        tail = files[-1]  # (then the others, after it, are new too)
        position = queue_offset * CQ_STORE_UNIT_SIZE - tail.file_from_offset
        if position <= 0 or not tail.append_at(position, entries):
            return False
        phys, size, _ = _CQ_ENTRY_STRUCT.unpack_from(entries, len(entries) - CQ_STORE_UNIT_SIZE)
        self.max_physic_offset = phys + size
        return True

    def _fill_pre_blank(self, mapped: MappedFile, expect: int) -> None:
        count = (expect - mapped.file_from_offset) // CQ_STORE_UNIT_SIZE
        mapped.append(PLACEHOLDER_ENTRY * count)
        self.min_logic_offset = expect
        self.queue.flushed_where = expect

    def get_entries(self, queue_offset: int, max_count: int) -> list[ConsumeQueueEntry]:
        """Up to ``max_count`` entries from logical ``queue_offset`` (below the write position)."""
        out: list[ConsumeQueueEntry] = []
        pos = queue_offset * CQ_STORE_UNIT_SIZE
        if queue_offset < self.min_offset_in_queue():
            return out
        while len(out) < max_count and pos < self.queue.max_offset():
            mapped = self.queue.find_file(pos)
            if mapped is None:
                break
            start = pos - mapped.file_from_offset
            n = min(max_count - len(out), (mapped.wrote_position - start) // CQ_STORE_UNIT_SIZE)
            with mapped.read(start, n * CQ_STORE_UNIT_SIZE) as view:
                out.extend(unpack_cq_entry(view, i * CQ_STORE_UNIT_SIZE) for i in range(n))
            pos += n * CQ_STORE_UNIT_SIZE
        return out

    def iter_entries(self, queue_offset: int, max_count: int) -> Iterator[tuple[int, int, int]]:
        """(physical offset, size, tags code) of up to ``max_count`` entries from
        ``queue_offset``, read lazily in small chunks (a pull usually needs only a few)."""
        if queue_offset < self.min_offset_in_queue():
            return
        pos = queue_offset * CQ_STORE_UNIT_SIZE
        left = max_count
        chunk = _ITER_CHUNK
        while left > 0 and pos < self.queue.max_offset():
            mapped = self.queue.find_file(pos)
            if mapped is None:
                return
            start = pos - mapped.file_from_offset
            n = min(left, chunk, (mapped.wrote_position - start) // CQ_STORE_UNIT_SIZE)
            if n <= 0:
                return
            data = mapped.read_bytes(start, n * CQ_STORE_UNIT_SIZE)
            yield from _CQ_ENTRY_STRUCT.iter_unpack(data)
            pos += n * CQ_STORE_UNIT_SIZE
            left -= n
            chunk = min(chunk * 4, _ITER_CHUNK_MAX)  # a filter skipping many: read more at once

    def truncate_dirty_logic_files(self, phy_offset: int) -> None:
        """Drop entries pointing at commitlog bytes >= ``phy_offset`` (a truncated log)."""
        end = self.queue.max_offset()
        start = self.min_logic_offset
        while end - CQ_STORE_UNIT_SIZE >= start:
            entry = self._entry_at(end - CQ_STORE_UNIT_SIZE)
            if entry.is_valid and entry.physical_offset < phy_offset:
                break
            end -= CQ_STORE_UNIT_SIZE
        self.queue.truncate_dirty_files(end)
        last = self._entry_at(end - CQ_STORE_UNIT_SIZE) if end > start else None
        self.max_physic_offset = last.physical_offset + last.size if last else -1

    def _entry_at(self, byte_offset: int) -> ConsumeQueueEntry:
        mapped = self.queue.find_file(byte_offset)
        if mapped is None:
            raise StoreError(f"consume queue byte offset {byte_offset} is not on disk")
        return unpack_cq_entry(mapped.buffer(), byte_offset - mapped.file_from_offset)

    def correct_min_offset(self, phy_min_offset: int) -> None:
        """``correctMinOffset``: the first entry of the first file still in the commitlog."""
        first = self.queue.first
        if first is None:
            return
        buf = first.buffer()
        for pos in range(0, first.wrote_position, CQ_STORE_UNIT_SIZE):
            if unpack_cq_entry(buf, pos).physical_offset >= phy_min_offset:
                self.min_logic_offset = max(self.min_logic_offset, first.file_from_offset + pos)
                return

    def delete_expired(self, phy_min_offset: int) -> int:
        """Delete files wholly below the commitlog min offset; fix the min offset."""
        count = self.queue.delete_expired_by_offset(phy_min_offset, CQ_STORE_UNIT_SIZE)
        self.correct_min_offset(phy_min_offset)
        return count

    def flush(self, least_pages: int = 0) -> bool:
        """Flush dirty entries (blocking; run in a worker thread)."""
        return self.queue.flush(least_pages)

    def close(self) -> None:
        """Unmap every file."""
        self.queue.close()

    def destroy(self) -> None:
        """Delete the queue's files."""
        self.max_physic_offset = -1
        self.min_logic_offset = 0
        self.queue.destroy()
