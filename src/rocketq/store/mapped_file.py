"""Memory-mapped, fixed-size store files and the directory queues made of them.

Mirrors RocketMQ's ``MappedFile``/``DefaultMappedFile`` and ``MappedFileQueue``:

* A file is pre-allocated to its full size (sparse ``ftruncate``) and named by the global
  offset of its first byte, 20 decimal digits (``UtilAll#offset2FileName``).
* Appends go to the write position; readers get slices below it.
* ``flush`` calls ``fdatasync`` on the file descriptor: it releases the GIL, so the flush
  service may run it in a worker thread while the event loop keeps appending. Dirty pages of
  a ``MAP_SHARED`` mapping belong to the page cache, which ``fdatasync`` writes back.
* ``synced_appends`` (the CommitLog under SYNC_FLUSH, synced every few records): the file
  being appended to is mapped with ``MADV_RANDOM``, and back to ``MADV_NORMAL`` once full.
  Linux (6.x) caches file pages in large folios where it reads ahead, and a write fault
  into a hole reads ahead too; a write then dirties the whole folio, so each
  ``fdatasync`` of a few KiB of records wrote back about 900 KiB here, and a SYNC_FLUSH
  send waited for all of it. With read-ahead off, the holes ahead of the writer come in
  as single pages (a fault per page: ~0.3 us more per 1 KiB record, which the periodic
  flush of ASYNC_FLUSH has no reason to pay). A full file gets read-ahead back for
  consumers reading it cold.

A memoryview returned by :meth:`MappedFile.read` pins the mapping; destroying a file whose
views are still alive unlinks it and leaves the unmapping to the garbage collector.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import threading
import time
from pathlib import Path

from rocketq.store.format import StoreError

__all__ = [
    "DELETE_FILES_BATCH_MAX",
    "OS_PAGE_SIZE",
    "MappedFile",
    "MappedFileQueue",
    "file_name_of",
]

log = logging.getLogger(__name__)

# Page accounting for the "flush at least N pages" thresholds (MappedFile.OS_PAGE_SIZE).
OS_PAGE_SIZE = 4096
# MappedFileQueue.DELETE_FILES_BATCH_MAX: delete at most this many files per cleaning pass.
DELETE_FILES_BATCH_MAX = 10
# Stale bytes after a truncation point are zeroed in chunks this large; chunks that are
# already zero are not written, so the holes of a sparse file stay holes.
_ZERO_CHUNK = 64 * 1024
_ZEROS = bytes(_ZERO_CHUNK)
# madvise advice for a file being written and for a full one (absent off Linux: no-op).
_ADVICE_WRITING = getattr(mmap, "MADV_RANDOM", None)
_ADVICE_FULL = getattr(mmap, "MADV_NORMAL", None)
_FILE_NAME = re.compile(r"^\d{20}$")


def file_name_of(offset: int) -> str:
    """``UtilAll#offset2FileName``: the offset as 20 zero-padded decimal digits."""
    return f"{offset:020d}"


