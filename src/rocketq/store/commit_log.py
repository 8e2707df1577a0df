"""The CommitLog: every message of every topic appended to one log of mapped files.

Mirrors ``CommitLog`` (4.9) for the append, read and recovery paths:

* A record never spans two files. When ``record + 8 > remaining`` the writer puts the 8-byte
  BLANK filler (TOTALSIZE = bytes left, BLANK magic) and rolls to the next file
  (``END_FILE_MIN_BLANK_LENGTH``), so every file keeps room for that filler.
* PHYSICALOFFSET = file start + write position; STORETIMESTAMP and STOREHOST are set here.
* **Queue offsets are owned by the CommitLog**: ``topic_queue_table["<topic>-<queueId>"]``
  holds the next logical offset of each queue, as ``CommitLog.topicQueueTable`` does in 4.9.
  PREPARED and ROLLBACK transaction records get queue offset 0 and do not advance it. At
  startup the store sets the table from the ConsumeQueues' max offsets
  (``recoverTopicQueueTable``) with :meth:`CommitLog.set_queue_offset`.

The append methods are not thread-safe: call them from the one event loop (house rule 4).
"""

from __future__ import annotations

import mmap
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rocketq.common import speedups
from rocketq.common.record import host_extra, record_bytes
from rocketq.store.config import DEFAULT_MAX_MESSAGE_SIZE
from rocketq.store.format import (
    BLANK_MAGIC_CODE,
    END_FILE_MIN_BLANK_LENGTH,
    Address,
    MessageRecord,
    RecordFormatError,
    StoredMessage,
    StoreError,
    checked_record_length,
    create_offset_msg_id,
    decode_record,
    encode_blank,
    peek_record,
)
from rocketq.store.mapped_file import MappedFile, MappedFileQueue

__all__ = [
    "MAX_RECORD_OVERHEAD",
    "AppendResult",
    "CommitLog",
    "MessageSizeExceededError",
    "put_batches",
    "queue_key",
]

# The encoder buffer is maxMessageSize + 64 KiB: room for topic, properties and the fixed
# fields of a maximal body (MessageExtEncoder / CommitLog.PutMessageThreadLocal).
MAX_RECORD_OVERHEAD = 64 * 1024
# Recovery scans at most the last three files when the previous shutdown was clean
# (CommitLog#recoverNormally starts from ``index = mappedFiles.size() - 3``).
RECOVER_NORMALLY_FILES = 3
# MessageSysFlag.TRANSACTION_*: bits 2-3 of SYSFLAG.
_TRANSACTION_MASK = 0xC
_TRANSACTION_PREPARED = 0x4
_TRANSACTION_ROLLBACK = 0xC
# PREPARED and ROLLBACK records take no queue offset.
_NO_QUEUE_OFFSET = frozenset({_TRANSACTION_PREPARED, _TRANSACTION_ROLLBACK})
_PHYSICAL_OFFSET_POSITION = 28
_QUEUE_OFFSET_POSITION = 20
_LONG = struct.Struct(">q")


class MessageSizeExceededError(StoreError):
    """The message is larger than ``maxMessageSize`` (answered as MESSAGE_ILLEGAL)."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where one record went (``AppendMessageResult``)."""

    physical_offset: int
    size: int
    queue_offset: int
    store_timestamp: int
    msg_id: str


_SET_PHYSICAL_OFFSET, _SET_SIZE, _SET_QUEUE_OFFSET, _SET_STORE_TIMESTAMP, _SET_MSG_ID = (
    AppendResult.__dict__[name].__set__ for name in AppendResult.__slots__
)


def _append_result(
    physical_offset: int, size: int, queue_offset: int, store_timestamp: int, msg_id: str
) -> AppendResult:
    """``AppendResult(...)`` through the slot descriptors: the frozen dataclass ``__init__``
    pays an ``object.__setattr__`` per field, half a microsecond more per record."""
    result: AppendResult = object.__new__(AppendResult)
    _SET_PHYSICAL_OFFSET(result, physical_offset)
    _SET_SIZE(result, size)
    _SET_QUEUE_OFFSET(result, queue_offset)
    _SET_STORE_TIMESTAMP(result, store_timestamp)
    _SET_MSG_ID(result, msg_id)
    return result


