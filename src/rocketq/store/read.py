"""The read side of the message store: ``getMessage`` and the lookups by queue offset,
commit-log offset, store time and key (RocketMQ ``DefaultMessageStore``'s read methods).

:class:`MessageStoreReads` is a base class of
:class:`~rocketq.store.message_store.DefaultMessageStore`, kept in its own module so that
each stays small; it reads only the parts annotated on it. Being a base class (not an
object the store calls) keeps the pull path exactly as short as before: ``get_message`` is
found on the store's type, with no extra call or attribute hop per pull or per message.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rocketq.common.record import GatherLimits, gather_records
from rocketq.store.config import SLAVE, StoreConfig
from rocketq.store.format import MessageRecord, StoreError
from rocketq.store.result import (
    GetMessageResult,
    GetMessageStatus,
    MessageFilter,
    QueryMessageResult,
)

if TYPE_CHECKING:
    from rocketq.store.commit_log import CommitLog
    from rocketq.store.consume_queue import ConsumeQueue
    from rocketq.store.index_service import IndexService
    from rocketq.store.mapped_file import MappedFile

__all__ = ["JoinedGetMessageResult", "MessageStoreReads"]

# getMessage scans at most this many ConsumeQueue bytes per call (maxFilterMessageCount).
_MAX_FILTER_BYTES = 16_000
_CQ_UNIT = 20
_CQ_ENTRY = struct.Struct(">qiq")  # physical offset, size, tags code
# A joined read takes ConsumeQueue entries this many at a time at first (a pull of 32
# needs one chunk), four times more per chunk after (ConsumeQueue.iter_entries' chunks).
_JOINED_CHUNK = 64
_JOINED_CHUNK_MAX = 4096


@dataclass(slots=True)
class JoinedGetMessageResult(GetMessageResult):
    """A :class:`GetMessageResult` whose records come joined in ``body`` (what a pull
    response sends), not as one view each: ``buffers`` stays empty."""

    body: bytes = b""
    count: int = 0

    @property
    def message_count(self) -> int:
        """Number of records in ``body``."""
        return self.count


def _span(mapped: MappedFile | None, phys: int, size: int) -> memoryview:
    """A view of ``mapped`` from the global offset ``phys`` to its write position (at
    least ``size`` bytes): the records a pull takes from that file are sliced from it."""
    if mapped is None:
        raise StoreError(f"commitlog offset {phys} is not on disk")
    start = phys - mapped.file_from_offset
    return mapped.read(start, max(mapped.wrote_position - start, size))


class MessageStoreReads:
    """Reads over the CommitLog, the ConsumeQueues and the IndexService."""

    config: StoreConfig
    commit_log: CommitLog
    consume_queues: dict[tuple[str, int], ConsumeQueue]
    index_service: IndexService | None
    # Beyond this many bytes behind the log's end a read comes from disk, not memory
    # (accessMessageInMemoryMaxRatio of the machine's memory).
    _memory_limit: int

    # -- get --------------------------------------------------------------------------------

    def find_consume_queue(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        """The queue, if it has ever had a message."""
        return self.consume_queues.get((topic, queue_id))

    def get_message(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: MessageFilter | None = None,
        *,
        joined: bool = False,
    ) -> GetMessageResult:
        """Read up to ``max_msg_nums`` records from a queue (``DefaultMessageStore#getMessage``).

        ``joined``: without a filter, the records found come as one ``bytes`` (a
        :class:`JoinedGetMessageResult`, the pull response's body) instead of a view each.
        """
        cq = self.find_consume_queue(topic, queue_id)
        if cq is None:
            return GetMessageResult(
                GetMessageStatus.NO_MATCHED_LOGIC_QUEUE, self._correct(offset, 0), 0, 0
            )
        low, high = cq.min_offset_in_queue(), cq.max_offset_in_queue()
        if high == 0:
            status, nxt = GetMessageStatus.NO_MESSAGE_IN_QUEUE, self._correct(offset, 0)
        elif offset < low:
            status, nxt = GetMessageStatus.OFFSET_TOO_SMALL, self._correct(offset, low)
        elif offset == high:
            status, nxt = GetMessageStatus.OFFSET_OVERFLOW_ONE, offset
        elif offset > high:
            status, nxt = GetMessageStatus.OFFSET_OVERFLOW_BADLY, self._correct(offset, high)
        else:
            result: GetMessageResult
            if joined and message_filter is None:
                last = self._read_last_joined(cq, offset) if offset == high - 1 else None
                if last is not None:
                    last.min_offset, last.max_offset = low, high
                    return last
                result = self._read_queue_joined(cq, offset, max_msg_nums)
            else:
                result = self._read_queue(cq, offset, max_msg_nums, message_filter)
            result.min_offset, result.max_offset = low, high
            return result
        return GetMessageResult(status, nxt, low, high)

    def _correct(self, old: int, new: int) -> int:
        # nextOffsetCorrection: a slave never moves a consumer's offset.
        return old if self.config.broker_role == SLAVE else new

    def _read_queue(
        self, cq: ConsumeQueue, offset: int, max_msg_nums: int, message_filter: MessageFilter | None
    ) -> GetMessageResult:
        if message_filter is None:
            return self._read_queue_unfiltered(cq, offset, max_msg_nums)
        max_scan = max(_MAX_FILTER_BYTES, max_msg_nums * _CQ_UNIT) // _CQ_UNIT
        result = GetMessageResult(GetMessageStatus.NO_MATCHED_MESSAGE, offset, 0, 0)
        max_phys = self.commit_log.max_offset()
        min_phys = self.commit_log.min_offset()
        c = self.config
        scanned = count = total = 0
        last_phys = -1
        buffers, queue_offsets = result.buffers, result.queue_offsets
        get_data = self.commit_log.get_data
        for phys, size, tags in cq.iter_entries(offset, max_scan):
            if count:  # isTheBatchFull, inlined: this loop is the pull path
                if count >= max_msg_nums:
                    break
                if max_phys - phys > self._memory_limit:
                    max_bytes = c.max_transfer_bytes_on_message_in_disk
                    max_count = c.max_transfer_count_on_message_in_disk
                else:
                    max_bytes = c.max_transfer_bytes_on_message_in_memory
                    max_count = c.max_transfer_count_on_message_in_memory
                if total + size > max_bytes or count > max_count - 1:
                    break
            scanned += 1
            last_phys = phys
            if message_filter is not None and not message_filter.is_matched_by_consume_queue(tags):
                continue
            if phys < min_phys:
                if not buffers:
                    result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
                continue
            view = get_data(phys, size)
            if message_filter is not None and not message_filter.is_matched_by_commit_log(view):
                view.release()
                continue
            buffers.append(view)
            queue_offsets.append(offset + scanned - 1)
            count += 1
            total += size
        return self._read_done(result, offset, scanned, count, total, max_phys, last_phys)

    def _read_queue_unfiltered(
        self, cq: ConsumeQueue, offset: int, max_msg_nums: int
    ) -> GetMessageResult:
        """:meth:`_read_queue` without a filter (a ``*`` subscription: every pull of a
        drain): no filter calls per entry, and one mapped file serves the views while the
        records lie in it."""
        c = self.config
        commit_log = self.commit_log
        max_phys, min_phys = commit_log.max_offset(), commit_log.min_offset()
        memory_limit = self._memory_limit
        max_scan = max(_MAX_FILTER_BYTES, max_msg_nums * _CQ_UNIT) // _CQ_UNIT
        result = GetMessageResult(GetMessageStatus.NO_MATCHED_MESSAGE, offset, 0, 0)
        buffers = result.buffers
        append = buffers.append
        find_file = commit_log.queue.find_file
        span: memoryview | None = None  # a view from span_start to what its file holds
        span_start = span_end = scanned = count = total = 0
        last_phys = -1
        for phys, size, _tags in cq.iter_entries(offset, max_scan):
            if count:  # isTheBatchFull, inlined (no filter: count == scanned but for removed)
                if max_phys - phys > memory_limit:
                    max_bytes = c.max_transfer_bytes_on_message_in_disk
                    max_count = c.max_transfer_count_on_message_in_disk
                else:
                    max_bytes = c.max_transfer_bytes_on_message_in_memory
                    max_count = c.max_transfer_count_on_message_in_memory
                if count >= max_msg_nums or total + size > max_bytes or count > max_count - 1:
                    break
            scanned += 1
            last_phys = phys
            if size < 0:  # a corrupt entry: no record to take
                continue
            if phys < min_phys:  # the record's file was deleted
                if not buffers:
                    result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
                continue
            if span is None or not span_start <= phys or phys + size > span_end:
                if span is not None:
                    span.release()  # the views sliced from it keep what they need
                span = _span(find_file(phys), phys, size)
                span_start, span_end = phys, phys + len(span)
            at = phys - span_start
            append(span[at : at + size])  # a slice: no method call per message
            count += 1
            total += size
        if span is not None:
            span.release()
        return self._read_done(result, offset, scanned, count, total, max_phys, last_phys)

    def _read_last_joined(self, cq: ConsumeQueue, offset: int) -> JoinedGetMessageResult | None:
        """The queue's last record (at ``offset``) as a joined read of one: what a
        consumer that keeps up asks for each time it is woken. A pull always takes its
        first record whatever the transfer limits, so no limit applies. None when the
        record is not plainly there (removed, a corrupt entry, being written): the
        general read handles those."""
        at = offset * _CQ_UNIT
        mapped = cq.queue.find_file(at)
        if mapped is None:
            return None
        at -= mapped.file_from_offset
        if at < 0 or at + _CQ_UNIT > mapped.wrote_position:
            return None
        phys, size, _tags = _CQ_ENTRY.unpack_from(mapped.buffer(), at)
        commit_log = self.commit_log
        if size <= 0 or phys < commit_log.min_offset():
            return None
        log_file = commit_log.queue.find_file(phys)
        if log_file is None:
            return None
        start = phys - log_file.file_from_offset
        if start < 0 or start + size > log_file.wrote_position:
            return None
        result = JoinedGetMessageResult(
            GetMessageStatus.FOUND, offset + 1, 0, 0, [], [offset], size,
            # the consumer fell so far behind that reads come from disk
            commit_log.max_offset() - phys > self._memory_limit,
            log_file.buffer()[start : start + size],  # a copy: the response's body
            1,
        )  # fmt: skip
        return result

    def _read_queue_joined(
        self, cq: ConsumeQueue, offset: int, max_msg_nums: int
    ) -> JoinedGetMessageResult:
        """:meth:`_read_queue_unfiltered` with the records copied into one body:
        :func:`gather_records` takes the ConsumeQueue's entries while their records lie in
        the current CommitLog span; this loop handles only what it stops at (a removed
        record, a record in another file)."""
        max_phys = self.commit_log.max_offset()
        result = JoinedGetMessageResult(GetMessageStatus.NO_MATCHED_MESSAGE, offset, 0, 0)
        reader = _JoinedReader(self, offset, max_msg_nums, max_phys)
        pieces: list[bytes] = []
        for entries in reader.chunks(cq, offset):
            index, n = 0, len(entries) // _CQ_UNIT
            while index < n and not reader.full:
                if reader.span is not None:
                    index = reader.gather(entries, index, pieces)
                if index < n and not reader.full:
                    index = reader.stopped_at(entries, index, result)
            entries.release()
        reader.close()
        result.body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        result.count = reader.count
        self._read_done(
            result, offset, reader.scanned, reader.count, reader.total, max_phys, reader.last
        )
        return result

    def _read_done(
        self,
        result: GetMessageResult,
        offset: int,
        scanned: int,
        count: int,
        total: int,
        max_phys: int,
        last_phys: int,
    ) -> GetMessageResult:
        """A read's status, next offset and slave suggestion; the queue offsets too when
        the read took every entry it scanned after the removed ones (no filter)."""
        result.buffer_total_size = total
        if count:
            result.status = GetMessageStatus.FOUND
            if not result.queue_offsets:  # unfiltered: removed entries come only first
                first = offset + scanned - count
                result.queue_offsets = list(range(first, first + count))
        if not scanned:
            result.status = GetMessageStatus.OFFSET_FOUND_NULL
            result.next_begin_offset = offset + 1
            return result
        result.next_begin_offset = offset + scanned
        # the consumer fell so far behind that reads come from disk
        result.suggest_pulling_from_slave = max_phys - last_phys > self._memory_limit
        return result

    # -- offsets and lookups ----------------------------------------------------------------

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """Next logical offset of the queue (0 when it never had a message)."""
        cq = self.find_consume_queue(topic, queue_id)
        return cq.max_offset_in_queue() if cq is not None else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """Smallest logical offset still readable."""
        cq = self.find_consume_queue(topic, queue_id)
        return cq.min_offset_in_queue() if cq is not None else 0

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, offset: int) -> int:
        """Physical offset of the record at a logical offset, or 0."""
        cq = self.find_consume_queue(topic, queue_id)
        entries = cq.get_entries(offset, 1) if cq is not None else []
        return entries[0].physical_offset if entries else 0

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int:
        """Store time of the record at a logical offset, or -1."""
        cq = self.find_consume_queue(topic, queue_id)
        entries = cq.get_entries(offset, 1) if cq is not None else []
        if not entries or entries[0].physical_offset < self.commit_log.min_offset():
            return -1
        return self.commit_log.read_record(entries[0].physical_offset).store_timestamp

    def get_earliest_message_time(self, topic: str, queue_id: int) -> int:
        """Store time of the oldest readable record of the queue, or -1."""
        return self.get_message_store_timestamp(
            topic, queue_id, self.get_min_offset_in_queue(topic, queue_id)
        )

    def get_offset_in_queue_by_time(
        self, topic: str, queue_id: int, timestamp: int, upper: bool = False
    ) -> int:
        """Logical offset by store time: the first record at/after ``timestamp`` (5.x LOWER
        boundary; the max offset when none), or with ``upper`` the last at/before it."""
        cq = self.find_consume_queue(topic, queue_id)
        if cq is None:
            return 0
        low, high = cq.min_offset_in_queue(), cq.max_offset_in_queue()
        min_phys = self.commit_log.min_offset()
        while low < high and cq.get_entries(low, 1)[0].physical_offset < min_phys:
            low += 1  # skip entries whose records were deleted

        def stamp(i: int) -> int:
            return self.get_message_store_timestamp(topic, queue_id, i)

        if upper:  # last record stored at or before the timestamp
            lo, hi = low, high
            while lo < hi:
                mid = (lo + hi) // 2
                if stamp(mid) <= timestamp:
                    lo = mid + 1
                else:
                    hi = mid
            return max(lo - 1, low)
        lo, hi = low, high  # first record stored at or after the timestamp
        while lo < hi:
            mid = (lo + hi) // 2
            if stamp(mid) < timestamp:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def look_message_by_offset(self, physical_offset: int) -> MessageRecord | None:
        """Decode the record at a physical offset, or None when there is none."""
        if not self.commit_log.min_offset() <= physical_offset < self.commit_log.max_offset():
            return None
        try:
            return self.commit_log.read_record(physical_offset)
        except (StoreError, ValueError):
            return None

    def select_one_message_by_offset(self, physical_offset: int) -> bytes | None:
        """The stored bytes of one record (VIEW_MESSAGE_BY_ID), or None."""
        record = self.look_message_by_offset(physical_offset)
        if record is None:
            return None
        with self.commit_log.get_data(physical_offset, record.total_size) as view:
            return bytes(view)

    def query_message(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryMessageResult:
        """Messages whose KEYS token or UNIQ_KEY is ``key``, stored within [begin, end] ms
        (``DefaultMessageStore#queryMessage``: up to three passes over the IndexFiles)."""
        result = QueryMessageResult()
        if self.index_service is None:
            return result
        last_time = end
        for _ in range(3):
            found = self.index_service.query_offsets(topic, key, max_num, begin, last_time)
            if not found.phy_offsets:
                break
            result.index_last_update_timestamp = found.index_last_update_timestamp
            result.index_last_update_phyoffset = found.index_last_update_phyoffset
            for i, offset in enumerate(sorted(found.phy_offsets)):
                record = self.look_message_by_offset(offset)
                if record is None:
                    continue
                if i == 0:
                    last_time = record.store_timestamp
                with self.commit_log.get_data(offset, record.total_size) as view:
                    result.buffers.append(bytes(view))
            if result.buffers or last_time < begin:
                break
        return result


class _JoinedReader:
    """Where one joined read is (:meth:`MessageStoreReads._read_queue_joined`): the
    ConsumeQueue position, the CommitLog span, what the pull holds."""

    def __init__(
        self, store: MessageStoreReads, offset: int, max_msg_nums: int, max_phys: int
    ) -> None:
        c = store.config
        self.limits: GatherLimits = (
            max_msg_nums,
            max_phys,
            store._memory_limit,
            c.max_transfer_bytes_on_message_in_memory,
            c.max_transfer_count_on_message_in_memory,
            c.max_transfer_bytes_on_message_in_disk,
            c.max_transfer_count_on_message_in_disk,
        )
        self.min_phys = store.commit_log.min_offset()
        self.find_file = store.commit_log.queue.find_file
        self.left = max(_MAX_FILTER_BYTES, max_msg_nums * _CQ_UNIT) // _CQ_UNIT  # to scan
        self.span: memoryview | None = None  # CommitLog bytes from span_start
        self.span_start = 0
        self.scanned = self.count = self.total = 0
        self.last = -1  # physical offset of the last entry scanned
        self.full = False

    def chunks(self, cq: ConsumeQueue, offset: int) -> Iterator[memoryview]:
        """The ConsumeQueue's entries from ``offset``, a view of a chunk at a time (the
        caller releases it), until the pull is full or ``left`` entries were read
        (``ConsumeQueue.iter_entries``' chunks)."""
        if offset < cq.min_offset_in_queue():
            return
        pos, chunk, queue = offset * _CQ_UNIT, _JOINED_CHUNK, cq.queue
        while self.left > 0 and not self.full and pos < queue.max_offset():
            mapped = queue.find_file(pos)
            if mapped is None:
                return
            start = pos - mapped.file_from_offset
            n = min(self.left, chunk, (mapped.wrote_position - start) // _CQ_UNIT)
            if n <= 0:
                return
            yield mapped.read(start, n * _CQ_UNIT)
            pos += n * _CQ_UNIT
            self.left -= n
            chunk = min(chunk * 4, _JOINED_CHUNK_MAX)

    def gather(self, entries: memoryview, index: int, pieces: list[bytes]) -> int:
        """Take entries from ``index`` with :func:`gather_records` (a span is open); the
        next index."""
        assert self.span is not None
        piece, after, self.count, self.total, last, self.full = gather_records(
            entries, index, self.span, self.span_start, self.min_phys,
            self.count, self.total, self.limits,
        )  # fmt: skip
        if after > index:
            pieces.append(piece)
            self.scanned += after - index
            self.last = last
        return after

    def stopped_at(self, entries: memoryview, index: int, result: GetMessageResult) -> int:
        """The entry gather_records left (the pull is not full): a removed record is
        scanned and skipped; else a span is opened where its record lies."""
        phys, size, _tags = _CQ_ENTRY.unpack_from(entries, index * _CQ_UNIT)
        if phys < self.min_phys:  # the record's file was deleted
            self.scanned += 1
            self.last = phys
            if not self.count:
                result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
            return index + 1
        if self.span is not None:
            self.span.release()
        self.span = _span(self.find_file(phys), phys, size)
        self.span_start = phys
        if size < 0 or size > len(self.span):  # a corrupt entry: no record to take
            self.scanned += 1
            self.last = phys
            return index + 1
        return index

    def close(self) -> None:
        """Release the span (the pieces are copies)."""
        if self.span is not None:
            self.span.release()
            self.span = None
