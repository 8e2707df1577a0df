"""The message model shared by every role: property keys, sysFlag bits, properties text
and the batch body (RocketMQ ``MessageConst``, ``MessageSysFlag``, ``MessageDecoder``)."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from rocketq.common import speedups

__all__ = [
    "NAME_VALUE_SEPARATOR",
    "PROPERTY_SEPARATOR",
    "BatchEntry",
    "MessageConst",
    "SysFlag",
    "decode_batch",
    "decode_properties",
    "encode_batch",
    "encode_properties",
]

# MessageDecoder.NAME_VALUE_SEPARATOR / PROPERTY_SEPARATOR.
NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"


class MessageConst:
    """Well-known property names (``MessageConst``)."""

    KEYS = "KEYS"
    TAGS = "TAGS"
    WAIT_STORE_MSG_OK = "WAIT"
    DELAY_TIME_LEVEL = "DELAY"
    RETRY_TOPIC = "RETRY_TOPIC"
    REAL_TOPIC = "REAL_TOPIC"
    REAL_QUEUE_ID = "REAL_QID"
    TRANSACTION_PREPARED = "TRAN_MSG"
    PRODUCER_GROUP = "PGROUP"
    MIN_OFFSET = "MIN_OFFSET"
    MAX_OFFSET = "MAX_OFFSET"
    ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID"
    RECONSUME_TIME = "RECONSUME_TIME"
    MAX_RECONSUME_TIMES = "MAX_RECONSUME_TIMES"
    UNIQ_CLIENT_MESSAGE_ID_KEYIDX = "UNIQ_KEY"
    CONSUME_START_TIMESTAMP = "CONSUME_START_TIME"
    TRANSACTION_ID = "__transactionId__"
    TRANSACTION_CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
    CHECK_IMMUNITY_TIME_IN_SECONDS = "CHECK_IMMUNITY_TIME_IN_SECONDS"
    TRANSACTION_PREPARED_QUEUE_OFFSET = "TRAN_PREPARED_QUEUE_OFFSET"
    CLUSTER = "CLUSTER"
    MSG_REGION = "MSG_REGION"
    TRACE_SWITCH = "TRACE_ON"
    # Request-reply (4.6+): the request's correlation id, the requester's client id, its
    # timeout (ms), when the reply arrived / was pushed, and MSG_TYPE=reply on replies.
    CORRELATION_ID = "CORRELATION_ID"
    MESSAGE_REPLY_TO_CLIENT = "REPLY_TO_CLIENT"
    MESSAGE_TTL = "TTL"
    REPLY_MESSAGE_ARRIVE_TIME = "ARRIVE_TIME"
    PUSH_REPLY_TIME = "PUSH_REPLY_TIME"
    MESSAGE_TYPE = "MSG_TYPE"
    SHARDING_KEY = "__SHARDINGKEY"
    TIMER_DELIVER_MS = "TIMER_DELIVER_MS"
    TIMER_DELAY_SEC = "TIMER_DELAY_SEC"
    TIMER_DELAY_MS = "TIMER_DELAY_MS"
    TIMER_OUT_MS = "TIMER_OUT_MS"
    TIMER_ENQUEUE_MS = "TIMER_ENQUEUE_MS"
    TIMER_DEQUEUE_MS = "TIMER_DEQUEUE_MS"
    TIMER_ROLL_TIMES = "TIMER_ROLL_TIMES"
    TIMER_DEL_UNIQKEY = "TIMER_DEL_UNIQKEY"
    TIMER_DELAY_LEVEL = "TIMER_DELAY_LEVEL"
    # rocketq: on a timer message's delivered (or rolled) copy, the timer-log position of
    # the unit it came from.
    TIMER_SOURCE = "TIMER_SRC"
    # rocketq: on a delayed message's delivered copy, "level:offset" of its schedule entry.
    DELAY_SOURCE = "DELAY_SRC"
    KEY_SEPARATOR = " "


class SysFlag:
    """Message sysFlag bits (``MessageSysFlag``)."""

    COMPRESSED = 0x1
    MULTI_TAGS = 0x2
    TRANSACTION_NOT_TYPE = 0x0
    TRANSACTION_PREPARED_TYPE = 0x4
    TRANSACTION_COMMIT_TYPE = 0x8
    TRANSACTION_ROLLBACK_TYPE = 0xC
    TRANSACTION_MASK = 0xC
    BORNHOST_V6 = 0x10
    STOREHOST_V6 = 0x20


@speedups.twin
def encode_properties(props: Mapping[str, str | None], trailing_separator: bool = False) -> str:
    """``MessageDecoder#messageProperties2String``; ``None`` values are skipped like Java.

    Java 4.9 drops the last 0x02, and so do we by default: ali-ons reads a trailing 0x02 as
    an extra empty property. C++, ali-ons and 5.3 write it (``trailing_separator=True``).
    A value may hold 0x01 (Java writes it, and reads everything after a pair's first 0x01
    back as the value); a name holding 0x01 or 0x02, or a value holding 0x02, would not
    read back and raises ``ValueError``.
    """
    parts = []
    for name, value in props.items():
        if value is None:
            continue
        if NAME_VALUE_SEPARATOR in name or PROPERTY_SEPARATOR in name:
            raise ValueError(f"property name may not hold 0x01/0x02: {name!r}")
        if PROPERTY_SEPARATOR in value:
            raise ValueError(f"property value may not hold 0x02: {value!r}")
        parts.append(f"{name}{NAME_VALUE_SEPARATOR}{value}{PROPERTY_SEPARATOR}")
    text = "".join(parts)
    return text if trailing_separator else text[:-1]


@speedups.twin
def decode_properties(text: str) -> dict[str, str]:
    """``MessageDecoder#string2messageProperties``: with or without a trailing 0x02.

    A pair is kept only if its segment has >= 3 chars and a 0x01 that is neither first nor
    last, so empty names and empty values are dropped, as in Java.
    """
    out: dict[str, str] = {}
    for segment in text.split(PROPERTY_SEPARATOR):
        if len(segment) < 3:
            continue
        cut = segment.find(NAME_VALUE_SEPARATOR)
        if 0 < cut < len(segment) - 1:
            out[segment[:cut]] = segment[cut + 1 :]
    return out


_BATCH_HEAD = struct.Struct(">iiiii")  # total, magic, body crc, flag, body length
_SHORT = struct.Struct(">h")


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One message of a batch body: flag, body and properties text."""

    flag: int
    body: bytes
    properties: str