def record_size(
    msg: StoredMessage, max_message_size: int, store_host: Address | None = None
) -> tuple[bytes, bytes, int]:
    """(encoded topic, encoded properties, TOTALSIZE) of ``msg``, stored by ``store_host``
    when given (the record holds that host, not ``msg.store_host``: an IPv6 one is 12 bytes
    longer); MessageSizeExceededError when it is too large to store or breaks a field
    limit."""
    if len(msg.body) > max_message_size:
        raise MessageSizeExceededError(
            f"body of {len(msg.body)} bytes exceeds maxMessageSize {max_message_size}"
        )
    topic, props = msg.topic.encode(), msg.properties.encode()
    try:
        total = checked_record_length(msg, topic, props)
        if store_host is not None and store_host is not msg.store_host:
            total += host_extra(store_host) - host_extra(msg.store_host)
    except RecordFormatError as exc:
        raise MessageSizeExceededError(str(exc)) from exc
    if total > max_message_size + MAX_RECORD_OVERHEAD:
        raise MessageSizeExceededError(f"record of {total} bytes is too large")
    return topic, props, total


@speedups.twin
def put_batches(
    buf: mmap.mmap | bytearray,
    position: int,
    limit: int,
    batches: Sequence[Sequence[StoredMessage]],
    first: int,
    table: dict[str, int],
    file_from_offset: int,
    store_timestamp: int,
    store_host: Address,
    max_message_size: int,
    out: list[tuple[AppendResult, ...]],
) -> int:
    """Write ``batches[first:]`` into ``buf`` (the mapping of the CommitLog file starting at
    ``file_from_offset``) from ``position`` on, back to back, as :meth:`CommitLog.append_batch`
    would one after the other; append each batch's results to ``out``; return the position
    after the last record written.

    Stops before the first batch that is empty, ends past ``limit`` (the file's size less
    the end-of-file filler) or that ``append_batch`` would refuse or fail on (a size limit, a
    value out of range): the caller takes that one the slow way, which rolls the file or
    raises what it should. Nothing of that batch is written and its queue offsets (from
    ``table``, as in ``append_batch``) are not taken. Has a compiled twin, which writes the
    records straight into ``buf`` with no bytes object per record.
    """
    pos = position
    for index in range(first, len(batches)):
        msgs = batches[index]
        try:
            sized = [record_size(msg, max_message_size, store_host) for msg in msgs]
        except MessageSizeExceededError:
            return pos
        size = sum([total for _, _, total in sized])
        if not msgs or pos + size > limit:
            return pos
        taken: dict[str, int] = {}  # the queue offsets this batch takes, kept if it is written
        records: list[bytes] = []
        results: list[AppendResult] = []
        phys = file_from_offset + pos
        try:
            for msg, (topic, props, total) in zip(msgs, sized, strict=True):
                queue_offset = 0
                if msg.sys_flag & _TRANSACTION_MASK not in _NO_QUEUE_OFFSET:
                    key = f"{msg.topic}-{msg.queue_id}"  # queue_key
                    queue_offset = taken.get(key, table.get(key, 0))
                    taken[key] = queue_offset + 1
                records.append(
                    record_bytes(msg, topic, props, total, queue_offset, phys, store_timestamp,
                                 store_host)
                )  # fmt: skip
                msg_id = create_offset_msg_id(store_host, phys)
                results.append(_append_result(phys, total, queue_offset, store_timestamp, msg_id))
                phys += total
        except Exception:  # the slow way raises it again, as append_batch does
            return pos
        buf[pos : pos + size] = b"".join(records)
        table.update(taken)
        out.append(tuple(results))
        pos += size
    return pos


