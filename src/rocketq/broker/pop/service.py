"""POP consumption (RocketMQ 5's ``PopMessageProcessor``, ``AckMessageProcessor``,
``ChangeInvisibleTimeProcessor``), the engine under gRPC's ReceiveMessage.

* A pop reads every queue of the topic (and the group's pop retry topic, first in one pop
  of five as ``popFromRetryProbability`` = 20 has it), writes one checkpoint per queue read
  to the revive log, then moves the group's consumer offset past what it handed out: the
  consumer offset is the pop progress, shared with remoting consumers, as in RocketMQ 5.
* An ack writes an ack record; a change of invisible time writes a new checkpoint for the
  one message and acks the old one (its handle is then stale).
* Un-acked messages come back through the revive log (:mod:`.revive`): copied to
  ``%RETRY%<group>_<topic>`` with ``reconsumeTimes + 1`` when their invisible time is up,
  and popped from there with ``delivery attempt = reconsumeTimes + 1``.
* FIFO groups (``consumeMessageOrderly``) are served by :mod:`.orderly` instead: one
  in-flight batch per queue, redelivered in place.
* A message over ``max_attempts`` goes to ``%DLQ%<group>`` instead of being handed out.

Long polling: :meth:`PopService.receive` waits until a message reaches the topic or its
pop retry topic (:meth:`notify_message_arriving`, fed by the store's dispatch) or a FIFO
queue is unblocked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rocketq.broker.pop.checkpoints import AckOutcome, CheckpointTable
from rocketq.broker.pop.orderly import ORDER_REVIVE_QUEUE, OrderInfoTable
from rocketq.broker.pop.records import (
    NORMAL_TOPIC_TYPE,
    RETRY_TOPIC_TYPE,
    AckRecord,
    CheckPoint,
    ReceiptHandle,
    pop_retry_topic,
    revive_topic,
)
from rocketq.broker.pop.revive import ReviveLog
from rocketq.common.message import MessageConst
from rocketq.common.record import MessageRecord, copy_message, create_offset_msg_id, decode_record
from rocketq.common.topic import PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX, dlq_topic
from rocketq.store.result import GetMessageStatus, MessageFilter

if TYPE_CHECKING:
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["INIT_MODE_MAX", "INIT_MODE_MIN", "PopService", "PoppedMessage", "now_ms"]

# ConsumeInitMode (POP_MESSAGE's initMode): where a group with no offset starts popping a
# queue - its first message (a Java pop consumer CONSUME_FROM_FIRST_OFFSET), or its last one
# (every other consumer; the Proxy's receives for the 5.x SDKs).
INIT_MODE_MIN = 0
INIT_MODE_MAX = 1

# Queue entries read per queue and pop at most: the SDKs receive at most 32 at a time.
MAX_READ_PER_QUEUE = 32
# BrokerConfig.popFromRetryProbability: percent of pops that read the retry topic first.
POP_FROM_RETRY_PERCENT = 20
# Statuses after which the stored pop offset is out of the queue's range: start again at
# the offset the store names (PopMessageProcessor#popMsgFromQueue).
_OFFSET_WRONG = frozenset(
    {
        GetMessageStatus.OFFSET_TOO_SMALL,
        GetMessageStatus.OFFSET_OVERFLOW_BADLY,
        GetMessageStatus.OFFSET_FOUND_NULL,
    }
)
# Queues of a group's dead-letter topic (SendMessageProcessor.DLQ_NUMS_PER_GROUP).
DLQ_QUEUE_NUMS = 1


def now_ms() -> int:
    """Wall-clock milliseconds (pop times are wall times, as RocketMQ's are)."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class PoppedMessage:
    """One delivery: the stored record, its handle and which delivery it is (1, 2, ...)."""

    record: MessageRecord
    handle: ReceiptHandle
    attempt: int


@dataclass(frozen=True, slots=True)
class _Read:
    """What one pop asks of each queue."""

    group: str
    invisible_ms: int
    pop_time: int
    revive_queue_id: int
    message_filter: MessageFilter | None
    init_mode: int = INIT_MODE_MAX


class PopService:
    """Receive / ack / change-invisible-time over the store, for every POP group.

    ``await start()`` recovers the pending checkpoints from the revive log and starts the
    revive loop; ``await aclose()`` stops it. ``cluster`` names the revive topic; ``on_get``
    is told (group, topic, messages, bytes) of every read handed out (statistics)."""

    def __init__(
        self,
        store: DefaultMessageStore,
        offsets: ConsumerOffsetManager,
        broker_name: str,
        cluster: str = "DefaultCluster",
        topics: TopicConfigManager | None = None,
        clock: Callable[[], int] = now_ms,
        retry_first_percent: int = POP_FROM_RETRY_PERCENT,
        on_get: Callable[[str, str, int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.offsets = offsets
        self.broker_name = broker_name
        self.topics = topics
        self.clock = clock
        self.retry_first_percent = retry_first_percent
        # (group, topic, messages, bytes) of every read handed out: the broker's statistics
        self.on_get = on_get
        self.revive = ReviveLog(store, offsets, revive_topic(cluster), clock, topics)
        self.orderly = OrderInfoTable()
        self._busy: set[tuple[str, str, int]] = set()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._retry_topics: dict[str, str] = {}  # pop retry topic -> its topic
        self._last_pop_time = 0
        self._random = random.Random()
        self._running = False

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`aclose` (a master's broker serves POP)."""
        return self._running

    async def start(self) -> None:
        """Recover pending checkpoints and start reviving; nothing while running. A start
        after :meth:`aclose` (a broker promoted again) recovers afresh from the revive log,
        which may have grown by replication meanwhile."""
        if self._running:
            return
        if self.topics is not None and self.topics.select(self.revive.topic) is None:
            self.topics.create_in_send_back(
                self.revive.topic, self.revive.queue_nums, PERM_READ | PERM_WRITE
            )
        self.revive.table = CheckpointTable(self.revive.queue_nums)
        self.revive.recover()
        self.revive.start()
        self._running = True

    async def aclose(self) -> None:
        """Answer waiting receives and stop the revive loop (idempotent)."""
        self._running = False
        self.wake_all()
        await self.revive.aclose()

    def _pop_time(self) -> int:
        # Strictly increasing: two checkpoints of a queue never share a merge key.
        self._last_pop_time = max(self.clock(), self._last_pop_time + 1)
        return self._last_pop_time

    # -- pop offsets ------------------------------------------------------------------------

    def pop_offset(
        self, group: str, topic: str, queue_id: int, init_mode: int = INIT_MODE_MAX
    ) -> int:
        """The committed offset; for a group with none :meth:`peek_offset`'s start, then
        committed (``getPopOffset`` with init)."""
        offset = self.peek_offset(group, topic, queue_id, init_mode)
        if self.offsets.query(group, topic, queue_id) < 0:
            self.offsets.commit(group, topic, queue_id, offset)
        return offset

    def peek_offset(
        self, group: str, topic: str, queue_id: int, init_mode: int = INIT_MODE_MAX
    ) -> int:
        """Where the next pop of the queue starts (:meth:`pop_offset` without committing).
        A group with no offset (``getInitOffset``) starts at the queue's first message with
        ``INIT_MODE_MIN``, on a retry topic, or while the queue still begins at 0 (where
        RocketMQ checks that its first message is still in memory); else at its last
        message (the end minus one)."""
        committed = self.offsets.query(group, topic, queue_id)
        low = self.store.get_min_offset_in_queue(topic, queue_id)
        if committed >= 0:
            return max(committed, low)
        if init_mode == INIT_MODE_MIN or low == 0 or topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return low
        return max(self.store.get_max_offset_in_queue(topic, queue_id) - 1, low)

    def notification_offset(self, group: str, topic: str, queue_id: int) -> int:
        """Where NOTIFICATION counts a queue's messages from (``NotificationProcessor#
        getPopOffset``): the committed offset, or for a group that has none the queue's first
        (min) offset, whatever a pop would start from; nothing is committed."""
        committed = self.offsets.query(group, topic, queue_id)
        low = self.store.get_min_offset_in_queue(topic, queue_id)
        return max(committed, low) if committed >= 0 else low

    def _advance(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        if offset > self.offsets.query(group, topic, queue_id):
            self.offsets.commit(group, topic, queue_id, offset)

    def read(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        limit: int,
        message_filter: MessageFilter | None,
    ) -> tuple[list[MessageRecord], int]:
        """Records from ``offset`` on and the offset after what was read or skipped."""
        result = self.store.get_message(
            group, topic, queue_id, offset, min(limit, MAX_READ_PER_QUEUE), message_filter
        )
        if result.status in _OFFSET_WRONG:
            offset = result.next_begin_offset
            result = self.store.get_message(
                group, topic, queue_id, offset, min(limit, MAX_READ_PER_QUEUE), message_filter
            )
        try:
            records = [decode_record(view) for view in result.buffers]
        finally:
            for view in result.buffers:
                view.release()
        if result.status is GetMessageStatus.OFFSET_OVERFLOW_ONE:
            return records, offset
        return records, max(offset, result.next_begin_offset)

    # -- pop --------------------------------------------------------------------------------

    async def pop(
        self,
        group: str,
        topic: str,
        queue_ids: Iterable[int],
        batch: int,
        invisible_ms: int,
        message_filter: MessageFilter | None = None,
        orderly: bool = False,
        init_mode: int = INIT_MODE_MAX,
    ) -> list[PoppedMessage]:
        """Up to ``batch`` messages of the topic and the group's pop retry topic; a queue
        the group never popped starts where ``init_mode`` says."""
        retry = pop_retry_topic(topic, group)
        self._retry_topics[retry] = topic
        pop_time = self._pop_time()
        if orderly:
            request = _Read(group, invisible_ms, pop_time, ORDER_REVIVE_QUEUE, message_filter,
                            init_mode)  # fmt: skip
            return self._pop_orderly(request, topic, list(queue_ids), batch)
        request = _Read(
            group, invisible_ms, pop_time, self.revive.next_revive_queue(), message_filter,
            init_mode,
        )  # fmt: skip
        sources = [(topic, list(queue_ids)), (retry, [0])]
        if self._random.randrange(100) < self.retry_first_percent:
            sources.reverse()
        out: list[PoppedMessage] = []
        for source, ids in sources:
            for queue_id in ids:
                if len(out) >= batch:
                    return out
                out += await self._pop_queue(request, source, queue_id, batch - len(out))
        return out

    async def _pop_queue(
        self, request: _Read, topic: str, queue_id: int, limit: int
    ) -> list[PoppedMessage]:
        key = (request.group, topic, queue_id)
        if key in self._busy:  # another pop is reading it (QueueLockManager#tryLock)
            return []
        self._busy.add(key)
        try:
            offset = self.pop_offset(request.group, topic, queue_id, request.init_mode)
            records, next_offset = self.read(
                request.group, topic, queue_id, offset, limit, request.message_filter
            )
            if records:
                ck = CheckPoint(
                    offset, request.pop_time, request.invisible_ms, queue_id, topic,
                    request.group, self.broker_name,
                    tuple(r.queue_offset - offset for r in records),
                )  # fmt: skip
                if await self.revive.write_ck(ck, request.revive_queue_id) is None:
                    return []  # nothing handed out, the offset stays
            self._advance(request.group, topic, queue_id, next_offset)
        finally:
            self._busy.discard(key)
        self._count_get(request.group, topic, records)
        return [self._popped(request, topic, offset, r) for r in records]

    def _count_get(self, group: str, topic: str, records: list[MessageRecord]) -> None:
        # PopMessageProcessor#popMsgFromQueue: incGroupGetNums/Size, incBrokerGetNums.
        if self.on_get is not None and records:
            self.on_get(group, topic, len(records), sum(r.total_size for r in records))

    def _popped(
        self, request: _Read, topic: str, start_offset: int, record: MessageRecord
    ) -> PoppedMessage:
        retry = topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        handle = ReceiptHandle(
            start_offset=start_offset,
            retrieve_time=request.pop_time,
            invisible_ms=request.invisible_ms,
            revive_queue_id=request.revive_queue_id,
            topic_type=RETRY_TOPIC_TYPE if retry else NORMAL_TOPIC_TYPE,
            broker_name=self.broker_name,
            queue_id=record.queue_id,
            offset=record.queue_offset,
            commit_log_offset=record.physical_offset,
        )
        return PoppedMessage(record, handle, record.reconsume_times + 1)

    def _pop_orderly(
        self, request: _Read, topic: str, queue_ids: list[int], batch: int
    ) -> list[PoppedMessage]:
        group, invisible_ms, pop_time = request.group, request.invisible_ms, request.pop_time
        out: list[PoppedMessage] = []
        for queue_id in queue_ids:
            if len(out) >= batch:
                break
            now = self.clock()
            if self.orderly.blocked(group, topic, queue_id, now):
                continue
            offset = self.pop_offset(group, topic, queue_id, request.init_mode)
            records, _next = self.read(
                group, topic, queue_id, offset, batch - len(out), request.message_filter
            )
            if not records:
                self.orderly.clear(group, topic, queue_id)
                self._advance(group, topic, queue_id, _next)
                continue
            counts = self.orderly.update(
                group, topic, queue_id, [r.queue_offset for r in records], pop_time, invisible_ms
            )
            self._count_get(group, topic, records)
            for record in records:
                if record.queue_offset in counts:  # not acked in the batch before
                    popped = self._popped(request, topic, offset, record)
                    count = counts[record.queue_offset]
                    out.append(replace(popped, attempt=record.reconsume_times + count))
        return out

    # -- ack and change invisible time ------------------------------------------------------

    def _key(self, group: str, topic: str, handle: ReceiptHandle) -> AckRecord:
        real = handle.real_topic(topic, group)
        return AckRecord(real, group, handle.queue_id, handle.start_offset,
                         handle.retrieve_time, handle.broker_name, (handle.offset,))  # fmt: skip

    async def ack(self, group: str, topic: str, handle: ReceiptHandle) -> bool:
        """Consume the message for good. True when acked now or already; False when the
        handle is stale: its invisible time was changed, or it expired and was revived."""
        if handle.revive_queue_id == ORDER_REVIVE_QUEUE:
            return self._ack_orderly(group, topic, handle)
        if not 0 <= handle.revive_queue_id < self.revive.queue_nums:
            return False
        ack = self._key(group, topic, handle)
        outcome = self.revive.table.outcome(ack.key, handle.offset)
        if outcome is AckOutcome.PENDING:
            return await self.revive.write_ack(ack, handle.revive_queue_id)
        # UNKNOWN: resolved before a restart (or never ours): nothing is pending for it.
        return outcome in (AckOutcome.DONE, AckOutcome.UNKNOWN)

    async def ack_offsets(
        self, group: str, topic: str, handle: ReceiptHandle, offsets: Iterable[int]
    ) -> int:
        """Consume several messages of the checkpoint ``handle`` names (BATCH_ACK_MESSAGE)
        with one ``bAck`` record; how many were pending and are acked now."""
        if handle.revive_queue_id == ORDER_REVIVE_QUEUE:
            acked = [self._ack_orderly(group, topic, replace(handle, offset=o)) for o in offsets]
            return sum(acked)
        if not 0 <= handle.revive_queue_id < self.revive.queue_nums:
            return 0
        ack = self._key(group, topic, handle)
        table = self.revive.table
        pending = tuple(o for o in offsets if table.outcome(ack.key, o) is AckOutcome.PENDING)
        if not pending:
            return 0
        written = await self.revive.write_ack(replace(ack, offsets=pending), handle.revive_queue_id)
        return len(pending) if written else 0

    def _ack_orderly(self, group: str, topic: str, handle: ReceiptHandle) -> bool:
        real = handle.real_topic(topic, group)
        done = self.orderly.ack(group, real, handle.queue_id, handle.offset, handle.retrieve_time)
        if done is None:
            return False
        self._advance(group, real, handle.queue_id, done)
        self._wake(topic)  # the next message of the queue may go now
        return True

    async def change_invisible(
        self, group: str, topic: str, handle: ReceiptHandle, invisible_ms: int
    ) -> ReceiptHandle | None:
        """Invisible for ``invisible_ms`` from now; the new handle, or None when ``handle``
        is not the current delivery's."""
        if handle.revive_queue_id == ORDER_REVIVE_QUEUE:
            real = handle.real_topic(topic, group)
            pop_time = self._pop_time()
            key = (group, real, handle.queue_id)
            if not self.orderly.change(key, handle.offset, handle.retrieve_time, pop_time,
                                       invisible_ms):  # fmt: skip
                return None
            return replace(handle, retrieve_time=pop_time, invisible_ms=invisible_ms)
        if not 0 <= handle.revive_queue_id < self.revive.queue_nums:
            return None
        old = self._key(group, topic, handle)
        if self.revive.table.outcome(old.key, handle.offset) is not AckOutcome.PENDING:
            return None
        pop_time, revive_queue_id = self._pop_time(), self.revive.next_revive_queue()
        ck = CheckPoint(handle.offset, pop_time, invisible_ms, handle.queue_id, old.topic,
                        group, handle.broker_name, (0,))  # fmt: skip
        if await self.revive.write_ck(ck, revive_queue_id) is None:
            return None
        await self.revive.write_ack(old, handle.revive_queue_id, moved=True)
        return replace(handle, start_offset=handle.offset, retrieve_time=pop_time,
                       invisible_ms=invisible_ms, revive_queue_id=revive_queue_id)  # fmt: skip

    # -- dead letters -----------------------------------------------------------------------

    async def forward_to_dlq(self, group: str, popped: PoppedMessage, topic: str) -> bool:
        """Store the message in ``%DLQ%<group>`` and ack it (the proxy's
        ``forwardMessageToDeadLetterQueue``: ``consumerSendMsgBack`` with delay level -1)."""
        record = popped.record
        dlq = dlq_topic(group)
        if self.topics is not None and self.topics.select(dlq) is None:
            self.topics.create_in_send_back(dlq, DLQ_QUEUE_NUMS, PERM_READ | PERM_WRITE)
        props = record.properties_map()
        props.setdefault(MessageConst.RETRY_TOPIC, topic)
        props.setdefault(
            MessageConst.ORIGIN_MESSAGE_ID,
            create_offset_msg_id(record.store_host, record.physical_offset),
        )
        msg = copy_message(record, dlq, 0, props, reconsume_times=popped.attempt,
                           prepared_transaction_offset=0)  # fmt: skip
        result = await self.store.put_messages([msg], wait_store=True)
        if not result.status.stored:
            return False
        return await self.ack(group, topic, popped.handle)

    # -- long polling -----------------------------------------------------------------------

    async def receive(
        self,
        group: str,
        topic: str,
        queue_ids: list[int],
        batch: int,
        invisible_ms: int,
        message_filter: MessageFilter | None,
        timeout_s: float,
        orderly: bool = False,
        init_mode: int = INIT_MODE_MAX,
    ) -> list[PoppedMessage]:
        """``pop``, waiting up to ``timeout_s`` for a message to arrive."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            found = await self.pop(
                group, topic, queue_ids, batch, invisible_ms, message_filter, orderly, init_mode
            )
            remaining = end - loop.time()
            if found or remaining <= 0:
                return found
            if orderly:  # a blocked queue opens when its batch's invisible time ends
                due = self.orderly.next_unblock(group, topic)
                if due is not None:
                    remaining = min(remaining, max(due - self.clock(), 0) / 1000)
            await self._wait(topic, remaining)

    def has_message(
        self, group: str, topic: str, queue_ids: list[int], orderly: bool = False
    ) -> bool:
        """Whether there is a message to pop, by offsets only (no filter, as RocketMQ's
        ``NotificationProcessor#hasMsgFromQueue``): in a queue of ``topic`` (not a blocked
        one of a FIFO group) or, for a concurrent group, in its pop retry topic, counted
        from :meth:`notification_offset` (a new group: from the queue's first message)."""
        retry = pop_retry_topic(topic, group)
        self._retry_topics[retry] = topic
        now = self.clock()
        for queue_id in queue_ids:
            if orderly and self.orderly.blocked(group, topic, queue_id, now):
                continue
            if self.store.get_max_offset_in_queue(topic, queue_id) > self.notification_offset(
                group, topic, queue_id
            ):
                return True
        if orderly:  # FIFO pops redeliver in place, never from the retry topic
            return False
        rest = self.store.get_max_offset_in_queue(retry, 0)
        return rest > self.notification_offset(group, retry, 0)

    async def wait_for_message(
        self,
        group: str,
        topic: str,
        queue_ids: list[int],
        timeout_s: float,
        orderly: bool = False,
    ) -> bool:
        """:meth:`has_message`, waiting up to ``timeout_s`` for one to arrive (NOTIFICATION's
        long polling)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            if self.has_message(group, topic, queue_ids, orderly):
                return True
            remaining = end - loop.time()
            if remaining <= 0 or not self._running:
                return False
            if orderly:
                due = self.orderly.next_unblock(group, topic)
                if due is not None:
                    remaining = min(remaining, max(due - self.clock(), 0) / 1000)
            await self._wait(topic, remaining)

    async def _wait(self, topic: str, timeout_s: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(topic, set())
        waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            pass
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(topic, None)

    def _wake(self, topic: str) -> None:
        for waiter in self._waiters.get(topic, ()):
            if not waiter.done():
                waiter.set_result(None)

    def notify_message_arriving(
        self, topic: str, queue_id: int, max_offset: int, tags_code: int | None = None
    ) -> None:
        """A message reached ``topic``: wake the receives waiting on it (or on the topic
        whose pop retry topic it is); they re-check."""
        self._wake(self._retry_topics.get(topic, topic))

    def notify_messages_arriving(self, arrivals: list[tuple[str, int, int, int]]) -> None:
        """:meth:`notify_message_arriving` for the records of one dispatch pass; nothing
        to do (one test) while no receive waits."""
        if not self._waiters:
            return
        retry_topics = self._retry_topics
        for topic in {topic for topic, _queue, _offset, _code in arrivals}:
            self._wake(retry_topics.get(topic, topic))

    def wake_all(self) -> None:
        """Wake every waiting receive (the server is closing)."""
        for topic in list(self._waiters):
            self._wake(topic)
