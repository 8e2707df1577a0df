"""What POP consumption writes and hands out, in RocketMQ 5's shapes: receipt handles
(``ExtraInfoUtil``), checkpoints (``PopCheckPoint``, tag ``ck``) and acks (``AckMsg`` tag
``ack``, ``BatchAckMsg`` tag ``bAck``) as JSON bodies of messages in the revive topic
``rmq_sys_REVIVE_LOG_<cluster>``, and the names of the revive and pop retry topics
(``PopAckConstants``, ``KeyBuilder``). Pure values and functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.record import Address, StoredMessage
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX, SYSTEM_TOPIC_PREFIX

__all__ = [
    "ACK_TAG",
    "BATCH_ACK_TAG",
    "CK_TAG",
    "NORMAL_TOPIC_TYPE",
    "RETRY_TOPIC_TYPE",
    "REVIVE_GROUP",
    "AckRecord",
    "CheckPoint",
    "ReceiptHandle",
    "is_pop_retry_topic",
    "pop_retry_topic",
    "revive_record",
    "revive_topic",
]

# PopAckConstants: the revive topic of a cluster, the group whose offsets on it are the
# revive progress, and the tags of its records.
REVIVE_TOPIC_PREFIX = SYSTEM_TOPIC_PREFIX + "REVIVE_LOG_"
REVIVE_GROUP = "CID_RMQ_SYS_REVIVE_GROUP"
CK_TAG = "ck"
ACK_TAG = "ack"
BATCH_ACK_TAG = "bAck"
_SPLIT = "@"
# ExtraInfoUtil's topic types: the handle of a message read from the group's pop retry
# topic says "1" (V1 name, RocketMQ's default) so an ack finds the retry topic again.
NORMAL_TOPIC_TYPE = "0"
RETRY_TOPIC_TYPE = "1"
RETRY_TOPIC_V2_TYPE = "2"
# KeyBuilder: %RETRY%<group>_<topic> (V1; enableRetryTopicV2=false is RocketMQ's default).
_RETRY_SEPARATOR_V1 = "_"
_RETRY_SEPARATOR_V2 = "+"
# Fields of a receipt handle: ExtraInfoUtil's eight plus the commit-log offset (5.x).
_HANDLE_FIELDS = 9


def revive_topic(cluster: str) -> str:
    """``PopAckConstants.buildClusterReviveTopic``."""
    return REVIVE_TOPIC_PREFIX + cluster


def pop_retry_topic(topic: str, group: str) -> str:
    """``KeyBuilder.buildPopRetryTopicV1``: where un-acked messages of ``group`` on
    ``topic`` are revived."""
    return RETRY_GROUP_TOPIC_PREFIX + group + _RETRY_SEPARATOR_V1 + topic


def is_pop_retry_topic(topic: str, group: str) -> bool:
    """True for the group's pop retry topic of some topic (V1 or V2 name)."""
    stem = RETRY_GROUP_TOPIC_PREFIX + group
    return topic.startswith((stem + _RETRY_SEPARATOR_V1, stem + _RETRY_SEPARATOR_V2))


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    """What a receipt handle says, in RocketMQ 5's ``ExtraInfoUtil`` layout (space
    separated): the checkpoint it belongs to (``start_offset``, ``retrieve_time`` = its pop
    time, ``revive_queue_id``) and the message (queue, offset, commit-log offset)."""

    start_offset: int
    retrieve_time: int
    invisible_ms: int
    revive_queue_id: int
    topic_type: str
    broker_name: str
    queue_id: int
    offset: int
    commit_log_offset: int

    def encode(self) -> str:
        """The handle as sent to the client."""
        return " ".join(
            str(v)
            for v in (
                self.start_offset,
                self.retrieve_time,
                self.invisible_ms,
                self.revive_queue_id,
                self.topic_type,
                self.broker_name,
                self.queue_id,
                self.offset,
                self.commit_log_offset,
            )
        )

    @classmethod
    def decode(cls, text: str) -> ReceiptHandle:
        """Parse a handle; ``ValueError`` when it is not one of ours."""
        parts = text.split(" ")
        if len(parts) != _HANDLE_FIELDS:
            raise ValueError(f"receipt handle has {len(parts)} fields, not {_HANDLE_FIELDS}")
        start, retrieve, invisible, revive = (int(p) for p in parts[:4])
        queue_id, offset, phys = (int(p) for p in parts[6:])
        return cls(start, retrieve, invisible, revive, parts[4], parts[5], queue_id, offset, phys)

    def real_topic(self, topic: str, group: str) -> str:
        """``ExtraInfoUtil.getRealTopic``: the topic the message was read from."""
        if self.topic_type == RETRY_TOPIC_TYPE:
            return pop_retry_topic(topic, group)
        if self.topic_type == RETRY_TOPIC_V2_TYPE:
            return RETRY_GROUP_TOPIC_PREFIX + group + _RETRY_SEPARATOR_V2 + topic
        return topic


# (topic, group, queue id, start offset, pop time, broker name): what ties acks to their
# checkpoint (PopReviveService's merge key).
CkKey = tuple[str, str, int, int, int, str]


