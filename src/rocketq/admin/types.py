"""Result types of the admin API (``TopicOffset``, ``ConsumeStats``, ``RollbackStats``,
``DlqMessage``), as RocketMQ's admin tools return them. Queues, messages, send and pull
results are the client's (:mod:`rocketq.client.message`), as ``MQAdminExt`` uses the client's."""

from __future__ import annotations

from dataclasses import dataclass, field

from rocketq.client.message import MessageExt, MessageQueue
from rocketq.common.message import MessageConst

__all__ = [
    "ConsumeStats",
    "DlqMessage",
    "OffsetWrapper",
    "RollbackStats",
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
class DlqMessage:
    """A message of a dead-letter queue ``%DLQ%group``, as ``dlqList`` shows it: the pulled
    client ``MessageExt`` (body inflated) and the DLQ queue it is in."""

    message: MessageExt = field(hash=False)
    mq: MessageQueue  # where it is in the DLQ

    @property
    def msg_id(self) -> str:
        """UNIQ_KEY, else the offset msgId."""
        return self.message.msg_id

    @property
    def origin_topic(self) -> str | None:
        """RETRY_TOPIC: the topic the message was first sent to."""
        return self.message.properties.get(MessageConst.RETRY_TOPIC)

    @property
    def queue_offset(self) -> int:
        """Its offset in the DLQ queue."""
        return self.message.queue_offset

    @property
    def tags(self) -> str | None:
        """The TAGS property."""
        return self.message.tags

    @property
    def keys(self) -> str | None:
        """The KEYS property."""
        return self.message.keys

    @property
    def reconsume_times(self) -> int:
        """Deliveries that failed before it went to the DLQ."""
        return self.message.reconsume_times

    @property
    def store_timestamp(self) -> int:
        """When the DLQ stored it (ms)."""
        return self.message.store_timestamp

    @property
    def flag(self) -> int:
        """The message's flag."""
        return self.message.flag

    @property
    def body(self) -> bytes:
        """The body (inflated when it was stored compressed)."""
        return self.message.body

    @property
    def properties(self) -> dict[str, str]:
        """Every property, RocketMQ's bookkeeping included."""
        return self.message.properties

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
