"""IndexFile: one hash index from message keys to CommitLog offsets, RocketMQ's byte layout.

Mirrors ``store/index/IndexFile.java`` and ``IndexHeader.java`` (4.9.4; 5.x is the same
format). The file is ``40 + hashSlotNum*4 + indexNum*20`` bytes (layout drawn in
``format.py``):

* slot ``abs(javaHash(key)) % hashSlotNum`` holds the number of the newest entry whose key
  hashes there (0 = empty);
* each entry holds the key hash, the CommitLog offset, the store time as whole seconds after
  the header's ``beginTimestamp`` and the number of the previous entry of the same slot, so a
  slot is a newest-first chain;
* entry 0 is never used: the header's ``indexCount`` (next free entry) starts at 1.

Keys are not stored, only their hashes: a lookup may return offsets of other keys with the
same hash, and callers re-check the key on the decoded message (as RocketMQ's
``QueryMessageProcessor`` clients do).

Writes happen on one thread (the event loop). :meth:`IndexFile.flush` may run in a worker
thread at the same time; a small lock only keeps it from racing :meth:`IndexFile.close`.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rocketq.common import speedups
from rocketq.store.format import (
    INDEX_ENTRY_SIZE,
    INDEX_HASH_SLOT_SIZE,
    INDEX_HEADER_SIZE,
    IndexEntry,
    IndexHeader,
    StoreError,
    index_key_hash,
)

__all__ = [
    "INDEX_FILE_NAME_PATTERN",
    "INVALID_INDEX",
    "IndexFile",
    "index_file_name",
    "index_file_size",
    "put_index_entry",
    "put_index_key",
    "put_index_keys",
]

log = logging.getLogger(__name__)

# IndexFile.invalidIndex: slot value / prev pointer meaning "no entry".
INVALID_INDEX = 0
# The time diff is a Java int of seconds; later store times are clamped to it.
_MAX_TIME_DIFF = 0x7FFFFFFF
_MS_PER_SECOND = 1000
# UtilAll#timeMillisToHumanString: yyyyMMddHHmmssSSS, 17 digits, local time.
INDEX_FILE_NAME_PATTERN = re.compile(r"^\d{17}$")
_SLOT = struct.Struct(">i")
# The 40-byte header: begin/end timestamp, begin/end physical offset, slots used, count.
_HEADER = struct.Struct(">qqqqii")
# key hash, physical offset, time diff (s), previous entry number: one IndexFile entry.
_ENTRY = struct.Struct(">iqii")


def index_file_size(hash_slot_num: int, index_num: int) -> int:
    """Bytes of an IndexFile with this geometry (header + slots + entries)."""
    return INDEX_HEADER_SIZE + hash_slot_num * INDEX_HASH_SLOT_SIZE + index_num * INDEX_ENTRY_SIZE


def index_file_name(timestamp_ms: int) -> str:
    """``UtilAll#timeMillisToHumanString``: ``yyyyMMddHHmmssSSS`` in local time."""
    seconds, millis = divmod(timestamp_ms, _MS_PER_SECOND)
    return time.strftime("%Y%m%d%H%M%S", time.localtime(seconds)) + f"{millis:03d}"