class MappedFile:
    """One fixed-size file mapped into memory, named by its start offset."""

    # Slots: the compiled ``put_twins.put_runs`` appends to a ConsumeQueue's file through them
    # (and a __dict__ still, for anything else set on an instance, as a test's patch).
    __slots__ = ("__dict__", "_closed", "_fd", "_flushed", "_mm", "_synced_appends", "_view",
                 "_writing", "_wrote", "file_from_offset", "file_size", "path")  # fmt: skip

    def __init__(self, path: str | Path, file_size: int, synced_appends: bool = False) -> None:
        self.path = Path(path)
        self.file_size = file_size
        try:
            self.file_from_offset = int(self.path.name)
        except ValueError as exc:
            raise StoreError(f"mapped file name is not an offset: {self.path}") from exc
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                os.ftruncate(fd, file_size)
            elif size != file_size:
                raise StoreError(f"{self.path} has {size} bytes, expected {file_size}")
            self._mm = mmap.mmap(fd, file_size)
            self._view: memoryview | None = None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._wrote = 0
        self._flushed = 0
        self._closed = False
        # With synced_appends: a new file is written from its first byte; a loaded one
        # keeps read-ahead for recovery's scan until its first append. Without: never.
        self._synced_appends = synced_appends
        self._writing = False
        if size == 0 and synced_appends:
            self._advise(0)

    def __repr__(self) -> str:
        return f"MappedFile({self.path.name}, wrote={self._wrote}, flushed={self._flushed})"

    @property
    def file_name(self) -> str:
        """The 20-digit file name."""
        return self.path.name

    @property
    def wrote_position(self) -> int:
        """Bytes written into this file (its read limit)."""
        return self._wrote

    @property
    def flushed_position(self) -> int:
        """Bytes known to be on disk."""
        return self._flushed

    @property
    def remaining(self) -> int:
        """Free bytes after the write position."""
        return self.file_size - self._wrote

    @property
    def is_full(self) -> bool:
        """True once the write position reached the end of the file."""
        return self._wrote == self.file_size

    @property
    def max_offset(self) -> int:
        """Global offset just after the last written byte."""
        return self.file_from_offset + self._wrote

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`destroy`."""
        return self._closed

    def set_positions(self, position: int) -> None:
        """Set write and flush positions (after load/recovery), without touching bytes."""
        if not 0 <= position <= self.file_size:
            raise ValueError(f"position {position} outside 0..{self.file_size}")
        self._wrote = position
        self._flushed = position

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at the write position; return that position. Must fit."""
        pos = self._wrote
        end = pos + len(data)
        if end > self.file_size:
            raise StoreError(f"{len(data)} bytes do not fit in {self.path.name} at {pos}")
        self._mm[pos:end] = data
        self._wrote = end
        if self._synced_appends and (not self._writing or end == self.file_size):
            self._advise(end)
        return pos

    def append_at(self, position: int, data: bytes | bytearray) -> bool:
        """:meth:`append` when ``position`` is the write position and ``data`` fits; False
        (nothing written) otherwise: one check for a caller's usual case."""
        end = position + len(data)
        if position != self._wrote or end > self.file_size:
            return False
        self._mm[position:end] = data
        self._wrote = end
        if self._synced_appends and (not self._writing or end == self.file_size):
            self._advise(end)
        return True

    def wrote_in_place(self, end: int) -> None:
        """The bytes up to ``end`` were written straight into :meth:`buffer` (whole records
        at the write position): make them readable. ``end`` below the write position or
        past the file is an error."""
        if not self._wrote <= end <= self.file_size:
            raise StoreError(f"write end {end} outside {self._wrote}..{self.file_size}")
        self._wrote = end
        if self._synced_appends and (not self._writing or end == self.file_size):
            self._advise(end)

    def append_blank(self, filler: bytes) -> int:
        """Write the end-of-file ``filler`` and mark the file full; return its position.

        The bytes after the filler stay as they are (zero in a pre-allocated file).
        """
        pos = self.append(filler)
        self._wrote = self.file_size
        if self._synced_appends:
            self._advise(self.file_size)
        return pos

    def _advise(self, end: int) -> None:
        """Read-ahead off while the file is appended to, back on once it is full."""
        writing = end < self.file_size
        advice = _ADVICE_WRITING if writing else _ADVICE_FULL
        if self._writing == writing or advice is None or self._closed:
            self._writing = writing
            return
        self._writing = writing
        try:
            self._mm.madvise(advice)
        except OSError as exc:  # advice only: the data path does not depend on it
            log.debug("madvise on %s failed: %s", self.path, exc)

    def read(self, position: int, size: int) -> memoryview:
        """A zero-copy view of ``size`` bytes at ``position``; must lie below the write position."""
        if position < 0 or size < 0 or position + size > self._wrote:
            raise StoreError(
                f"read {position}+{size} beyond write position {self._wrote} of {self.path.name}"
            )
        view = self._view
        if view is None:  # one view of the whole mapping, sliced per read
            view = self._view = memoryview(self._mm)
        return view[position : position + size]

    def read_bytes(self, position: int, size: int) -> bytes:
        """A copy of ``size`` bytes at ``position`` (below the write position)."""
        with self.read(position, size) as view:
            return bytes(view)

    def buffer(self) -> mmap.mmap:
        """The whole mapping, including bytes past the write position (used by recovery)."""
        return self._mm

    def flush(self, least_pages: int = 0) -> int:
        """``fdatasync`` if at least ``least_pages`` pages are dirty (0 = any); new flushed pos.

        Safe to call from a worker thread while another thread appends: it only reads the
        write position once and syncs the descriptor.
        """
        wrote = self._wrote
        if wrote <= self._flushed or self._closed:
            return self._flushed
        if least_pages > 0 and wrote // OS_PAGE_SIZE - self._flushed // OS_PAGE_SIZE < least_pages:
            return self._flushed
        _datasync(self._fd)
        self._flushed = max(self._flushed, wrote)
        return self._flushed

    def truncate(self, position: int) -> None:
        """Reset the write position to ``position`` and zero the stale bytes after it.

        Zeroing keeps a later recovery scan from reading an old record behind the new tail.
        """
        self.set_positions(position)
        _zero_range(self._mm, position, self.file_size)

    def last_modified_ms(self) -> int:
        """The file's modification time, ms since the epoch."""
        return int(os.stat(self.path).st_mtime * 1000)

    def close(self) -> None:
        """Unmap and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._view is not None:
            self._view.release()
            self._view = None
        try:
            self._mm.close()
        except BufferError:
            log.warning("%s still has readers; unmapping is left to the GC", self.path)
        os.close(self._fd)

    def destroy(self) -> None:
        """Close and delete the file."""
        self.close()
        self.path.unlink(missing_ok=True)


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def _zero_range(mm: mmap.mmap, start: int, end: int) -> None:
    pos = start
    while pos < end:
        stop = min(end, pos + _ZERO_CHUNK)
        if mm[pos:stop] != _ZEROS[: stop - pos]:
            mm[pos:stop] = _ZEROS[: stop - pos]
        pos = stop


class MappedFileQueue:
    """A directory of equal-size mapped files forming one logical byte sequence."""

    def __init__(self, store_dir: str | Path, file_size: int, synced_appends: bool = False) -> None:
        if file_size <= 0:
            raise ValueError("file_size must be positive")
        self.store_dir = Path(store_dir)
        self.file_size = file_size
        self.synced_appends = synced_appends  # see the module docstring
        # flush() runs in a flush thread while the loop may truncate or delete files: one at
        # a time, or a flush that began before a truncation would mark the dropped bytes
        # (and so the rewritten ones) as on disk. Re-entrant: destroy() runs under it too.
        self._lock = threading.RLock()
        self.files: list[MappedFile] = []
        self.flushed_where = 0

    def load(self) -> None:
        """Map the existing files, sorted by name, all marked full (recovery sets the tail).

        A zero-length last file (a crash during pre-allocation) is deleted, as 5.x does; any
        other file of the wrong size is an error.
        """
        if not self.store_dir.is_dir():
            return
        paths = sorted(
            p for p in self.store_dir.iterdir() if p.is_file() and _FILE_NAME.match(p.name)
        )
        for i, path in enumerate(paths):
            size = path.stat().st_size
            if size == 0 and i == len(paths) - 1:
                log.warning("deleting empty last file %s", path)
                path.unlink()
                continue
            if size != self.file_size:
                raise StoreError(f"{path} has {size} bytes, store config says {self.file_size}")
            mapped = MappedFile(path, self.file_size, self.synced_appends)
            mapped.set_positions(self.file_size)
            self.files.append(mapped)
        self._check_contiguous()

    def _check_contiguous(self) -> None:
        for prev, cur in zip(self.files, self.files[1:], strict=False):
            if cur.file_from_offset != prev.file_from_offset + self.file_size:
                raise StoreError(f"gap between {prev.file_name} and {cur.file_name}")

    @property
    def first(self) -> MappedFile | None:
        """The oldest file, if any."""
        return self.files[0] if self.files else None

    @property
    def last(self) -> MappedFile | None:
        """The newest file, if any."""
        return self.files[-1] if self.files else None

    def min_offset(self) -> int:
        """Start offset of the first file, or -1 when empty (``getMinOffset``)."""
        return self.files[0].file_from_offset if self.files else -1

    def max_offset(self) -> int:
        """Global offset after the last written byte, or 0 when empty."""
        return self.files[-1].max_offset if self.files else 0

    def roll_next_file(self, offset: int) -> int:
        """``rollNextFile``: start offset of the file after the one holding ``offset``."""
        return offset + self.file_size - offset % self.file_size

    def get_last_file(self, start_offset: int = 0, create: bool = True) -> MappedFile | None:
        """The file to append to; creates one when there is none or the last is full."""
        last = self.last
        if last is not None and not last.is_full:
            return last
        if not create:
            return last
        if last is None:
            offset = start_offset - start_offset % self.file_size
        else:
            offset = last.file_from_offset + self.file_size
        return self._create(offset)

    def _create(self, offset: int) -> MappedFile:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        mapped = MappedFile(self.store_dir / file_name_of(offset), self.file_size,
                            self.synced_appends)  # fmt: skip
        self.files.append(mapped)
        return mapped

    def find_file(self, offset: int, return_first_on_not_found: bool = False) -> MappedFile | None:
        """The file holding global ``offset`` (``findMappedFileByOffset``).

        Reads ``files`` once: flush threads call this while the loop may swap the list.
        """
        files = self.files
        if not files:
            return None
        first = files[0]
        index = (offset - first.file_from_offset) // self.file_size
        if 0 <= index < len(files):
            return files[index]
        return first if return_first_on_not_found else None

    def truncate_dirty_files(self, offset: int) -> None:
        """Drop everything from global ``offset`` on: trim its file, delete later files."""
        with self._lock:
            keep = []
            for mapped in self.files:
                if mapped.file_from_offset + self.file_size <= offset:
                    keep.append(mapped)
                elif offset >= mapped.file_from_offset:
                    mapped.truncate(offset - mapped.file_from_offset)
                    keep.append(mapped)
                else:
                    mapped.destroy()
            self.files = keep
            self.flushed_where = min(self.flushed_where, offset)

    def delete_last_file(self) -> None:
        """Destroy the newest file (recovery of a queue whose tail file is unusable)."""
        with self._lock:
            if self.files:
                self.files.pop().destroy()

    def delete_expired_by_time(
        self, expired_ms: int, clean_immediately: bool = False, now_ms: int | None = None
    ) -> int:
        """Delete old files untouched for ``expired_ms``, oldest first, never the last one.

        Stops at the first file still alive (no holes in the middle) and after
        ``DELETE_FILES_BATCH_MAX`` files. Returns how many were deleted.
        """
        with self._lock:
            now = int(time.time() * 1000) if now_ms is None else now_ms
            count = 0
            for mapped in self.files[:-1][:DELETE_FILES_BATCH_MAX]:
                if not clean_immediately and now < mapped.last_modified_ms() + expired_ms:
                    break
                mapped.destroy()
                count += 1
            del self.files[:count]
            return count

    def delete_expired_by_offset(self, offset: int, unit_size: int) -> int:
        """Delete logic-queue files whose last unit points below commitlog ``offset``.

        ``deleteExpiredFileByOffset``: the first 8 bytes of each file's last unit are the
        commitlog offset it indexes. The last file is never deleted.
        """
        with self._lock:
            count = 0
            for mapped in self.files[:-1]:
                max_phy = _read_long(mapped, self.file_size - unit_size)
                if max_phy >= offset:
                    break
                mapped.destroy()
                count += 1
            del self.files[:count]
            return count

    def flush(self, least_pages: int = 0) -> bool:
        """Flush the file holding ``flushed_where``; True when nothing was left to flush.

        Runs in a worker thread in the flush service; never call it concurrently with itself.
        """
        with self._lock:
            first = self.first
            if first is not None and self.flushed_where < first.file_from_offset:
                self.flushed_where = first.file_from_offset  # the files below were deleted
            mapped = self.find_file(self.flushed_where, self.flushed_where == 0)
            if mapped is None:
                return True
            where = mapped.file_from_offset + mapped.flush(least_pages)
            done = where == self.flushed_where
            self.flushed_where = where
            return done

    def close(self) -> None:
        """Unmap every file."""
        with self._lock:
            for mapped in self.files:
                mapped.close()

    def destroy(self) -> None:
        """Delete every file and the directory if it ends up empty."""
        with self._lock:
            for mapped in self.files:
                mapped.destroy()
            self.files = []
            self.flushed_where = 0
            if self.store_dir.is_dir() and not any(self.store_dir.iterdir()):
                self.store_dir.rmdir()


def _read_long(mapped: MappedFile, position: int) -> int:
    return int.from_bytes(mapped.buffer()[position : position + 8], "big", signed=True)
