"""The revive log: checkpoints and acks written as messages to the revive topic through
the store's put path, and the revive service that hands un-acked messages out again
(RocketMQ 5's ``PopMessageProcessor#appendCheckPoint``, ``AckMessageProcessor``,
``PopReviveService``).

* A pop writes one ``ck`` record per queue read (``CheckPoint``) to revive queue
  ``n % reviveQueueNum`` before the messages are answered; an ack writes an ``ack`` record to
  the revive queue its receipt handle names.
* When a checkpoint's revive time (pop time + invisible time) comes, each of its messages
  not acked is copied to the group's pop retry topic ``%RETRY%<group>_<topic>`` with
  ``reconsumeTimes + 1`` (``reviveRetry``); the revive offset (the offset of
  ``CID_RMQ_SYS_REVIVE_GROUP`` on the revive queue) moves past it.
* Crash safety. The records are in the CommitLog before a pop or an ack is answered; at
  start :meth:`ReviveLog.recover` scans each revive queue from its committed revive
  offset, so every pending checkpoint comes back with its acks. Two things go beyond
  RocketMQ, which relies on ``consumerOffset.json`` being flushed (every 5 s): a revived
  checkpoint is closed by a ``bAck`` record of the offsets it re-sent, so a restart never
  revives it twice; and the scan moves each group's pop offset past the messages its
  checkpoints cover, so a restart never hands out an acked message again as new.

Unlike RocketMQ, the records are put straight into the revive queue rather than parked in
the timer until due: the pending checkpoints are in memory (``CheckpointTable``) and the
service sleeps until the earliest revive time, so redelivery is not late by RocketMQ's
1-3 s of revive slack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from rocketq.broker.pop.checkpoints import CheckpointTable, PendingCheckpoint
from rocketq.broker.pop.records import (
    ACK_TAG,
    BATCH_ACK_TAG,
    CK_TAG,
    REVIVE_GROUP,
    AckRecord,
    CheckPoint,
    pop_retry_topic,
    revive_record,
)
from rocketq.common.message import MessageConst
from rocketq.common.record import Address, MessageRecord, StoredMessage, copy_message, decode_record
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX
from rocketq.store.result import PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["REVIVE_QUEUE_NUMS", "ReviveLog"]

log = logging.getLogger("rocketq.broker.pop")

# BrokerConfig.reviveQueueNum: revive queues of the cluster's revive topic.
REVIVE_QUEUE_NUMS = 8
# BrokerConfig.reviveInterval: the revive service looks at least this often (seconds).
REVIVE_INTERVAL_S = 1.0
# Revive-queue records read per store read while recovering.
_SCAN_BATCH = 32
# PopAckConstants.retryQueueNum: queues of a pop retry topic.
RETRY_QUEUE_NUMS = 1
# A put that reached the CommitLog; the other statuses wrote nothing.
_WRITTEN = frozenset(
    {
        PutMessageStatus.PUT_OK,
        PutMessageStatus.FLUSH_DISK_TIMEOUT,
        PutMessageStatus.FLUSH_SLAVE_TIMEOUT,
        PutMessageStatus.SLAVE_NOT_AVAILABLE,
    }
)
FIRST_POP_TIME = "1ST_POP_TIME"  # MessageConst.PROPERTY_FIRST_POP_TIME


class ReviveLog:
    """Pending checkpoints over the revive topic of one broker, and its revive loop."""

    def __init__(
        self,
        store: DefaultMessageStore,
        offsets: ConsumerOffsetManager,
        revive_topic: str,
        clock: Callable[[], int],
        topics: TopicConfigManager | None = None,
        revive_queue_nums: int = REVIVE_QUEUE_NUMS,
    ) -> None:
        self.store = store
        self.offsets = offsets
        self.topic = revive_topic
        self.clock = clock
        self.topics = topics
        self.queue_nums = revive_queue_nums
        self.table = CheckpointTable(revive_queue_nums)
        self._counter = 0
        self._tasks: TaskOwner | None = None
        self._wake: asyncio.Event | None = None  # made at start, on the loop
        self._sleep_until = 0

    @property
    def host(self) -> Address:
        """The broker's store host (born host of what the broker writes itself)."""
        return self.store.store_host

    # -- writing ----------------------------------------------------------------------------

    def next_revive_queue(self) -> int:
        """Revive queues in turn (``ckMessageNumber % reviveQueueNum``)."""
        self._counter += 1
        return self._counter % self.queue_nums

    async def _put(self, msg: StoredMessage) -> int | None:
        result = await self.store.put_messages([msg], wait_store=True)
        if result.status not in _WRITTEN or not result.appended:
            log.error("revive record not written (%s): %s", result.status.name, msg.body[:200])
            return None
        return result.appended[0].queue_offset

    async def write_ck(self, ck: CheckPoint, revive_queue_id: int) -> PendingCheckpoint | None:
        """Store a checkpoint; None when the store refused it (nothing was handed out)."""
        msg = revive_record(ck, self.topic, revive_queue_id, self.host, self.clock())
        offset = await self._put(msg)
        if offset is None:
            return None
        entry = self.table.add(ck, revive_queue_id, offset)
        if self._wake is not None and ck.revive_time < self._sleep_until:
            self._wake.set()  # due before the loop wakes up
        return entry

    async def write_ack(self, ack: AckRecord, revive_queue_id: int, moved: bool = False) -> bool:
        """Mark and store an ack (marked first, so a revival meanwhile skips it)."""
        self.table.apply_ack(ack, moved)
        msg = revive_record(ack, self.topic, revive_queue_id, self.host, self.clock())
        offset = await self._put(msg)
        if offset is None:
            self.table.unmark(ack.key, ack.offsets)
            return False
        self.table.scanned[revive_queue_id] = max(self.table.scanned[revive_queue_id], offset + 1)
        self.commit_revive_offsets()
        return True

    def commit_revive_offsets(self) -> None:
        """The revive progress as ``REVIVE_GROUP``'s offsets on the revive topic."""
        for queue_id in range(self.queue_nums):
            offset = self.table.revive_offset(queue_id)
            if offset > self.offsets.query(REVIVE_GROUP, self.topic, queue_id):
                self.offsets.commit(REVIVE_GROUP, self.topic, queue_id, offset)

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> int:
        """Scan every revive queue from its revive offset; the pending checkpoints it
        finds are returned to the table. Returns how many are pending."""
        for queue_id in range(self.queue_nums):
            start = self.offsets.query(REVIVE_GROUP, self.topic, queue_id) + 1
            start = max(start, self.store.get_min_offset_in_queue(self.topic, queue_id))
            self._scan(queue_id, start)
        self.commit_revive_offsets()
        log.info("revive log %s: %d checkpoints pending", self.topic, len(self.table.pending))
        return len(self.table.pending)

    def _scan(self, queue_id: int, offset: int) -> None:
        end = self.store.get_max_offset_in_queue(self.topic, queue_id)
        self.table.scanned[queue_id] = max(offset, 0)
        while offset < end:
            result = self.store.get_message(REVIVE_GROUP, self.topic, queue_id, offset, _SCAN_BATCH)
            try:
                records = [decode_record(view) for view in result.buffers]
            finally:
                for view in result.buffers:
                    view.release()
            for record in records:
                self._replay(queue_id, record)
            if result.next_begin_offset <= offset:
                break
            offset = result.next_begin_offset
        self.table.scanned[queue_id] = max(self.table.scanned[queue_id], end)

    def _replay(self, queue_id: int, record: MessageRecord) -> None:
        tag = record.properties_map().get(MessageConst.TAGS)
        try:
            if tag == CK_TAG:
                ck = CheckPoint.from_json(record.body)
                self.table.add(ck, queue_id, record.queue_offset)
                self._pop_offset_past(ck)
            elif tag in (ACK_TAG, BATCH_ACK_TAG):
                self.table.apply_ack(AckRecord.from_json(record.body))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("revive queue %d offset %d: bad %s record: %s", queue_id,
                        record.queue_offset, tag, exc)  # fmt: skip

    def _pop_offset_past(self, ck: CheckPoint) -> None:
        end = ck.start_offset + max(ck.diffs, default=-1) + 1
        if end > self.offsets.query(ck.group, ck.topic, ck.queue_id):
            self.offsets.commit(ck.group, ck.topic, ck.queue_id, end)

    # -- revival ----------------------------------------------------------------------------

    async def revive_due(self) -> int:
        """Re-send the un-acked messages of every checkpoint whose time has come; the
        number of messages re-sent."""
        sent = 0
        for entry in self.table.due(self.clock()):
            if entry.ck.key not in self.table.pending:
                continue  # resolved by an ack while an earlier one was being revived
            offsets = entry.unacked_offsets()
            self.table.remove(entry, revived=True)  # a late ack now finds it expired
            if not await self._revive(entry, offsets):
                self.table.add(entry.ck, entry.revive_queue_id, entry.revive_offset)
                self.table.pending[entry.ck.key].acked = entry.acked
                break  # the store refuses puts: try again next round
            sent += len(offsets)
        self.commit_revive_offsets()
        return sent

    async def _revive(self, entry: PendingCheckpoint, offsets: list[int]) -> bool:
        ck = entry.ck
        for offset in offsets:
            record = self._read(ck, offset)
            if record is None:
                log.warning("revive %s: %s/%d offset %d is gone", ck.group, ck.topic,
                            ck.queue_id, offset)  # fmt: skip
                continue
            if await self._put(self._retry_copy(ck, record)) is None:
                return False
        closing = AckRecord(*ck.key, offsets=tuple(offsets))
        msg = revive_record(closing, self.topic, entry.revive_queue_id, self.host, self.clock())
        return await self._put(msg) is not None

    def _read(self, ck: CheckPoint, offset: int) -> MessageRecord | None:
        result = self.store.get_message(ck.group, ck.topic, ck.queue_id, offset, 1)
        try:
            if not result.buffers or result.next_begin_offset <= offset:
                return None
            record = decode_record(result.buffers[0])
        finally:
            for view in result.buffers:
                view.release()
        return record if record.queue_offset == offset else None

    def _retry_copy(self, ck: CheckPoint, record: MessageRecord) -> StoredMessage:
        """``reviveRetry``: the message again, in the group's pop retry topic."""
        topic = ck.topic
        if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            topic = pop_retry_topic(ck.topic, ck.group)
        self._ensure_retry_topic(topic)
        props = record.properties_map()
        if record.reconsume_times == 0 or FIRST_POP_TIME not in props:
            props[FIRST_POP_TIME] = str(ck.pop_time)
        copy = copy_message(record, topic, 0, props, reconsume_times=record.reconsume_times + 1)
        return replace(copy, born_host=self.host)

    def _ensure_retry_topic(self, topic: str) -> None:
        # addRetryTopicIfNotExist: one queue, read-write.
        if self.topics is not None and self.topics.select(topic) is None:
            self.topics.create_in_send_back(topic, RETRY_QUEUE_NUMS, PERM_READ | PERM_WRITE)

    # -- the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`revive_due` whenever a checkpoint becomes due."""
        self._wake = asyncio.Event()
        self._tasks = TaskOwner(log)
        self._tasks.every(self._interval, self.revive_due, "pop-revive", wake=self._wake)

    def _interval(self) -> float:
        now = self.clock()
        due = self.table.next_revive_time()
        wait_ms = REVIVE_INTERVAL_S * 1000
        if due is not None:
            wait_ms = min(wait_ms, max(due - now, 0))
        self._sleep_until = now + int(wait_ms)
        return wait_ms / 1000

    async def aclose(self) -> None:
        """Stop the loop (a revival under way finishes its current put first)."""
        if self._tasks is not None:
            await self._tasks.aclose(grace=1.0)
            self._tasks = None
