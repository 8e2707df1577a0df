"""The message store: CommitLog + ConsumeQueues + IndexFiles, recovery and services.

Mirrors RocketMQ's ``DefaultMessageStore``. Everything that touches the files' contents
runs on the one event loop: a put appends to the CommitLog and dispatches the new
records to their ConsumeQueue (and the IndexFile) at once, so a reader sees a message
as soon as its put returns; the flush services sync pages from worker threads.

Start-up (``start``): take the lock, load every file, recover the CommitLog (from the
last three files after a clean stop; from the checkpoint with CRC checks when the
``abort`` file says the last run died), cut ConsumeQueue entries that point past the
recovered end, rebuild the per-queue offsets and re-dispatch records the queues miss.

The put side (``put_message(s)``, ``submit_messages``, ``submit_many`` and the dispatch of
what they append) is the base class :class:`~rocketq.store.put.MessageStorePuts`, the
read side (``get_message`` and the lookups) :class:`~rocketq.store.read.MessageStoreReads`,
each in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from rocketq.common.record import decode_records
from rocketq.common.tasks import TaskOwner
from rocketq.store.checkpoint import StoreCheckpoint, StoreLock, lock_path
from rocketq.store.clean import CleanService
from rocketq.store.commit_log import AppendResult, CommitLog
from rocketq.store.config import SLAVE, SYNC_FLUSH, SYNC_MASTER, StoreConfig
from rocketq.store.consume_queue import ConsumeQueue
from rocketq.store.flush import CommitLogFlushService
from rocketq.store.format import (
    BLANK_MAGIC_CODE,
    END_FILE_MIN_BLANK_LENGTH,
    Address,
    MessageRecord,
    StoredMessage,
    decode_properties,
    peek_record,
)
from rocketq.store.ha.client import HAClient, HAClientStats
from rocketq.store.ha.service import HAService, HAServiceStats
from rocketq.store.index_service import IndexService
from rocketq.store.put import MessageStorePuts
from rocketq.store.read import MessageStoreReads

__all__ = ["DefaultMessageStore", "MessageStoreStats", "decode_records"]

log = logging.getLogger("rocketq.store")

# Transaction type bits of sysFlag: PREPARED and ROLLBACK records get no queue entry.
_TX_MASK = 0xC
_TX_NO_QUEUE = frozenset({0x4, 0xC})
_DELAY_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 8 * 1024**3


def parse_delay_levels(text: str) -> list[int]:
    """``messageDelayLevel`` ("1s 5s ... 2h") -> delay in ms per level (index 0 = level 1)."""
    out = []
    for token in text.split():
        unit = token[-1]
        if unit not in _DELAY_UNITS_MS:
            raise ValueError(f"bad delay level {token!r}: use s, m, h or d")
        out.append(int(token[:-1]) * _DELAY_UNITS_MS[unit])
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class MessageStoreStats:
    """A snapshot of the store's positions."""

    commit_log_min_offset: int
    commit_log_max_offset: int
    commit_log_flushed_offset: int
    consume_queues: int
    put_count: int


