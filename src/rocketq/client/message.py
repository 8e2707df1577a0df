"""What users send and receive: ``Message``, ``MessageExt``, ``MessageQueue``, results.

Mirrors RocketMQ's ``Message``/``MessageExt``/``MessageQueue``/``SendResult``/``PullResult``.
``MessageExt`` is built from a stored record (the pull body); its ``msg_id`` is the
UNIQ_KEY when the producer set one, else the offset id, as the Java and C++ clients do.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import Enum

from rocketq.common.ids import UniqIdGenerator
from rocketq.common.message import MessageConst, SysFlag, decode_properties
from rocketq.common.record import MessageRecord, create_offset_msg_id
from rocketq.remoting.send_codec import slotted_instance

__all__ = [
    "Message",
    "MessageExt",
    "MessageQueue",
    "PullResult",
    "PullStatus",
    "SendResult",
    "SendStatus",
    "UniqIdGenerator",
    "new_send_result",
]


@dataclass(frozen=True, slots=True, order=True)
class MessageQueue:
    """One queue of a topic on one broker; sorts by (topic, broker, queue id) as Java does."""

    topic: str
    broker_name: str
    queue_id: int

    def to_obj(self) -> dict[str, object]:
        """fastjson's shape."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    def from_obj(cls, obj: dict[str, object]) -> MessageQueue:
        """Read leniently (the C++ client sends queueId as a number)."""
        return cls(
            str(obj.get("topic", "")),
            str(obj.get("brokerName", "")),
            int(str(obj.get("queueId", 0))),
        )


@dataclass(slots=True)
class Message:
    """A message to send: topic, body, tags, keys, user properties, delay."""

    topic: str
    body: bytes = b""
    tags: str | None = None
    keys: str | list[str] | None = None
    properties: dict[str, str] = field(default_factory=dict)
    delay_time_level: int = 0
    flag: int = 0
    # RocketMQ 5 arbitrary delivery time, epoch ms (property TIMER_DELIVER_MS).
    deliver_time_ms: int | None = None
    wait_store_msg_ok: bool = True

    def all_properties(self) -> dict[str, str]:
        """User properties plus the system ones the fields stand for."""
        props = dict(self.properties)
        if self.tags:
            props[MessageConst.TAGS] = self.tags
        if self.keys:
            keys = (
                self.keys
                if isinstance(self.keys, str)
                else MessageConst.KEY_SEPARATOR.join(self.keys)
            )
            props[MessageConst.KEYS] = keys
        if self.delay_time_level > 0:
            props[MessageConst.DELAY_TIME_LEVEL] = str(self.delay_time_level)
        if self.deliver_time_ms is not None:
            props[MessageConst.TIMER_DELIVER_MS] = str(self.deliver_time_ms)
        if not self.wait_store_msg_ok:
            props[MessageConst.WAIT_STORE_MSG_OK] = "false"
        return props


@dataclass(slots=True)
class MessageExt:
    """A received message with everything the broker stored about it."""

    topic: str
    body: bytes
    properties: dict[str, str]
    msg_id: str
    offset_msg_id: str
    queue_id: int
    queue_offset: int
    commit_log_offset: int
    born_timestamp: int
    born_host: tuple[str, int]
    store_timestamp: int
    store_host: tuple[str, int]
    reconsume_times: int
    sys_flag: int
    flag: int
    body_crc: int
    prepared_transaction_offset: int = 0
    broker_name: str = ""

    @property
    def tags(self) -> str | None:
        """The TAGS property."""
        return self.properties.get(MessageConst.TAGS)

    @property
    def keys(self) -> str | None:
        """The KEYS property (space separated)."""
        return self.properties.get(MessageConst.KEYS)

    @property
    def user_properties(self) -> dict[str, str]:
        """Properties without RocketMQ's own keys."""
        return {k: v for k, v in self.properties.items() if k not in _SYSTEM_KEYS}

    @classmethod
    def from_record(cls, record: MessageRecord, broker_name: str = "") -> MessageExt:
        """Decode a stored record; a compressed body is inflated (sysFlag bit 0)."""
        props = decode_properties(record.properties)
        body = record.body
        if record.sys_flag & SysFlag.COMPRESSED:
            body = zlib.decompress(body)
        offset_id = create_offset_msg_id(record.store_host, record.physical_offset)
        # Positional: one MessageExt per pulled message, keywords cost a third more.
        return cls(
            record.topic,
            body,
            props,
            props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, offset_id),  # msg_id
            offset_id,
            record.queue_id,
            record.queue_offset,
            record.physical_offset,  # commit_log_offset
            record.born_timestamp,
            record.born_host,
            record.store_timestamp,
            record.store_host,
            record.reconsume_times,
            record.sys_flag,
            record.flag,
            record.body_crc,
            record.prepared_transaction_offset,
            broker_name,
        )


_SYSTEM_KEYS = frozenset(
    v for k, v in vars(MessageConst).items() if k.isupper() and isinstance(v, str) and v != " "
)


class SendStatus(Enum):
    """Outcome of a send that reached the store (``SendStatus``)."""

    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"


@dataclass(frozen=True, slots=True)
class SendResult:
    """Where a message went: ``msg_id`` (UNIQ_KEY), ``offset_msg_id``, queue and offset."""

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int
    transaction_id: str | None = None
    region_id: str = "DefaultRegion"
    # The broker's TRACE_ON answer (traceOn): false asks clients not to trace this send.
    trace_on: bool = True


def new_send_result(
    status: SendStatus,
    msg_id: str,
    offset_msg_id: str,
    message_queue: MessageQueue,
    queue_offset: int,
    transaction_id: str | None,
    region_id: str,
    trace_on: bool,
) -> SendResult:
    """``SendResult(...)`` with every field given, its slots filled in one call without the
    frozen dataclass's ``object.__setattr__`` per field (one is built per send)."""
    values = (status, msg_id, offset_msg_id, message_queue, queue_offset, transaction_id,
              region_id, trace_on)  # fmt: skip
    return slotted_instance(SendResult, values)


class PullStatus(Enum):
    """Outcome of a pull (``PullStatus``)."""

    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


@dataclass(slots=True)
class PullResult:
    """Messages pulled from one queue and where to continue."""

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageExt] = field(default_factory=list)
    suggest_which_broker_id: int = 0