class IndexFile:
    """One mapped IndexFile; create with ``end_*`` values or open an existing one + :meth:`load`.

    ``end_phy_offset``/``end_timestamp`` (when > 0) seed both begin and end header values,
    as a new file continues where the previous, full one stopped (``IndexFile`` constructor).
    """

    def __init__(
        self,
        path: str | Path,
        hash_slot_num: int,
        index_num: int,
        end_phy_offset: int = 0,
        end_timestamp: int = 0,
    ) -> None:
        if hash_slot_num <= 0:
            raise ValueError("hash_slot_num must be positive")
        if index_num < 2:
            raise ValueError("index_num must be at least 2 (entry 0 is never used)")
        self.path = Path(path)
        self.hash_slot_num = hash_slot_num
        self.index_num = index_num
        self.file_size = index_file_size(hash_slot_num, index_num)
        self._entries_base = INDEX_HEADER_SIZE + hash_slot_num * INDEX_HASH_SLOT_SIZE
        self._fd, self._mm = _map(self.path, self.file_size)
        self._lock = threading.Lock()
        self._closed = False
        # IndexHeader's in-memory copy (mutable: it changes on every put); every change is
        # written through to the mapping.
        self._header = _LiveHeader()
        if end_phy_offset > 0:
            self._set_header(begin_phy_offset=end_phy_offset, end_phy_offset=end_phy_offset)
        if end_timestamp > 0:
            self._set_header(begin_timestamp=end_timestamp, end_timestamp=end_timestamp)

    def __repr__(self) -> str:
        return f"IndexFile({self.file_name}, {self._header})"

    # -- header -------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the header back from the file (``IndexHeader#load``)."""
        h = IndexHeader.unpack(self._mm, 0)
        self._header = _LiveHeader(
            h.begin_timestamp,
            h.end_timestamp,
            h.begin_phy_offset,
            h.end_phy_offset,
            h.hash_slot_count,
            h.index_count,
        )

    @property
    def header(self) -> IndexHeader:
        """The current header values."""
        return self._header.snapshot()

    @property
    def file_name(self) -> str:
        """The file name (creation time, ``yyyyMMddHHmmssSSS``)."""
        return self.path.name

    @property
    def begin_timestamp(self) -> int:
        """Store time (ms) of the first indexed message."""
        return self._header.begin_timestamp

    @property
    def end_timestamp(self) -> int:
        """Store time (ms) of the last indexed message."""
        return self._header.end_timestamp

    @property
    def begin_phy_offset(self) -> int:
        """CommitLog offset of the first indexed message."""
        return self._header.begin_phy_offset

    @property
    def end_phy_offset(self) -> int:
        """CommitLog offset of the last indexed message."""
        return self._header.end_phy_offset

    @property
    def index_count(self) -> int:
        """Number of the next free entry (1 when empty)."""
        return self._header.index_count

    @property
    def is_write_full(self) -> bool:
        """True once every entry is used (``isWriteFull``)."""
        return self._header.index_count >= self.index_num

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`destroy`."""
        return self._closed

    def _set_header(self, **changes: int) -> None:
        for name, value in changes.items():
            setattr(self._header, name, value)
        self._header.write(self._mm)

    # -- put / select -------------------------------------------------------------------------

    def _slot_position(self, key_hash: int) -> int:
        return INDEX_HEADER_SIZE + (key_hash % self.hash_slot_num) * INDEX_HASH_SLOT_SIZE

    def _entry_position(self, number: int) -> int:
        return self._entries_base + number * INDEX_ENTRY_SIZE

    def put_key(self, key: str, phy_offset: int, store_timestamp: int, prefix: str = "") -> bool:
        """Index ``prefix + key`` -> ``phy_offset``; False when the file is full (``putKey``).

        ``prefix`` is the ``topic#`` the service puts before every key of a record (the
        compiled core hashes the two without joining them)."""
        if put_index_key(self._mm, self._header, self.hash_slot_num, self.index_num, prefix,
                         key, phy_offset, store_timestamp):  # fmt: skip
            return True
        log.warning("index file %s full: %d entries", self.file_name, self._header.index_count)
        return False

    def put_keys(self, keys: Sequence[tuple[str, str, int, int]], first: int = 0) -> int:
        """:meth:`put_key` of each (prefix, key, physical offset, store timestamp) from
        ``keys[first]`` on until the file is full; the index of the first key not put."""
        done = put_index_keys(self._mm, self._header, self.hash_slot_num, self.index_num, keys,
                              first)  # fmt: skip
        if done < len(keys):
            log.warning("index file %s full: %d entries", self.file_name, self._header.index_count)
        return done

    def select_phy_offsets(
        self,
        key: str,
        max_num: int,
        begin_ts: int,
        end_ts: int,
        into: list[int] | None = None,
    ) -> list[int]:
        """Offsets indexed under ``key``'s hash with store time in [begin_ts, end_ts], newest first.

        Appends to ``into`` (shared across files by the service) until it holds ``max_num``
        offsets and returns it (``selectPhyOffset``).
        """
        found = [] if into is None else into
        key_hash = index_key_hash(key)
        count = self._header.index_count
        (number,) = _SLOT.unpack_from(self._mm, self._slot_position(key_hash))
        if number <= INVALID_INDEX or number > count or count <= 1:
            return found
        begin = self._header.begin_timestamp
        while len(found) < max_num:
            entry = IndexEntry.unpack(self._mm, self._entry_position(number))
            if entry.time_diff < 0:
                break
            # 4.9.4 compares the entry's store time rebuilt in ms against [begin_ts, end_ts].
            time_read = begin + entry.time_diff * _MS_PER_SECOND
            if entry.key_hash == key_hash and begin_ts <= time_read <= end_ts:
                found.append(entry.physical_offset)
            prev = entry.prev_index
            if prev <= INVALID_INDEX or prev > count or prev == number or time_read < begin_ts:
                break
            number = prev
        return found

    def is_time_matched(self, begin: int, end: int) -> bool:
        """Does [begin, end] overlap this file's [beginTimestamp, endTimestamp]?

        Same three tests as ``isTimeMatched``: the query covers the file, or one of its ends
        falls inside the file's range.
        """
        first, last = self._header.begin_timestamp, self._header.end_timestamp
        covers = begin < first and end > last
        return covers or first <= begin <= last or first <= end <= last

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self) -> None:
        """``fdatasync`` the file; safe from a worker thread while the loop keeps putting.

        Unlike ``IndexFile#flush`` it does not rewrite the header first: every header change
        is already written through, and a rewrite from another thread could put back an
        older header over a newer one.
        """
        with self._lock:
            if self._closed:
                return
            _datasync(self._fd)

    def close(self) -> None:
        """Unmap and close the file (idempotent); does not flush."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._mm.close()
            except BufferError:
                log.warning("%s still has readers; unmapping is left to the GC", self.path)
            os.close(self._fd)

    def destroy(self) -> None:
        """Close and delete the file."""
        self.close()
        self.path.unlink(missing_ok=True)


