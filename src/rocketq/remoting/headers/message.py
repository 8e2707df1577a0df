"""Headers of message sending (RocketMQ ``SendMessageRequestHeader`` V1 and V2)."""

from __future__ import annotations

from dataclasses import dataclass

from rocketq.remoting.headers.base import CommandHeader, wire

__all__ = [
    "SendMessageRequestHeader",
    "SendMessageRequestHeaderV2",
    "SendMessageResponseHeader",
]


@dataclass(frozen=True, slots=True)
class SendMessageRequestHeader(CommandHeader):
    """SEND_MESSAGE (10) with full field names; what the C++ client sends."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool = False
    batch: bool = False
    max_reconsume_times: int | None = None
    broker_name: str | None = None


@dataclass(frozen=True, slots=True)
class SendMessageRequestHeaderV2(CommandHeader):
    """SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320): the same fields under one letter."""

    producer_group: str = wire("a")
    topic: str = wire("b")
    default_topic: str = wire("c")
    default_topic_queue_nums: int = wire("d")
    queue_id: int = wire("e")
    sys_flag: int = wire("f")
    born_timestamp: int = wire("g")
    flag: int = wire("h")
    properties: str | None = wire("i", None)
    reconsume_times: int | None = wire("j", None)
    unit_mode: bool = wire("k", False)
    max_reconsume_times: int | None = wire("l", None)
    batch: bool = wire("m", False)
    broker_name: str | None = wire("n", None)

    def to_v1(self) -> SendMessageRequestHeader:
        """The V1 header with the same values (``createSendMessageRequestHeaderV1``)."""
        return SendMessageRequestHeader(
            producer_group=self.producer_group,
            topic=self.topic,
            default_topic=self.default_topic,
            default_topic_queue_nums=self.default_topic_queue_nums,
            queue_id=self.queue_id,
            sys_flag=self.sys_flag,
            born_timestamp=self.born_timestamp,
            flag=self.flag,
            properties=self.properties,
            reconsume_times=self.reconsume_times,
            unit_mode=self.unit_mode,
            batch=self.batch,
            max_reconsume_times=self.max_reconsume_times,
            broker_name=self.broker_name,
        )


@dataclass(frozen=True, slots=True)
class SendMessageResponseHeader(CommandHeader):
    """SEND_MESSAGE* response: offset msgId, queue and queue offset (all sent as strings)."""

    msg_id: str
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None
    batch_uniq_id: str | None = None
