"""The transaction code's view of the store (RocketMQ ``TransactionalMessageBridge``):
how half, op, committed and discarded messages are built from each other, and how the
half and op queues are read and their progress kept.

The message transformations are pure functions over ``MessageRecord``/``StoredMessage``
so they can be tested without a store; ``TransactionalMessageBridge`` does the I/O.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from rocketq.broker.schedule import delay_level_of, to_schedule
from rocketq.broker.timer.transform import to_timer
from rocketq.broker.transaction.state import (
    REMOVE_TAG,
    TRANS_CHECK_MAX_TIME_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_SYS_GROUP,
    TRANSACTION_PREPARED_QUEUE_OFFSET,
)
from rocketq.common.errors import BrokerError
from rocketq.common.message import MessageConst, SysFlag, decode_properties, encode_properties
from rocketq.common.record import (
    Address,
    MessageRecord,
    RecordFormatError,
    StoredMessage,
    copy_message,
    decode_record,
    encode_record,
)
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.store.commit_log import AppendResult
from rocketq.store.config import StoreConfig
from rocketq.store.result import GetMessageStatus, PutMessageResult

if TYPE_CHECKING:
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.stats import BrokerStatsManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = [
    "HALF_QUEUE_ID",
    "QueueRead",
    "ReadStatus",
    "TransactionalMessageBridge",
    "check_request_body",
    "discarded_message",
    "immunity_half_message",
    "is_transaction_prepared",
    "op_message",
    "parse_op_body",
    "real_message",
    "renewed_half_message",
    "to_half_message",
]

log = logging.getLogger("rocketq.broker.transaction")

# Every half message goes to queue 0 of the half topic (parseHalfMessageInner).
HALF_QUEUE_ID = 0
# AbstractTransactionalMessageCheckListener.TCMT_QUEUE_NUMS.
CHECK_MAX_TIME_QUEUE_NUMS = 1
_TX_BITS = SysFlag.TRANSACTION_MASK


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def is_transaction_prepared(msg: StoredMessage) -> bool:
    """True for a half message as sent (``TRAN_MSG`` parsed like Java's parseBoolean)."""
    props = msg.props if msg.props is not None else decode_properties(msg.properties)
    return props.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true"


def to_half_message(msg: StoredMessage) -> StoredMessage:
    """``parseHalfMessageInner``: park a prepared message in the half topic, queue 0, with
    REAL_TOPIC/REAL_QID and ``__transactionId__`` (= UNIQ_KEY, 5.x); transaction bits NOT,
    so it gets a ConsumeQueue entry in the half topic (which no consumer subscribes to)."""
    props = dict(msg.props if msg.props is not None else decode_properties(msg.properties))
    props[MessageConst.REAL_TOPIC] = msg.topic
    props[MessageConst.REAL_QUEUE_ID] = str(msg.queue_id)
    uniq = props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    if uniq:
        props[MessageConst.TRANSACTION_ID] = uniq
    not_type = (msg.sys_flag & ~_TX_BITS) | SysFlag.TRANSACTION_NOT_TYPE
    return copy_message(
        msg,
        TRANS_HALF_TOPIC,
        HALF_QUEUE_ID,
        props,
        sys_flag=not_type,
        prepared_transaction_offset=0,
    )


def real_message(
    half: MessageRecord, delay_levels: int, timer_config: StoreConfig | None = None
) -> StoredMessage:
    """``EndTransactionProcessor#endMessageTransaction``: the committed message.

    REAL_TOPIC/REAL_QID restored and removed, TRAN_MSG removed, transaction bits COMMIT,
    PREPARED TRANSACTION OFFSET = the half message's commit-log offset. A DELAY level still
    applies (``CommitLog#putMessage`` schedules COMMIT messages like normal ones).
    """
    props = decode_properties(half.properties)
    topic = props.pop(MessageConst.REAL_TOPIC, half.topic)
    queue_id = int(props.pop(MessageConst.REAL_QUEUE_ID, "0"))
    props.pop(MessageConst.TRANSACTION_PREPARED, None)
    if delay_level_of(props) > 0:
        topic, queue_id = to_schedule(props, topic, queue_id, delay_levels)
    elif timer_config is not None:  # a 5.x timer message waits for its time after the commit
        try:
            topic, queue_id = to_timer(
                props, topic, queue_id, timer_config, int(time.time() * 1000)
            )
        except BrokerError as exc:  # refused timers were caught at send; deliver now
            log.warning("committed timer message delivered now: %s", exc.remark)
    commit = (half.sys_flag & ~_TX_BITS) | SysFlag.TRANSACTION_COMMIT_TYPE
    return copy_message(
        half,
        topic,
        queue_id,
        props,
        sys_flag=commit,
        prepared_transaction_offset=half.physical_offset,
    )


def renewed_half_message(half: MessageRecord, props: Mapping[str, str]) -> StoredMessage:
    """``renewHalfMessageInner``: a copy of a half message (same topic, queue, body and born
    fields) with ``props`` (the caller bumped TRANSACTION_CHECK_TIMES or added
    TRAN_PREPARED_QUEUE_OFFSET). It gets a new queue offset and commit-log offset."""
    return copy_message(half, half.topic, half.queue_id, dict(props), prepared_transaction_offset=0)


def immunity_half_message(half: MessageRecord, props: Mapping[str, str]) -> StoredMessage:
    """``renewImmunityHalfMessageInner``: a renewed copy remembering the original queue
    offset in TRAN_PREPARED_QUEUE_OFFSET (so an op record for it still matches)."""
    copy = dict(props)
    copy.setdefault(TRANSACTION_PREPARED_QUEUE_OFFSET, str(half.queue_offset))
    return renewed_half_message(half, copy)


def discarded_message(half: MessageRecord, props: Mapping[str, str]) -> StoredMessage:
    """``DefaultTransactionalMessageCheckListener#toMessageExtBrokerInner``: a half message
    checked too often, parked in TRANS_CHECK_MAX_TIME_TOPIC (admin tools can still see it)."""
    return copy_message(
        half, TRANS_CHECK_MAX_TIME_TOPIC, 0, dict(props), prepared_transaction_offset=0
    )


def op_message(half_queue_offset: int, queue_id: int, host: Address) -> StoredMessage:
    """``addRemoveTagInTransactionOp``: the op record saying a half offset is finished —
    tag ``d``, body the offset as decimal text (4.9: one offset per record)."""
    props = {
        MessageConst.TAGS: REMOVE_TAG,
        MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uuid.uuid4().hex.upper(),
    }
    return StoredMessage(
        topic=TRANS_OP_HALF_TOPIC,
        queue_id=queue_id,
        body=str(half_queue_offset).encode("ascii"),
        properties=encode_properties(props),
        props=props,
        sys_flag=0,
        born_timestamp=_now_ms(),
        born_host=host,
    )


def parse_op_body(body: bytes) -> list[int]:
    """Half offsets named by an op record: ``"42"`` (4.9) or ``"42,43,"`` (5.x batches);
    parts that are not numbers are skipped."""
    out = []
    for part in body.decode("ascii", "replace").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.append(int(part))
    return out


def check_request_body(
    half: MessageRecord, props: Mapping[str, str], appended: AppendResult, store_host: Address
) -> bytes:
    """The CHECK_TRANSACTION_STATE body (``MessageDecoder.encode``): the renewed half
    message as a stored record with topic/queue set back to REAL_TOPIC/REAL_QID, the new
    copy's queue and commit-log offsets, TOTALSIZE recomputed (remoting.md §11)."""
    real_topic = props.get(MessageConst.REAL_TOPIC, half.topic)
    try:
        real_queue = int(props.get(MessageConst.REAL_QUEUE_ID, str(half.queue_id)))
    except ValueError:
        real_queue = half.queue_id
    return encode_record(
        StoredMessage(
            topic=real_topic,
            queue_id=real_queue,
            body=half.body,
            properties=encode_properties(props),
            flag=half.flag,
            queue_offset=appended.queue_offset,
            physical_offset=appended.physical_offset,
            sys_flag=half.sys_flag,
            born_timestamp=half.born_timestamp,
            born_host=half.born_host,
            store_timestamp=appended.store_timestamp,
            store_host=store_host,
            reconsume_times=half.reconsume_times,
            prepared_transaction_offset=half.prepared_transaction_offset,
        )
    )


class ReadStatus(Enum):
    """``PullStatus`` of a read from a half or op queue (``TransactionalMessageBridge
    #getMessage``)."""

    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


_READ_STATUS = {
    GetMessageStatus.FOUND: ReadStatus.FOUND,
    GetMessageStatus.NO_MATCHED_MESSAGE: ReadStatus.NO_MATCHED_MSG,
    GetMessageStatus.NO_MESSAGE_IN_QUEUE: ReadStatus.NO_NEW_MSG,
    GetMessageStatus.OFFSET_OVERFLOW_ONE: ReadStatus.NO_NEW_MSG,
    # Java reports OFFSET_ILLEGAL here; a queue never written to simply has nothing new.
    GetMessageStatus.NO_MATCHED_LOGIC_QUEUE: ReadStatus.NO_NEW_MSG,
}


@dataclass(slots=True)
class QueueRead:
    """Decoded records from a half or op queue and where to read next."""

    status: ReadStatus
    next_begin_offset: int
    records: list[MessageRecord] = field(default_factory=list)


class TransactionalMessageBridge:
    """Reads and writes of the transaction code against the broker's store and offsets."""

    def __init__(
        self,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        consumer_offset_manager: ConsumerOffsetManager,
        registrar: Registrar,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.registrar = registrar
        self.stats = stats

    @property
    def store_host(self) -> Address:
        """The broker's address as stored in records (born host of op records)."""
        return self.store.store_host

    def ensure_topics(self) -> None:
        """Create the half and op topics (1 queue, RW) if missing (``selectTopicConfig``)."""
        tcm = self.topic_config_manager
        created = False
        for topic in (TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC):
            if tcm.select(topic) is None:
                tcm.create_in_send_back(topic, 1, PERM_READ | PERM_WRITE)
                created = True
        if created:
            self.registrar.request_register()

    def half_queue_ids(self) -> list[int]:
        """Queues of the half topic (``fetchMessageQueues``; normally just 0)."""
        config = self.topic_config_manager.select(TRANS_HALF_TOPIC)
        return list(range(config.read_queue_nums)) if config is not None else [HALF_QUEUE_ID]

    # -- writes -----------------------------------------------------------------------------

    async def put_half_message(self, msg: StoredMessage, wait_store: bool) -> PutMessageResult:
        """``putHalfMessage``: store a prepared message as a half message."""
        return await self.store.put_messages([to_half_message(msg)], wait_store=wait_store)

    async def put(self, msg: StoredMessage) -> PutMessageResult:
        """Store one message without waiting for flush (``WAIT=false`` in Java)."""
        return await self.store.put_messages([msg], wait_store=False)

    async def put_op_message(self, half: MessageRecord) -> bool:
        """``deletePrepareMessage``: mark a half message finished."""
        result = await self.put(op_message(half.queue_offset, half.queue_id, self.store_host))
        if not result.status.stored:
            log.error(
                "op record for half offset %d not stored: %s", half.queue_offset, result.status
            )
        return result.status.stored

    async def put_discarded(self, half: MessageRecord, props: Mapping[str, str]) -> bool:
        """``resolveDiscardMsg``: copy a given-up half message to TRANS_CHECK_MAX_TIME_TOPIC."""
        tcm = self.topic_config_manager
        if tcm.select(TRANS_CHECK_MAX_TIME_TOPIC) is None:
            tcm.create_in_send_back(
                TRANS_CHECK_MAX_TIME_TOPIC, CHECK_MAX_TIME_QUEUE_NUMS, PERM_READ | PERM_WRITE
            )
            self.registrar.request_register()
        result = await self.put(discarded_message(half, props))
        return result.status.stored

    # -- reads ------------------------------------------------------------------------------

    def look_message_by_offset(self, physical_offset: int) -> MessageRecord | None:
        """The record at a commit-log offset, if any."""
        return self.store.look_message_by_offset(physical_offset)

    def read(self, topic: str, queue_id: int, offset: int, max_nums: int) -> QueueRead:
        """Up to ``max_nums`` records of a half/op queue from ``offset`` (``getMessage``)."""
        got = self.store.get_message(TRANS_SYS_GROUP, topic, queue_id, offset, max_nums)
        status = _READ_STATUS.get(got.status, ReadStatus.OFFSET_ILLEGAL)
        records: list[MessageRecord] = []
        if self.stats is not None and got.buffers:  # getMessage's incGroupGet*/incBrokerGet
            size = sum(len(view) for view in got.buffers)
            self.stats.on_internal_get(TRANS_SYS_GROUP, topic, len(got.buffers), size)
        try:
            for view in got.buffers:
                try:
                    records.append(decode_record(view))
                except RecordFormatError as exc:
                    log.error("bad record in %s-%d: %s", topic, queue_id, exc)
        finally:
            got.release()
        if status is ReadStatus.FOUND and not records:
            status = ReadStatus.NO_MATCHED_MSG
        return QueueRead(status, got.next_begin_offset, records)

    # -- progress ---------------------------------------------------------------------------

    def fetch_offset(self, topic: str, queue_id: int) -> int:
        """``fetchConsumeOffset``: the committed progress, else the queue's min offset
        (which is then committed)."""
        com = self.consumer_offset_manager
        offset = com.query(TRANS_SYS_GROUP, topic, queue_id)
        if offset < 0:
            offset = self.store.get_min_offset_in_queue(topic, queue_id)
            com.commit(TRANS_SYS_GROUP, topic, queue_id, offset)
        return offset

    def update_offset(self, topic: str, queue_id: int, offset: int) -> None:
        """``updateConsumeOffset``: commit the progress (persisted with consumer offsets)."""
        self.consumer_offset_manager.commit(TRANS_SYS_GROUP, topic, queue_id, offset)