@speedups.twin
def put_index_entry(
    buf: mmap.mmap | bytearray,
    hash_slot_num: int,
    entries_base: int,
    count: int,
    key_hash: int,
    phy_offset: int,
    time_diff: int,
) -> int:
    """Write entry number ``count`` and make it the head of its key's slot chain, the byte
    work of ``IndexFile#putKey``; return the entry it links back to (the slot's previous
    head, ``INVALID_INDEX`` when the slot was empty or points past ``count``).

    ``entries_base`` is where entry 0 starts (after the header and the slots); a slot
    or entry outside ``buf`` raises ``struct.error``. Has a compiled twin.
    """
    slot_pos = INDEX_HEADER_SIZE + (key_hash % hash_slot_num) * INDEX_HASH_SLOT_SIZE
    prev: int = _SLOT.unpack_from(buf, slot_pos)[0]
    if prev <= INVALID_INDEX or prev > count:
        prev = INVALID_INDEX
    entry_pos = entries_base + count * INDEX_ENTRY_SIZE
    _ENTRY.pack_into(buf, entry_pos, key_hash, phy_offset, time_diff, prev)
    _SLOT.pack_into(buf, slot_pos, count)
    return prev


@speedups.twin
def put_index_key(
    buf: mmap.mmap | bytearray,
    header: _LiveHeader,
    hash_slot_num: int,
    index_num: int,
    prefix: str,
    key: str,
    phy_offset: int,
    store_timestamp: int,
) -> bool:
    """``IndexFile#putKey`` of ``prefix + key`` on the mapping ``buf`` of a file with this
    geometry and its live ``header``: the entry, its slot and the header (in memory and
    written through). False, and nothing written, when the file is full. Has a compiled
    twin.
    """
    count = header.index_count
    if count >= index_num:
        return False
    time_diff = _time_diff(header.begin_timestamp, store_timestamp)
    entries_base = INDEX_HEADER_SIZE + hash_slot_num * INDEX_HASH_SLOT_SIZE
    key_hash = index_key_hash(prefix + key)
    prev = put_index_entry(buf, hash_slot_num, entries_base, count, key_hash, phy_offset,
                           time_diff)  # fmt: skip
    # The first entry's diff was computed against the old begin (the previous file's end,
    # or 0) before begin moves here -- exactly as RocketMQ does it.
    if count <= 1:
        header.begin_timestamp = store_timestamp
        header.begin_phy_offset = phy_offset
    header.end_timestamp = store_timestamp
    header.end_phy_offset = phy_offset
    header.hash_slot_count += prev == INVALID_INDEX
    header.index_count = count + 1
    header.write(buf)
    return True