class DefaultMessageStore(MessageStorePuts, MessageStoreReads):
    """RocketMQ's message store over the directory ``config.store_path_root_dir``.

    Replication (``store/ha``): a SLAVE gets an :class:`HAClient` (it follows the master
    named by ``haMasterAddress`` or :meth:`update_master_address`); a master given
    ``ha_listen`` (bind host, port: the broker passes ``haListenPort``) gets an
    :class:`HAService` that slaves connect to. A SYNC_MASTER without one has no slave.
    """

    def __init__(
        self,
        config: StoreConfig,
        store_host: Address = ("127.0.0.1", 10911),
        ha_listen: tuple[str, int] | None = None,
    ) -> None:
        self.config = config
        self.store_host = store_host
        self.root = Path(config.store_path_root_dir)
        self.commit_log = CommitLog(
            config.commit_log_dir(),
            config.mapped_file_size_commit_log,
            store_host,
            config.max_message_size,
            synced_appends=config.flush_disk_type == SYNC_FLUSH,
        )
        self.consume_queues: dict[tuple[str, int], ConsumeQueue] = {}
        self.lock = StoreLock(lock_path(self.root))
        self.checkpoint: StoreCheckpoint | None = None
        self.index_service: IndexService | None = None
        self.flush_service = CommitLogFlushService(self.commit_log, config, self._on_flushed)
        # (end offset, store time) of recent appends: the checkpoint records the store time
        # of the last message known to be on disk.
        self._append_marks: deque[tuple[int, int]] = deque()
        # Called with (topic, queue id, next queue offset, tags code) for every record that
        # reaches a ConsumeQueue: the broker wakes long-polling pulls with it.
        self.message_arriving_listener: Callable[[str, int, int, int], None] | None = None
        # The same, once per dispatch pass with all of its records' (topic, queue id, next
        # queue offset, tags code) in order: one call for the sends of one socket read.
        self.messages_arriving_listener: (
            Callable[[list[tuple[str, int, int, int]]], None] | None
        ) = None
        self._last_dispatched_timestamp = 0
        self._reput_offset: int | None = None  # a slave's dispatch position
        # Controller mode: a slave dispatches only up to the master's confirm offset
        # (``getReputEndOffset``); None: up to the log end.
        self._dispatch_limit: int | None = None
        # A controller-mode master waiting for its SyncStateSet: the batches appended past
        # the confirm offset, dispatched as it moves (None: dispatch as appended).
        self._held: deque[tuple[Sequence[StoredMessage], Sequence[AppendResult]]] | None = None
        self.delay_levels = parse_delay_levels(config.message_delay_level)
        self._memory_limit = _total_memory() * config.access_message_in_memory_max_ratio // 100
        # Retention over the parts it cleans (the IndexService is handed over at start).
        self.clean_service = CleanService(config, self.commit_log, self.consume_queues)
        self._tasks = TaskOwner(log)  # the ConsumeQueue flush loop
        # Puts are taken between start and aclose (RocketMQ's ``shutdown`` flag); a plain
        # attribute because every put reads it.
        self._running = False
        self._put_count = 0
        self.ha_service: HAService | None = None
        self.ha_client: HAClient | None = None
        if config.broker_role == SLAVE:
            self.ha_client = HAClient(self, config)
        elif ha_listen is not None:
            self.ha_service = HAService(self, config, *ha_listen)
        # decided once: the put path of other roles must not pay for replication waits
        self._sync_master = config.broker_role == SYNC_MASTER
        self._sync_flush = config.flush_disk_type == SYNC_FLUSH

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def abort_file(self) -> Path:
        """Present while the store runs; left behind by a crash."""
        return Path(self.config.abort_path())

    async def start(self) -> None:
        """Load, recover and start the flush services."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        last_exit_ok = not self.abort_file.exists()
        self.checkpoint = StoreCheckpoint(self.config.checkpoint_path())
        if self.config.message_index_enable:
            self.index_service = IndexService.from_config(self.config, self.checkpoint)
            self.index_service.load(last_exit_ok)
            self.clean_service.index_service = self.index_service
        self.commit_log.load()
        self._load_consume_queues()
        self._recover(last_exit_ok)
        self.abort_file.write_bytes(b"")
        self.flush_service.start()
        self.clean_service.start()
        self._tasks.spawn(self._flush_consume_queues_loop(), "consumequeue-flush")
        self._running = True
        try:
            await self._start_ha()
        except OSError:
            await self.aclose()
            raise
        log.info(
            "store started at %s: commitlog [%d, %d), %d queues, last exit %s",
            self.root,
            self.commit_log.min_offset(),
            self.commit_log.max_offset(),
            len(self.consume_queues),
            "clean" if last_exit_ok else "ABNORMAL",
        )

    async def _start_ha(self) -> None:
        if self.ha_service is not None:
            await self.ha_service.start()
        if self.ha_client is not None:
            self.ha_client.start()

    async def aclose(self) -> None:
        """Stop services, flush everything and mark a clean exit."""
        if not self._running:
            return
        self._running = False
        if self.ha_client is not None:
            await self.ha_client.aclose()
        if self.ha_service is not None:
            await self.ha_service.aclose()
        await self.clean_service.aclose()
        await self._tasks.aclose(grace=None)  # a flush in a worker thread finishes first
        await self.flush_service.aclose()
        await asyncio.to_thread(self._flush_consume_queues, 0)
        self.commit_log.close()
        for cq in self.consume_queues.values():
            cq.close()
        if self.index_service is not None:
            self.index_service.close()
        if self.checkpoint is not None:
            self.checkpoint.shutdown()
        with contextlib.suppress(FileNotFoundError):
            self.abort_file.unlink()
        self.lock.release()

    def _load_consume_queues(self) -> None:
        root = Path(self.config.consume_queue_dir())
        if not root.is_dir():
            return
        for topic_dir in sorted(root.iterdir()):
            for queue_dir in sorted(topic_dir.iterdir()):
                if not queue_dir.name.isdigit():
                    continue
                cq = self._new_consume_queue(topic_dir.name, int(queue_dir.name))
                cq.load()

    def _new_consume_queue(self, topic: str, queue_id: int) -> ConsumeQueue:
        cq = ConsumeQueue(
            self.config.consume_queue_dir(), topic, queue_id, self.config.consume_queue_file_size()
        )
        self.consume_queues[(topic, queue_id)] = cq
        return cq

    def _recover(self, last_exit_ok: bool) -> None:
        for cq in self.consume_queues.values():
            cq.recover()
        start_index = None if last_exit_ok else self._abnormal_start_index()
        end = self.commit_log.recover(
            check_crc=self.config.check_crc_on_recover or not last_exit_ok,
            start_file_index=start_index,
        )
        for cq in self.consume_queues.values():
            # recoverTopicQueueTable: files below the CommitLog's first file were deleted.
            cq.correct_min_offset(self.commit_log.min_offset())
            cq.truncate_dirty_logic_files(end)
            self.commit_log.set_queue_offset(cq.topic, cq.queue_id, cq.max_offset_in_queue())
        self._redispatch(last_exit_ok)

    def _abnormal_start_index(self) -> int:
        """The newest CommitLog file whose first record is older than the checkpoint says
        everything was flushed (``CommitLog#recoverAbnormally``, ``isMappedFileMatchedRecover``).
        """
        assert self.checkpoint is not None
        safe = (
            self.checkpoint.min_timestamp_index()
            if self.config.message_index_safe
            else self.checkpoint.min_timestamp()
        )
        files = self.commit_log.queue.files
        for index in range(len(files) - 1, -1, -1):
            size, magic = peek_record(files[index].buffer(), 0)
            if size <= 0 or magic == BLANK_MAGIC_CODE:
                continue
            first = self.commit_log.read_record(files[index].file_from_offset)
            if 0 < first.store_timestamp <= safe:
                return index
        return 0

    def _redispatch(self, last_exit_ok: bool) -> None:
        """Dispatch records the ConsumeQueues miss (a crash between append and dispatch)."""
        start = self.commit_log.min_offset()
        if last_exit_ok:
            start = max([start, *(cq.max_physic_offset for cq in self.consume_queues.values())])
        elif self.commit_log.queue.files:  # from where the recovery scan began
            start = self.commit_log.queue.files[self._abnormal_start_index()].file_from_offset
        count = 0
        for record in self.commit_log.iter_records(start):
            self._dispatch_record(record)
            count += 1
        if count:
            log.info("re-dispatched %d records from commitlog offset %d", count, start)

    def _dispatch_record(self, record: MessageRecord) -> None:
        if record.sys_flag & _TX_MASK in _TX_NO_QUEUE:
            props = decode_properties(record.properties) if record.properties else {}
            self._index(
                record.topic, props, record.physical_offset, record.store_timestamp, record.sys_flag
            )
            return
        key = (record.topic, record.queue_id)
        cq = self.consume_queues.get(key) or self._new_consume_queue(*key)
        props = decode_properties(record.properties) if record.properties else {}
        code = self._tags_code(record.topic, props, record.store_timestamp)
        cq.put(record.physical_offset, record.total_size, code, record.queue_offset)
        self._index(
            record.topic, props, record.physical_offset, record.store_timestamp, record.sys_flag
        )
        if self.commit_log.next_queue_offset(*key) <= record.queue_offset:
            self.commit_log.set_queue_offset(record.topic, record.queue_id, record.queue_offset + 1)
        # ReputMessageService wakes held pulls on a master (a held-back record shown now)
        if self.config.broker_role == SLAVE:
            return
        if self.message_arriving_listener is not None:
            self.message_arriving_listener(
                record.topic, record.queue_id, record.queue_offset + 1, code
            )
        if self.messages_arriving_listener is not None:
            self.messages_arriving_listener(
                [(record.topic, record.queue_id, record.queue_offset + 1, code)]
            )

    def _index(
        self, topic: str, props: Mapping[str, str], phys: int, stamp: int, sys_flag: int
    ) -> None:
        self._last_dispatched_timestamp = stamp
        if self.index_service is None:
            return
        keys, uniq = props.get("KEYS"), props.get("UNIQ_KEY")
        if keys or uniq:
            self.index_service.build_index(topic, keys or "", uniq, phys, stamp, sys_flag)

    def append_to_commit_log(self, offset: int, data: bytes | memoryview) -> bool:
        """A slave stores bytes of its master's CommitLog and dispatches the records that are
        now complete (a chunk may end inside a record; the rest comes with the next one)."""
        empty = self.commit_log.max_offset() == 0
        if not self.commit_log.append_raw(offset, data):
            return False
        if self._reput_offset is None or empty:  # an empty slave starts where the master does
            self._reput_offset = offset
        self._reput_offset = self._dispatch_complete(self._reput_offset, self._dispatch_limit)
        return True

    def dispatch_to(self, limit: int | None) -> None:
        """Controller mode: dispatch (make visible to consumers) whole records up to the
        confirm offset ``limit`` from now on, None: up to the log end (``ReputMessageService``
        stops at ``getReputEndOffset``, the confirm offset unless ``readUnCommitted``)."""
        self._dispatch_limit = limit
        if self._reput_offset is not None:
            self._reput_offset = self._dispatch_complete(self._reput_offset, limit)

    def hold_dispatch_at(self, confirm: int | None) -> None:
        """A controller-mode master waiting for its SyncStateSet (``allAckInSyncStateSet``):
        records past ``confirm`` stay invisible to consumers until every member has them
        (Java 5's ReputMessageService stops at ``CommitLog#getConfirmOffset``), so no
        consumer reads what a failover could take back. None: dispatch as appended again.
        What was dispatched before the hold stays so."""
        if confirm is None:
            self._dispatch_limit = None
            self._release_held()
            self._held = self._reput_offset = None
            return
        if self._held is None:
            self._held = deque()
            self._reput_offset = self.max_phy_offset()
        self._dispatch_limit = confirm
        self._release_held()

    def _release_held(self) -> None:
        """Dispatch the held batches that end at or before the confirm offset."""
        held, limit = self._held, self._dispatch_limit
        while held:
            msgs, appended = held[0]
            end = appended[-1].physical_offset + appended[-1].size
            if limit is not None and end > limit:
                break
            held.popleft()
            self._dispatch_appended(msgs, appended)
            self._reput_offset = end

    def get_commit_log_data(self, offset: int, max_size: int) -> bytes | None:
        """Up to ``max_size`` CommitLog bytes from ``offset`` to the end of its file (what
        an HA master sends a slave); None when nothing is there yet."""
        return self.commit_log.get_data_from(offset, max_size)

    def update_master_address(self, addr: str) -> None:
        """A slave follows the master whose HA address is ``addr`` (``host:port``, from the
        NameServer's ``haServerAddr``); ignored by a master, as in RocketMQ."""
        if self.ha_client is not None:
            self.ha_client.update_master_address(addr)

    def set_replication(
        self, role: str, ha_service: HAService | None, ha_client: HAClient | None
    ) -> None:
        """Controller mode: role and replication parts change at run time (ReplicasManager);
        the caller owns the parts it swaps out. The dispatch position restarts with them."""
        self.config.broker_role = role
        self._sync_master = role == SYNC_MASTER
        self.ha_service, self.ha_client = ha_service, ha_client
        # A master dispatches as it appends (None: all dispatched, a slave then starts at
        # its next chunk); a slave that follows another master goes on from where it
        # stands, so records held back (beyond the confirm offset) are not skipped.
        self._held = None  # a new role: what was held goes through the slave's reput
        if role != SLAVE:
            self._reput_offset = self._dispatch_limit = None

    def dispatched_offset(self) -> int:
        """End of the last dispatched record (a slave's tail may stop inside one, or be
        held back beyond the confirm offset)."""
        return self.max_phy_offset() if self._reput_offset is None else self._reput_offset

    def truncate_files(self, offset: int) -> None:
        """Drop the CommitLog from ``offset`` (a record boundary) on and the ConsumeQueue
        entries pointing there (``DefaultMessageStore#truncateFiles``)."""
        self.commit_log.queue.truncate_dirty_files(offset)
        for cq in self.consume_queues.values():
            cq.truncate_dirty_logic_files(offset)
            self.commit_log.set_queue_offset(cq.topic, cq.queue_id, cq.max_offset_in_queue())
        if self._reput_offset is None or self._reput_offset > offset:
            self._reput_offset = offset
        if self._held is not None:  # held batches past the cut are gone
            self._held = deque(
                (m, a) for m, a in self._held if a[-1].physical_offset + a[-1].size <= offset
            )

    def ha_stats(self) -> HAServiceStats | HAClientStats | None:
        """Replication status: the master's slaves, the slave's link, or None."""
        if self.ha_service is not None:
            return self.ha_service.stats()
        return self.ha_client.stats() if self.ha_client is not None else None

    def _dispatch_complete(self, pos: int, limit: int | None = None) -> int:
        """Dispatch whole records from ``pos`` up to the log's end (or ``limit``); return
        where it stopped."""
        log_end = self.commit_log.max_offset()
        if limit is not None:
            log_end = min(log_end, limit)
        queue = self.commit_log.queue
        stamp = 0
        while log_end - pos >= END_FILE_MIN_BLANK_LENGTH:
            mapped = queue.find_file(pos)
            if mapped is None:
                break
            size, magic = peek_record(mapped.buffer(), pos - mapped.file_from_offset)
            if magic == BLANK_MAGIC_CODE:
                pos = queue.roll_next_file(pos)
                continue
            if size <= 0 or pos + size > log_end:
                break
            record = self.commit_log.read_record(pos)
            self._dispatch_record(record)
            stamp = record.store_timestamp
            pos += size
        if stamp:  # the checkpoint learns store times from flushed marks, as on a master
            self._append_marks.append((pos, stamp))
        return pos

    def min_phy_offset(self) -> int:
        """First CommitLog byte still on disk."""
        return self.commit_log.min_offset()

    def max_phy_offset(self) -> int:
        """CommitLog end."""
        return self.commit_log.max_offset()

    def stats(self) -> MessageStoreStats:
        """Positions and counters."""
        return MessageStoreStats(
            self.commit_log.min_offset(),
            self.commit_log.max_offset(),
            self.commit_log.queue.flushed_where,
            len(self.consume_queues),
            self._put_count,
        )

    # -- services ---------------------------------------------------------------------------

    def _on_flushed(self, flushed: int) -> None:
        marks = self._append_marks
        stamp = 0
        while marks and marks[0][0] <= flushed:
            stamp = marks.popleft()[1]
        if stamp and self.checkpoint is not None:
            self.checkpoint.physic_msg_timestamp = stamp

    def _flush_consume_queues(self, least_pages: int) -> None:
        """Flush queues and index, then the checkpoint (blocking: worker thread)."""
        dispatched = self._last_dispatched_timestamp
        for cq in list(self.consume_queues.values()):
            cq.flush(least_pages)
        if self.index_service is not None:
            self.index_service.flush_full_files()
        if self.checkpoint is not None:
            if dispatched:
                self.checkpoint.logics_msg_timestamp = dispatched
            self.checkpoint.flush()

    async def _flush_consume_queues_loop(self) -> None:
        ticks = 0
        interval = max(self.config.flush_interval_consume_queue, 1)
        while await self._tasks.sleep(interval / 1000):
            ticks += 1
            thorough = ticks * interval >= self.config.flush_consume_queue_thorough_interval
            least_pages = 0 if thorough else self.config.flush_consume_queue_least_pages
            if thorough:
                ticks = 0
            try:
                await asyncio.to_thread(self._flush_consume_queues, least_pages)
            except Exception:
                log.exception("consume queue flush failed")
