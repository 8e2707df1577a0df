"""Result and record types of the admin API (``MessageQueue``, ``TopicOffset``,
``ConsumeStats``, ``SendResult``, ``DlqMessage``...), as RocketMQ's admin tools return them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from rocketq.common.message import MessageConst, SysFlag
from rocketq.store.format import MessageRecord, create_offset_msg_id

__all__ = [
    "ConsumeStats",
    "DlqMessage",
    "MessageQueue",
    "OffsetWrapper",
    "PullResult",
    "RollbackStats",
    "SendResult",
    "TopicOffset",
]

# Characters of a body shown by a listing; the rest is elided.
DLQ_BODY_PREVIEW_CHARS = 48
# Properties a re-sent DLQ message keeps although MessageConst names them: what the user set.
_RESEND_KEPT_SYSTEM_PROPERTIES = frozenset(
    {MessageConst.TAGS, MessageConst.KEYS, MessageConst.SHARDING_KEY, MessageConst.TRACE_SWITCH}
)
# RocketMQ's bookkeeping, dropped on re-send (RETRY_TOPIC, ORIGIN_MESSAGE_ID, REAL_TOPIC, REAL_QID,
# DELAY, WAIT, CLUSTER, UNIQ_KEY, MIN/MAX_OFFSET, CONSUME_START_TIME, DELAY_SRC, TRAN_*, TIMER_*
# ...): every MessageConst value but the kept ones, plus 5.x names rocketq does not define
# (MessageConst.STRING_HASH_SET).
_RESEND_DROPPED_PROPERTIES = frozenset(
    v
    for k, v in vars(MessageConst).items()
    if k.isupper() and isinstance(v, str) and v != MessageConst.KEY_SEPARATOR
) - _RESEND_KEPT_SYSTEM_PROPERTIES | frozenset(
    {
        "__STARTDELIVERTIME",
        "INNER_MULTI_DISPATCH",
        "INNER_MULTI_QUEUE_OFFSET",
        "INNER_NUM",
        "INNER_BASE",
        "POP_CK",
        "POP_CK_OFFSET",
        "1ST_POP_TIME",
        "bname",
        "TIMER_OUT_MS",
        "TIMER_ENQUEUE_MS",
        "TIMER_DEQUEUE_MS",
        "TIMER_ROLL_TIMES",
        "TIMER_DEL_UNIQKEY",
        "MSG_TYPE",
        "TRANSFER_FLAG",
        "CORRECTION_FLAG",
        "MQ2_FLAG",
        "CORRELATION_ID",
        "REPLY_TO_CLIENT",
        "TTL",
        "ARRIVE_TIME",
    }
)


@dataclass(frozen=True, order=True, slots=True)
class MessageQueue:
    """A queue of a topic on a broker group; sorts like Java's (topic, broker, queue)."""

    topic: str
    broker_name: str
    queue_id: int

    def to_obj(self) -> dict[str, Any]:
        """The JSON object of ``MessageQueue``."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> MessageQueue:
        """Read a MessageQueue JSON object (or an object key)."""
        return cls(str(obj["topic"]), str(obj["brokerName"]), int(obj["queueId"]))


@dataclass(frozen=True, slots=True)
class TopicOffset:
    """One queue of TopicStatsTable."""

    min_offset: int
    max_offset: int
    last_update_timestamp: int


@dataclass(frozen=True, slots=True)
class OffsetWrapper:
    """One queue of ConsumeStats."""

    broker_offset: int
    consumer_offset: int
    last_timestamp: int = 0


@dataclass(slots=True)
class ConsumeStats:
    """A group's progress per queue, and its consume TPS."""

    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def diff_total(self) -> int:
        """Messages not consumed yet, over every queue (``computeTotalDiff``)."""
        return sum(w.broker_offset - w.consumer_offset for w in self.offset_table.values())


@dataclass(frozen=True, slots=True)
class RollbackStats:
    """One queue of a reset done with UPDATE_CONSUMER_OFFSET (``RollbackStats``)."""

    mq: MessageQueue
    broker_offset: int
    consumer_offset: int
    timestamp_offset: int
    rollback_offset: int


@dataclass(frozen=True, slots=True)
class PullResult:
    """A pull's response code, next offset, queue bounds and the messages found."""

    code: int
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageRecord]


@dataclass(frozen=True, slots=True)
class SendResult:
    """Where a sent message went (``SendResult``)."""

    status: str
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int


@dataclass(frozen=True, slots=True)
class DlqMessage:
    """A message of a dead-letter queue ``%DLQ%group``, as ``dlqList`` shows it."""

    msg_id: str  # UNIQ_KEY, else the offset msgId
    origin_topic: str | None  # RETRY_TOPIC: the topic the message was first sent to
    mq: MessageQueue  # where it is in the DLQ
    queue_offset: int
    tags: str | None
    keys: str | None
    reconsume_times: int
    store_timestamp: int
    flag: int
    body: bytes  # inflated when stored compressed
    properties: dict[str, str] = field(hash=False)

    @classmethod
    def from_record(cls, record: MessageRecord, broker_name: str) -> DlqMessage:
        """Read a pulled DLQ record."""
        props = record.properties_map()
        body = record.body
        if record.sys_flag & SysFlag.COMPRESSED:
            body = zlib.decompress(body)
        return cls(
            msg_id=props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
            or create_offset_msg_id(record.store_host, record.physical_offset),
            origin_topic=props.get(MessageConst.RETRY_TOPIC),
            mq=MessageQueue(record.topic, broker_name, record.queue_id),
            queue_offset=record.queue_offset,
            tags=props.get(MessageConst.TAGS),
            keys=props.get(MessageConst.KEYS),
            reconsume_times=record.reconsume_times,
            store_timestamp=record.store_timestamp,
            flag=record.flag,
            body=body,
            properties=props,
        )

    def user_properties(self) -> dict[str, str]:
        """The properties a re-send keeps, without TAGS and KEYS (sent as fields)."""
        return {
            k: v
            for k, v in self.properties.items()
            if k not in _RESEND_DROPPED_PROPERTIES
            and k not in (MessageConst.TAGS, MessageConst.KEYS)
        }

    def body_preview(self, chars: int = DLQ_BODY_PREVIEW_CHARS) -> str:
        """The body as text on one line, cut to ``chars`` characters."""
        text = self.body.decode("utf-8", "replace")
        shown = "".join(c if c.isprintable() else "." for c in text[:chars])
        return shown + ("..." if len(text) > chars else "")
