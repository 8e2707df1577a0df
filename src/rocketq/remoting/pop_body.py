"""JSON bodies of RocketMQ 5's POP and server-side load balancing requests (5.3.1,
``org.apache.rocketmq.remoting.protocol.body``):

* BATCH_ACK_MESSAGE (200151): ``BatchAckMessageRequestBody`` = ``brokerName`` and a list of
  ``BatchAck``, each the acked messages of one checkpoint as a bit set over
  ``startOffset`` (bit ``i`` = queue offset ``startOffset + i``).
* QUERY_ASSIGNMENT (400): ``QueryAssignmentRequestBody`` ->
  ``QueryAssignmentResponseBody`` (``messageQueueAssignments``: queue + request mode).
* SET_MESSAGE_REQUEST_MODE (401): ``SetMessageRequestModeRequestBody``;
  GET_ALL_MESSAGE_REQUEST_MODE (402) answers ``MessageRequestModeSerializeWrapper``.

``BatchAck`` uses fastjson's short names (``c``, ``t``, ``r``, ``so``, ``q``, ``rq``, ``pt``,
``it``, ``b``) and accepts the long ones (its ``alternateNames``). Its bit set is Java's
``BitSet.toByteArray()`` (little-endian: bit ``i`` is bit ``i % 8`` of byte ``i // 8``,
trailing zero bytes dropped) written as fastjson writes a ``byte[]``: a base64 string.
Enums are written by name and read by name or ordinal, as fastjson does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rocketq.common.errors import ProtocolError
from rocketq.remoting import fastjson

__all__ = [
    "BROADCASTING",
    "CLUSTERING",
    "POP",
    "PULL",
    "BatchAck",
    "BatchAckMessageRequestBody",
    "MessageQueueAssignment",
    "MessageRequestModeSerializeWrapper",
    "QueryAssignmentRequestBody",
    "QueryAssignmentResponseBody",
    "SetMessageRequestModeRequestBody",
    "bitset_from_bytes",
    "bitset_to_bytes",
    "decode_object",
]

# MessageRequestMode, in ordinal order (fastjson reads an enum by name or ordinal).
PULL = "PULL"
POP = "POP"
REQUEST_MODES = (PULL, POP)
# MessageModel, in ordinal order.
BROADCASTING = "BROADCASTING"
CLUSTERING = "CLUSTERING"
MESSAGE_MODELS = (BROADCASTING, CLUSTERING)


def decode_object(data: bytes | None, what: str) -> dict[str, Any]:
    """The JSON object of a body; ``ProtocolError`` when it is none."""
    obj = fastjson.loads(data or b"{}")  # ProtocolError when it is no JSON
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} body is not a JSON object")
    return obj


def _enum(value: Any, names: Sequence[str], default: str) -> str:
    if value is None:
        return default
    text = str(value)
    if text in names:
        return text
    if text.isdigit() and int(text) < len(names):
        return names[int(text)]
    raise ValueError(f"{text!r} is none of {', '.join(names)}")


def _pick(obj: dict[str, Any], short: str, long: str, default: Any = None) -> Any:
    value = obj.get(short)
    return obj.get(long, default) if value is None else value


# -- the bit set ---------------------------------------------------------------------------


def bitset_to_bytes(bits: Iterable[int]) -> bytes:
    """``BitSet.toByteArray()`` of the set bits."""
    out = bytearray()
    for bit in bits:
        if bit < 0:
            raise ValueError(f"negative bit index {bit}")
        index = bit // 8
        if index >= len(out):
            out.extend(bytes(index + 1 - len(out)))
        out[index] |= 1 << (bit % 8)
    return bytes(out)


def bitset_from_bytes(data: bytes) -> tuple[int, ...]:
    """The set bits of ``BitSet.valueOf(bytes)``, ascending."""
    return tuple(i * 8 + j for i, byte in enumerate(data) for j in range(8) if byte >> j & 1)


def _bitset_json(value: Any) -> bytes:
    """fastjson's ``byte[]``: a base64 string (or an array of signed byte values)."""
    if value is None:
        return b""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"bit set is not base64: {value!r}") from exc
    if isinstance(value, list):
        return bytes(int(v) & 0xFF for v in value)
    raise ValueError(f"bit set is neither base64 nor a byte array: {value!r}")