def encode_batch(entries: list[BatchEntry]) -> bytes:
    """``MessageDecoder#encodeMessages``: the SEND_BATCH_MESSAGE body."""
    out = bytearray()
    for e in entries:
        props = e.properties.encode()
        total = _BATCH_HEAD.size + len(e.body) + 2 + len(props)
        out += _BATCH_HEAD.pack(total, 0, 0, e.flag, len(e.body))
        out += e.body
        out += _SHORT.pack(len(props))
        out += props
    return bytes(out)


def decode_batch(data: bytes) -> list[BatchEntry]:
    """``MessageDecoder#decodeMessages``; raises ValueError on a malformed body."""
    out: list[BatchEntry] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < _BATCH_HEAD.size + 2:
            raise ValueError(f"batch body truncated at byte {pos}")
        total, _magic, _crc, flag, body_len = _BATCH_HEAD.unpack_from(data, pos)
        body_at = pos + _BATCH_HEAD.size
        if body_len < 0 or body_at + body_len + 2 > end:
            raise ValueError(f"batch message at byte {pos} has a bad body length {body_len}")
        body = data[body_at : body_at + body_len]
        (props_len,) = _SHORT.unpack_from(data, body_at + body_len)
        props_at = body_at + body_len + 2
        if props_len < 0 or props_at + props_len > end:
            raise ValueError(f"batch message at byte {pos} has a bad properties length")
        props = data[props_at : props_at + props_len].decode("utf-8", "replace")
        out.append(BatchEntry(flag, body, props))
        next_pos = props_at + props_len
        if total != next_pos - pos:
            raise ValueError(
                f"batch message at byte {pos} says {total} bytes, holds {next_pos - pos}"
            )
        pos = next_pos
    return out