@speedups.twin
def put_index_keys(
    buf: mmap.mmap | bytearray,
    header: _LiveHeader,
    hash_slot_num: int,
    index_num: int,
    keys: Sequence[tuple[str, str, int, int]],
    first: int,
) -> int:
    """:func:`put_index_key` of each (prefix, key, physical offset, store timestamp) of
    ``keys[first:]`` in turn until the file is full; the index of the first key not put
    (``len(keys)`` when all were). Has a compiled twin, which reads and sets the header's
    attributes once for all the keys."""
    for index in range(first, len(keys)):
        prefix, key, phy_offset, store_timestamp = keys[index]
        if not put_index_key(buf, header, hash_slot_num, index_num, prefix, key, phy_offset,
                             store_timestamp):  # fmt: skip
            return index
    return len(keys)


def _time_diff(begin_timestamp: int, store_timestamp: int) -> int:
    """Seconds since ``begin_timestamp``, clamped to [0, int max]; 0 before any begin."""
    if begin_timestamp <= 0:
        return 0
    diff = (store_timestamp - begin_timestamp) // _MS_PER_SECOND
    return min(max(diff, 0), _MAX_TIME_DIFF)


def _map(path: Path, file_size: int) -> tuple[int, mmap.mmap]:
    """Open (creating at full, sparse size) and map ``path``; an existing file must fit."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            os.ftruncate(fd, file_size)
        elif size != file_size:
            raise StoreError(f"{path} has {size} bytes, index geometry needs {file_size}")
        mm = mmap.mmap(fd, file_size)
    except BaseException:
        os.close(fd)
        raise
    # Slots are hit at random: no read-ahead, so each write dirties one page, not the
    # large folio read-ahead would bring in (see mapped_file's module docstring).
    advice = getattr(mmap, "MADV_RANDOM", None)
    if advice is not None:
        try:
            mm.madvise(advice)
        except OSError as exc:
            log.debug("madvise on %s failed: %s", path, exc)
    return fd, mm


def _datasync(fd: int) -> None:
    # fdatasync releases the GIL, and writes back the dirty pages of our MAP_SHARED mapping.
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


class _LiveHeader:
    """The header fields as plain attributes (one put changes five of them)."""

    __slots__ = (
        "begin_phy_offset", "begin_timestamp", "end_phy_offset", "end_timestamp",
        "hash_slot_count", "index_count",
    )  # fmt: skip

    def __init__(
        self, begin_timestamp: int = 0, end_timestamp: int = 0, begin_phy_offset: int = 0,
        end_phy_offset: int = 0, hash_slot_count: int = 0, index_count: int = 1,
    ) -> None:  # fmt: skip
        self.begin_timestamp = begin_timestamp
        self.end_timestamp = end_timestamp
        self.begin_phy_offset = begin_phy_offset
        self.end_phy_offset = end_phy_offset
        self.hash_slot_count = hash_slot_count
        self.index_count = index_count

    def write(self, mm: mmap.mmap | bytearray) -> None:
        _HEADER.pack_into(
            mm, 0, self.begin_timestamp, self.end_timestamp, self.begin_phy_offset,
            self.end_phy_offset, self.hash_slot_count, self.index_count,
        )  # fmt: skip

    def snapshot(self) -> IndexHeader:
        return IndexHeader(
            self.begin_timestamp, self.end_timestamp, self.begin_phy_offset,
            self.end_phy_offset, self.hash_slot_count, self.index_count,
        )  # fmt: skip

    def __repr__(self) -> str:
        return repr(self.snapshot())