# -- BATCH_ACK_MESSAGE ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchAck:
    """``BatchAck``: messages of the checkpoint (``start_offset``, ``pop_time``) of queue
    ``queue_id`` of ``topic`` (``retry`` = the handle's topic type: "0" normal, "1"/"2" the
    group's pop retry topic) acked, one bit each (``bits``: offsets - ``start_offset``)."""

    consumer_group: str
    topic: str
    retry: str
    start_offset: int
    queue_id: int
    revive_queue_id: int
    pop_time: int
    invisible_time: int
    bits: tuple[int, ...] = ()

    def offsets(self) -> list[int]:
        """The acked queue offsets."""
        return [self.start_offset + b for b in self.bits]

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape (short names, base64 bit set)."""
        return {
            "b": base64.b64encode(bitset_to_bytes(self.bits)).decode(),
            "c": self.consumer_group,
            "it": self.invisible_time,
            "pt": self.pop_time,
            "q": self.queue_id,
            "r": self.retry,
            "rq": self.revive_queue_id,
            "so": self.start_offset,
            "t": self.topic,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> BatchAck:
        """Read short or long names (``alternateNames``)."""
        return cls(
            consumer_group=str(_pick(obj, "c", "consumerGroup", "")),
            topic=str(_pick(obj, "t", "topic", "")),
            retry=str(_pick(obj, "r", "retry", "0")),
            start_offset=int(_pick(obj, "so", "startOffset", 0)),
            queue_id=int(_pick(obj, "q", "queueId", 0)),
            revive_queue_id=int(_pick(obj, "rq", "reviveQueueId", 0)),
            pop_time=int(_pick(obj, "pt", "popTime", 0)),
            invisible_time=int(_pick(obj, "it", "invisibleTime", 0)),
            bits=bitset_from_bytes(_bitset_json(_pick(obj, "b", "bitSet"))),
        )


@dataclass(frozen=True, slots=True)
class BatchAckMessageRequestBody:
    """``BatchAckMessageRequestBody``: the acks of one client for one broker."""

    broker_name: str | None = None
    acks: list[BatchAck] = field(default_factory=list)

    def encode(self) -> bytes:
        """The body bytes."""
        obj: dict[str, Any] = {"acks": [a.to_obj() for a in self.acks]}
        if self.broker_name is not None:
            obj["brokerName"] = self.broker_name
        return fastjson.dumps(obj)

    @classmethod
    def decode(cls, data: bytes | None) -> BatchAckMessageRequestBody:
        """Parse; ``ProtocolError`` when malformed."""
        obj = decode_object(data, "BatchAckMessageRequestBody")
        try:
            name = obj.get("brokerName")
            acks = [BatchAck.from_obj(a) for a in obj.get("acks") or []]
        except (TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"bad BatchAckMessageRequestBody: {exc}") from exc
        return cls(None if name is None else str(name), acks)


# -- QUERY_ASSIGNMENT / SET_MESSAGE_REQUEST_MODE -------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryAssignmentRequestBody:
    """``QueryAssignmentRequestBody``: which queues of ``topic`` should ``client_id`` of
    ``consumer_group`` read, allocated by ``strategy_name`` (``AVG``, ``AVG_BY_CIRCLE``)."""

    topic: str
    consumer_group: str
    client_id: str
    strategy_name: str = "AVG"
    message_model: str = CLUSTERING

    def encode(self) -> bytes:
        """The body bytes."""
        return fastjson.dumps(
            {
                "clientId": self.client_id,
                "consumerGroup": self.consumer_group,
                "messageModel": self.message_model,
                "strategyName": self.strategy_name,
                "topic": self.topic,
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> QueryAssignmentRequestBody:
        """Parse; ``ProtocolError`` when malformed."""
        obj = decode_object(data, "QueryAssignmentRequestBody")
        try:
            return cls(
                topic=str(obj["topic"]),
                consumer_group=str(obj["consumerGroup"]),
                client_id=str(obj.get("clientId") or ""),
                strategy_name=str(obj.get("strategyName") or ""),
                message_model=_enum(obj.get("messageModel"), MESSAGE_MODELS, CLUSTERING),
            )
        except (KeyError, ValueError) as exc:
            raise ProtocolError(f"bad QueryAssignmentRequestBody: {exc}") from exc


@dataclass(frozen=True, slots=True, order=True)
class MessageQueueAssignment:
    """``MessageQueueAssignment``: one queue (``queue_id`` -1 = every queue of the broker,
    a POP consumer's share) and how to read it (``PULL`` or ``POP``)."""

    topic: str
    broker_name: str
    queue_id: int
    mode: str = PULL
    attachments: tuple[tuple[str, str], ...] = ()

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape (``attachments`` only when set)."""
        obj: dict[str, Any] = {
            "messageQueue": {
                "brokerName": self.broker_name,
                "queueId": self.queue_id,
                "topic": self.topic,
            },
            "mode": self.mode,
        }
        if self.attachments:
            obj["attachments"] = dict(self.attachments)
        return obj

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> MessageQueueAssignment:
        """Read one assignment."""
        mq = obj.get("messageQueue") or {}
        attachments = obj.get("attachments") or {}
        return cls(
            topic=str(mq.get("topic", "")),
            broker_name=str(mq.get("brokerName", "")),
            queue_id=int(mq.get("queueId", 0)),
            mode=_enum(obj.get("mode"), REQUEST_MODES, PULL),
            attachments=tuple(sorted((str(k), str(v)) for k, v in attachments.items())),
        )


@dataclass(frozen=True, slots=True)
class QueryAssignmentResponseBody:
    """``QueryAssignmentResponseBody``; ``None`` assignments (absent from the JSON) mean
    "no valid answer, keep what you have", an empty list "drop every queue"."""

    message_queue_assignments: list[MessageQueueAssignment] | None = None

    def encode(self) -> bytes:
        """The body bytes (fastjson omits a null set)."""
        if self.message_queue_assignments is None:
            return b"{}"
        items = [a.to_obj() for a in self.message_queue_assignments]
        return fastjson.dumps({"messageQueueAssignments": items})

    @classmethod
    def decode(cls, data: bytes | None) -> QueryAssignmentResponseBody:
        """Parse; ``ProtocolError`` when malformed."""
        obj = decode_object(data, "QueryAssignmentResponseBody")
        items = obj.get("messageQueueAssignments")
        if items is None:
            return cls(None)
        try:
            return cls([MessageQueueAssignment.from_obj(a) for a in items])
        except (TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"bad QueryAssignmentResponseBody: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SetMessageRequestModeRequestBody:
    """``SetMessageRequestModeRequestBody``: ``consumer_group`` reads ``topic`` in ``mode``;
    in POP mode each consumer also reads the queues of the ``pop_share_queue_num``
    consumers after it (<= 0: every consumer reads every queue)."""

    topic: str
    consumer_group: str
    mode: str = PULL
    pop_share_queue_num: int = 0

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape."""
        return {
            "consumerGroup": self.consumer_group,
            "mode": self.mode,
            "popShareQueueNum": self.pop_share_queue_num,
            "topic": self.topic,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> SetMessageRequestModeRequestBody:
        """Read one (``ValueError``/``KeyError`` when it is not one)."""
        return cls(
            topic=str(obj["topic"]),
            consumer_group=str(obj["consumerGroup"]),
            mode=_enum(obj.get("mode"), REQUEST_MODES, PULL),
            pop_share_queue_num=int(obj.get("popShareQueueNum") or 0),
        )

    def encode(self) -> bytes:
        """The body bytes."""
        return fastjson.dumps(self.to_obj())

    @classmethod
    def decode(cls, data: bytes | None) -> SetMessageRequestModeRequestBody:
        """Parse; ``ProtocolError`` when malformed."""
        obj = decode_object(data, "SetMessageRequestModeRequestBody")
        try:
            return cls.from_obj(obj)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProtocolError(f"bad SetMessageRequestModeRequestBody: {exc}") from exc


@dataclass(slots=True)
class MessageRequestModeSerializeWrapper:
    """``MessageRequestModeSerializeWrapper`` (and the ``messageRequestMode.json`` file):
    topic -> group -> its request mode."""

    message_request_mode_map: dict[str, dict[str, SetMessageRequestModeRequestBody]] = field(
        default_factory=dict
    )

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape."""
        table = {
            topic: {group: mode.to_obj() for group, mode in groups.items()}
            for topic, groups in self.message_request_mode_map.items()
        }
        return {"messageRequestModeMap": table}

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> MessageRequestModeSerializeWrapper:
        """Read the table (``ValueError``/``KeyError`` when malformed)."""
        table = obj.get("messageRequestModeMap") or {}
        return cls(
            {
                str(topic): {
                    str(group): SetMessageRequestModeRequestBody.from_obj(mode)
                    for group, mode in (groups or {}).items()
                }
                for topic, groups in table.items()
            }
        )