@dataclass(frozen=True, slots=True)
class CheckPoint:
    """``PopCheckPoint``: ``num`` messages of one queue handed out at ``pop_time``, at
    ``start_offset + diff`` for each diff, invisible until ``pop_time + invisible_ms``."""

    start_offset: int
    pop_time: int
    invisible_ms: int
    queue_id: int
    topic: str
    group: str
    broker_name: str
    diffs: tuple[int, ...]
    re_put_times: int = 0

    @property
    def revive_time(self) -> int:
        """When the un-acked ones are handed out again (``getReviveTime``)."""
        return self.pop_time + self.invisible_ms

    @property
    def key(self) -> CkKey:
        """The merge key acks are matched by."""
        return (
            self.topic,
            self.group,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            self.broker_name,
        )

    def offsets(self) -> list[int]:
        """Queue offsets of its messages, in bit order."""
        return [self.start_offset + d for d in self.diffs]

    def index_of(self, offset: int) -> int:
        """The bit of ``offset`` (``indexOfAck``), -1 when it is not one of them."""
        try:
            return self.diffs.index(offset - self.start_offset)
        except ValueError:
            return -1

    def to_json(self) -> bytes:
        """The body of its ``ck`` record (fastjson's short names)."""
        obj: dict[str, Any] = {
            "bm": 0,
            "bn": self.broker_name,
            "c": self.group,
            "d": list(self.diffs),
            "it": self.invisible_ms,
            "n": len(self.diffs),
            "pt": self.pop_time,
            "q": self.queue_id,
            "rp": str(self.re_put_times) if self.re_put_times else None,
            "so": self.start_offset,
            "t": self.topic,
        }
        return orjson.dumps({k: v for k, v in obj.items() if v is not None})

    @classmethod
    def from_json(cls, body: bytes) -> CheckPoint:
        """Read a ``ck`` body (ValueError/KeyError/TypeError when it is not one)."""
        obj = orjson.loads(body)
        diffs = tuple(int(d) for d in obj.get("d") or range(int(obj.get("n", 0))))
        return cls(
            start_offset=int(obj["so"]),
            pop_time=int(obj["pt"]),
            invisible_ms=int(obj["it"]),
            queue_id=int(obj["q"]),
            topic=str(obj["t"]),
            group=str(obj["c"]),
            broker_name=str(obj.get("bn") or ""),
            diffs=diffs,
            re_put_times=int(obj.get("rp") or 0),
        )


@dataclass(frozen=True, slots=True)
class AckRecord:
    """``AckMsg`` (one offset) or ``BatchAckMsg`` (several): these messages of the
    checkpoint ``key`` are done with."""

    topic: str
    group: str
    queue_id: int
    start_offset: int
    pop_time: int
    broker_name: str
    offsets: tuple[int, ...] = field(default=())

    @property
    def key(self) -> CkKey:
        """The merge key of its checkpoint."""
        return (
            self.topic,
            self.group,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            self.broker_name,
        )

    @property
    def tag(self) -> str:
        """``ack`` for one offset, ``bAck`` for several."""
        return ACK_TAG if len(self.offsets) == 1 else BATCH_ACK_TAG

    def to_json(self) -> bytes:
        """The body of its record."""
        obj: dict[str, Any] = {
            "bn": self.broker_name,
            "c": self.group,
            "pt": self.pop_time,
            "q": self.queue_id,
            "so": self.start_offset,
            "t": self.topic,
        }
        if len(self.offsets) == 1:
            obj["ao"] = self.offsets[0]
        else:
            obj["aol"] = list(self.offsets)
        return orjson.dumps(obj)

    @classmethod
    def from_json(cls, body: bytes) -> AckRecord:
        """Read an ``ack`` or ``bAck`` body."""
        obj = orjson.loads(body)
        offsets = (int(obj["ao"]),) if "ao" in obj else tuple(int(o) for o in obj["aol"])
        return cls(
            topic=str(obj["t"]),
            group=str(obj["c"]),
            queue_id=int(obj["q"]),
            start_offset=int(obj["so"]),
            pop_time=int(obj["pt"]),
            broker_name=str(obj.get("bn") or ""),
            offsets=offsets,
        )


def _unique_id(key: CkKey, offset: int, tag: str) -> str:
    # genCkUniqueId / genAckUniqueId: topic@queue@offset@group@popTime@broker@tag.
    topic, group, queue_id, _start, pop_time, broker = key
    return _SPLIT.join((topic, str(queue_id), str(offset), group, str(pop_time), broker, tag))


def revive_record(
    record: CheckPoint | AckRecord, topic: str, queue_id: int, host: Address, now: int
) -> StoredMessage:
    """The revive-topic message of a checkpoint or an ack (``buildCkMsg``/``buildAckMsg``):
    JSON body, the tag, an UNIQ_KEY naming it, ``TIMER_DELIVER_MS`` = when it matters."""
    if isinstance(record, CheckPoint):
        tag, offset, deliver = CK_TAG, record.start_offset, record.revive_time
    else:
        tag, offset, deliver = record.tag, record.offsets[0], record.pop_time
    props = {
        MessageConst.TAGS: tag,
        MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: _unique_id(record.key, offset, tag),
        # Informational here: rocketq puts revive records straight into the revive queue
        # and keeps the pending checkpoints in memory (see PopService), not in the timer.
        MessageConst.TIMER_DELIVER_MS: str(deliver),
    }
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=record.to_json(),
        properties=encode_properties(props),
        props=props,
        born_timestamp=now,
        born_host=host,
    )