def queue_key(topic: str, queue_id: int) -> str:
    """Key of ``topic_queue_table``: ``"<topic>-<queueId>"`` as in RocketMQ."""
    return f"{topic}-{queue_id}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CommitLog:
    """Append, read, iterate and recover RocketMQ CommitLog files in one directory."""

    def __init__(
        self,
        store_dir: str | Path,
        file_size: int,
        store_host: Address,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        clock: Callable[[], int] = _now_ms,
        synced_appends: bool = False,
    ) -> None:
        if file_size <= END_FILE_MIN_BLANK_LENGTH:
            raise ValueError("commitlog file size must exceed the 8-byte end-of-file filler")
        # synced_appends: SYNC_FLUSH's group commit syncs every few records (MappedFile)
        self.queue = MappedFileQueue(store_dir, file_size, synced_appends)
        self.store_host = store_host
        self.max_message_size = max_message_size
        self.topic_queue_table: dict[str, int] = {}
        self._clock = clock

    @property
    def file_size(self) -> int:
        """Size of every CommitLog file."""
        return self.queue.file_size

    def load(self) -> None:
        """Map the existing files (all marked full until :meth:`recover` runs)."""
        self.queue.load()

    def min_offset(self) -> int:
        """Offset of the first byte still on disk (start of the first file), 0 when empty."""
        first = self.queue.first
        return first.file_from_offset if first is not None else 0

    def max_offset(self) -> int:
        """Offset after the last appended byte."""
        return self.queue.max_offset()

    def set_queue_offset(self, topic: str, queue_id: int, next_offset: int) -> None:
        """Set the next logical offset of a queue (startup, or a queue that was reset)."""
        self.topic_queue_table[queue_key(topic, queue_id)] = next_offset

    def next_queue_offset(self, topic: str, queue_id: int) -> int:
        """The logical offset the next record of this queue will get."""
        return self.topic_queue_table.get(queue_key(topic, queue_id), 0)

    # -----------------------------------------------------------------------------------------
    # append

    def append(self, msg: StoredMessage) -> AppendResult:
        """Append one message; QUEUEOFFSET, PHYSICALOFFSET, STORE* fields are assigned here."""
        return self.append_batch([msg])[0]

    def append_batch(self, msgs: Sequence[StoredMessage]) -> list[AppendResult]:
        """Append records back to back in one file, with consecutive queue offsets.

        Like ``doAppend(MessageExtBatch)``: the whole batch goes into one file, so a batch
        that does not fit the current file rolls to the next one as a unit. Sizes are
        computed first, so each record is encoded once, already at its final offset.
        """
        if not msgs:
            return []
        if len(msgs) == 1:  # a plain send: the same steps without the batch's lists
            return [self._append_one(msgs[0])]
        return self._append_batch_at(msgs, self._clock())

    def _append_batch_at(self, msgs: Sequence[StoredMessage], now: int) -> list[AppendResult]:
        sized = [self._sized(msg) for msg in msgs]
        mapped = self._file_with_room(sum([total for _, _, total in sized]))
        phys = mapped.file_from_offset + mapped.wrote_position
        table = self.topic_queue_table
        host = self.store_host
        records: list[bytes] = []
        results = []
        for msg, (topic, props, total) in zip(msgs, sized, strict=True):
            queue_offset = 0
            if msg.sys_flag & _TRANSACTION_MASK not in _NO_QUEUE_OFFSET:
                key = f"{msg.topic}-{msg.queue_id}"  # queue_key
                queue_offset = table.get(key, 0)
                table[key] = queue_offset + 1
            records.append(record_bytes(msg, topic, props, total, queue_offset, phys, now, host))
            results.append(
                _append_result(phys, total, queue_offset, now, create_offset_msg_id(host, phys))
            )
            phys += total
        mapped.append(b"".join(records))
        return results

    def append_many(
        self,
        batches: Sequence[Sequence[StoredMessage]],
        out: list[tuple[AppendResult, ...] | StoreError | OSError],
    ) -> None:
        """:meth:`append_batch` of each batch in turn with one clock read for all: the
        records of the batches that fit the current file are written straight into its
        mapping (:func:`put_batches`), the others (a file to roll, a refusal) one by one.

        ``out`` gets, per batch and as it goes, its results or the error that refused it
        (:class:`MessageSizeExceededError`, or the ``OSError`` of a file that could not be
        created); a refused batch leaves no byte and no queue offset behind, the next one
        is tried. An unexpected error (a value no record can hold) propagates as from
        ``append_batch``, ``out`` then tells what was stored before it. A record is
        readable (below the write position) only once it is whole in the mapped file.
        """
        now = self._clock()
        queue = self.queue  # (its files and sizes read directly: no property call per read)
        limit = queue.file_size - END_FILE_MIN_BLANK_LENGTH
        count = len(batches)
        done = 0
        while done < count:
            mapped = queue.files[-1] if queue.files else None
            wrote = mapped.wrote_position if mapped is not None else 0
            if mapped is not None and wrote != mapped.file_size:  # a last file, not full
                written: list[tuple[AppendResult, ...]] = []
                try:
                    end = put_batches(
                        mapped.buffer(), wrote, limit, batches, done,
                        self.topic_queue_table, mapped.file_from_offset, now, self.store_host,
                        self.max_message_size, written,
                    )  # fmt: skip
                except BaseException:  # (MemoryError) what it wrote before stays written
                    if written:
                        last = written[-1][-1]
                        mapped.wrote_in_place(last.physical_offset + last.size
                                              - mapped.file_from_offset)  # fmt: skip
                    out += written
                    raise
                mapped.wrote_in_place(end)
                out += written
                done += len(written)
                if done == count:
                    return
            try:  # the slow way: a file to roll (or to create), or a refusal
                out.append(tuple(self._append_batch_at(batches[done], now)))
            except (MessageSizeExceededError, OSError) as exc:
                out.append(exc)
            done += 1

    def _append_one(self, msg: StoredMessage) -> AppendResult:
        topic, props, total = self._sized(msg)
        mapped = self._file_with_room(total)
        now = self._clock()
        phys = mapped.file_from_offset + mapped.wrote_position
        queue_offset = 0
        if msg.sys_flag & _TRANSACTION_MASK not in _NO_QUEUE_OFFSET:
            table = self.topic_queue_table
            key = f"{msg.topic}-{msg.queue_id}"  # queue_key
            queue_offset = table.get(key, 0)
            table[key] = queue_offset + 1
        host = self.store_host
        mapped.append(record_bytes(msg, topic, props, total, queue_offset, phys, now, host))
        return _append_result(phys, total, queue_offset, now, create_offset_msg_id(host, phys))

    def _sized(self, msg: StoredMessage) -> tuple[bytes, bytes, int]:
        return record_size(msg, self.max_message_size, self.store_host)

    def _file_with_room(self, size: int) -> MappedFile:
        if size + END_FILE_MIN_BLANK_LENGTH > self.file_size:
            raise MessageSizeExceededError(
                f"{size} bytes can never fit a commitlog file of {self.file_size} bytes"
            )
        mapped = self._last_file()
        if size + END_FILE_MIN_BLANK_LENGTH > mapped.remaining:
            mapped.append_blank(encode_blank(mapped.remaining))
            mapped = self._last_file()
        return mapped

    def _last_file(self) -> MappedFile:
        mapped = self.queue.get_last_file(0)
        if mapped is None:  # pragma: no cover - get_last_file creates one
            raise StoreError("could not create a commitlog file")
        return mapped

    def append_raw(self, offset: int, data: bytes | memoryview) -> bool:
        """Append bytes copied from a master's CommitLog at ``offset`` (a slave's HA path).

        The bytes already hold whole records and end-of-file fillers laid out for the same
        file size, so they are written as they are, possibly across a file boundary.
        False when ``offset`` is not this log's end (the slave is out of step). An empty
        log takes any file start: a master streams an empty slave its last file only
        (``HAConnection``), and the first file is created there (``getLastMappedFile``).
        """
        if offset != self.max_offset():
            if self.max_offset() != 0 or offset % self.file_size:
                return False
            self.queue.destroy()  # at most an empty file at 0, left by an earlier start
        view = memoryview(data)
        while len(view):
            mapped = self.queue.get_last_file(offset)
            if mapped is None:  # pragma: no cover - get_last_file creates one
                raise StoreError("could not create a commitlog file")
            chunk = min(len(view), mapped.remaining)
            mapped.append(view[:chunk])
            view = view[chunk:]
            offset += chunk
        return True

    # -----------------------------------------------------------------------------------------
    # read

    def get_data(self, offset: int, size: int) -> memoryview:
        """Zero-copy view of ``size`` bytes at global ``offset`` (the pull path)."""
        mapped = self.queue.find_file(offset)
        if mapped is None:
            raise StoreError(f"commitlog offset {offset} is not on disk")
        return mapped.read(offset - mapped.file_from_offset, size)

    def get_data_from(self, offset: int, max_size: int) -> bytes | None:
        """A copy of up to ``max_size`` written bytes from ``offset`` to the end of its file
        (``getData(offset)`` as the HA master reads it); None when there are none."""
        mapped = self.queue.find_file(offset)
        if mapped is None:
            return None
        pos = offset - mapped.file_from_offset
        size = min(mapped.wrote_position - pos, max_size)
        return mapped.read_bytes(pos, size) if size > 0 else None

    def read_record(self, offset: int, check_crc: bool = False) -> MessageRecord:
        """Decode the record at global ``offset``."""
        mapped = self.queue.find_file(offset)
        if mapped is None:
            raise StoreError(f"commitlog offset {offset} is not on disk")
        pos = offset - mapped.file_from_offset
        with mapped.read(pos, mapped.wrote_position - pos) as view:
            return decode_record(view, 0, check_crc)

    def iter_records(self, from_offset: int) -> Iterator[MessageRecord]:
        """Records from ``from_offset`` (a record start) to the end, jumping BLANK fillers."""
        offset = from_offset
        while offset < self.max_offset():
            mapped = self.queue.find_file(offset)
            if mapped is None:
                return
            pos = offset - mapped.file_from_offset
            if mapped.wrote_position - pos < END_FILE_MIN_BLANK_LENGTH:
                offset = self.queue.roll_next_file(offset)
                continue
            _, magic = peek_record(mapped.buffer(), pos)
            if magic == BLANK_MAGIC_CODE:
                offset = self.queue.roll_next_file(offset)
                continue
            record = self.read_record(offset)
            yield record
            offset += record.total_size

    # -----------------------------------------------------------------------------------------
    # recovery

    def recover(self, check_crc: bool = True, start_file_index: int | None = None) -> int:
        """Find the end of the last valid record, truncate everything after it, return it.

        Scans from ``start_file_index`` (default: the third-last file, as
        ``recoverNormally``; abnormal recovery passes the file its checkpoint points to).
        A record is valid when its magic, size and fields agree (and CRC when asked) and its
        PHYSICALOFFSET equals its position (a rocketq check that rejects stale bytes).
        """
        files = self.queue.files
        if not files:
            return 0
        index = max(0, len(files) - RECOVER_NORMALLY_FILES)
        if start_file_index is not None:
            index = min(max(start_file_index, 0), len(files) - 1)
        end = files[index].file_from_offset
        for mapped in files[index:]:
            if end != mapped.file_from_offset:
                break  # the previous file stopped inside itself
            end = mapped.file_from_offset + self._scan_file(mapped, check_crc)
        self.queue.truncate_dirty_files(end)
        self.queue.flushed_where = end
        return end

    def _scan_file(self, mapped: MappedFile, check_crc: bool) -> int:
        """Valid bytes at the start of ``mapped``; the file size when it ends in a filler."""
        buf = mapped.buffer()
        pos = 0
        while self.file_size - pos >= END_FILE_MIN_BLANK_LENGTH:
            size, magic = peek_record(buf, pos)
            if magic == BLANK_MAGIC_CODE:
                valid_blank = size == self.file_size - pos
                return self.file_size if valid_blank else pos
            try:
                record = decode_record(buf, pos, check_crc)
            except RecordFormatError:
                return pos
            if record.physical_offset != mapped.file_from_offset + pos:
                return pos
            pos += size
        return pos

    # -----------------------------------------------------------------------------------------
    # flush and lifecycle

    def flush(self, least_pages: int = 0) -> int:
        """Flush one file's worth of dirty pages; return the global flushed offset.

        Blocking (``fdatasync``): run it in a worker thread from the flush service.
        """
        self.queue.flush(least_pages)
        return self.queue.flushed_where

    def close(self) -> None:
        """Unmap every file."""
        self.queue.close()
